// Manifest texts and the parts of large statuses, stored once per hash apart from the work
// rows (store/works.ts). A large work's texts are written ahead of the transaction that
// links them, a megabyte per transaction with the event loop free in between, so no
// single transaction (and no turn of the event loop) writes 16 MiB. Texts that no row
// names any more, or that were written for a write that then failed, are removed by the
// sweeper a grace period after that; a text removed under a write in flight is stored
// again by that write's own transaction (works.write and works.setStatus store what is
// missing).
import { setImmediate as nextTurn } from 'node:timers/promises';
import { type Store, type StoredText, utf8Bytes } from '../store/index.ts';
import type { TextRef } from './raw-json.ts';
import { emptyStatus, withHubKeys } from './resource.ts';

/** Bytes of text per transaction when writing ahead. */
const batchBytes = 1024 * 1024;
/** How long a text that lost its last row (or was never linked) is kept: a write may be on
 *  its way to linking it, or an answer still reading it. */
const sweepGraceMs = 10 * 60_000;
/** Texts removed per transaction when sweeping. */
const sweepBatch = 100;

/** Hashes looked up per turn of the event loop (about 1.5 µs each). */
const lookupsPerTurn = 5_000;

/** Stores those of `texts` not stored yet, about a megabyte per transaction. */
export async function saveTexts(store: Pick<Store, 'transaction' | 'works'>, texts: StoredText[]): Promise<void> {
  const missing = new Set<string>();
  for (let i = 0; i < texts.length; i += lookupsPerTurn) {
    if (i > 0) await nextTurn();
    for (const h of await store.works.missingTexts(texts.slice(i, i + lookupsPerTurn).map((m) => m.hash))) {
      missing.add(h);
    }
  }
  let batch: StoredText[] = [];
  let bytes = 0;
  const flush = async () => {
    const items = batch;
    batch = [];
    bytes = 0;
    const at = new Date().toISOString();
    await store.transaction(() => store.works.putTexts(items, at));
    await nextTurn();
  };
  for (const m of texts) {
    if (!missing.delete(m.hash)) continue;
    batch.push(m);
    bytes += utf8Bytes(m.content);
    if (bytes >= batchBytes) await flush();
  }
  if (batch.length) await flush();
}

/**
 * What jsonStream (raw-json.ts) reads a TextRef with: the texts, and statuses kept in rows.
 * A status is read after its work's row (answers stream it): a work purged in between (its
 * agent reported the deletion meanwhile) is shown as it is without a status, not as a failed
 * answer. Texts cannot go that way: the sweeper's grace outlasts an answer. A status is
 * shown with the hub's keys of its own report (observedAt, …), never with those of the
 * report the row held when the answer began.
 */
export const storedReader =
  (store: Pick<Store, 'works'>) =>
  async (ref: TextRef): Promise<Uint8Array | undefined> =>
    ref.source === 'status' ? await shownStatus(store, ref.hash) : store.works.text(ref.hash);

/** A status kept in a work's row as the API shows it: with the hub's keys of that report. */
async function shownStatus(store: Pick<Store, 'works'>, uid: string): Promise<Uint8Array> {
  const read = await store.works.statusRead(uid);
  return read ? withHubKeys(read.summary, read.bytes) : emptyStatus;
}

/**
 * Removes texts that lost their last row (orphan candidates older than the grace; see
 * store/works.ts), in small transactions; every `intervalMs` and at start. The grace counts
 * from when a row stopped naming the text, so an answer still being written from it (a work
 * read, an agent's sync: they read texts as they go) has that long to finish.
 */
export class TextSweeper {
  readonly #store: Pick<Store, 'transaction' | 'works'>;
  readonly #intervalMs: number;
  readonly #now: () => number;
  readonly #onError: (err: unknown) => void;
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<number> | undefined;

  constructor(
    store: Pick<Store, 'transaction' | 'works'>,
    opts: { intervalMs?: number; now?: () => number; onError?: (err: unknown) => void } = {},
  ) {
    this.#store = store;
    this.#intervalMs = opts.intervalMs ?? 10 * 60_000;
    this.#now = opts.now ?? Date.now;
    this.#onError = opts.onError ?? (() => {});
  }

  /** Sweeps now and every intervalMs while `active` (replicas: the leader). */
  start(active: () => boolean = () => true): void {
    const tick = () => {
      if (active()) void this.sweep().catch(this.#onError);
      this.#timer = setTimeout(tick, this.#intervalMs);
      this.#timer.unref();
    };
    tick();
  }

  /** One sweep; resolves with the number of texts removed. */
  sweep(): Promise<number> {
    this.#running ??= this.#sweep().finally(() => {
      this.#running = undefined;
    });
    return this.#running;
  }

  async #sweep(): Promise<number> {
    const before = new Date(this.#now() - sweepGraceMs).toISOString();
    let removed = 0;
    for (;;) {
      // Each candidate is settled (and forgotten) once, so this ends.
      const orphans = await this.#store.works.orphans(before, sweepBatch);
      if (orphans.length === 0) return removed;
      removed += await this.#store.transaction(async () => {
        let n = 0;
        for (const o of orphans) if (await this.#store.works.dropOrphan(o, before)) n++;
        return n;
      });
      await nextTurn();
    }
  }

  async stop(): Promise<void> {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    await this.#running;
  }
}
