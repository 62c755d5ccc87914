// Manifest texts and the parts of large statuses, stored once per hash apart from the work
// rows (store/works.ts). A large work's texts are written ahead of the transaction that
// links them, a megabyte per transaction with the event loop free in between, so no
// single transaction (and no turn of the event loop) writes 16 MiB. Texts that no manifest names any more, or that were
// written for a write that then failed, are removed by the sweeper once they are older
// than a grace period; a text removed under a write in flight is stored again by that
// write's own transaction (works.write and works.setStatus store what is missing).
import { setImmediate as nextTurn } from 'node:timers/promises';
import type { Store, StoredText } from '../store/index.ts';

/** Bytes of text per transaction when writing ahead. */
const batchBytes = 1024 * 1024;
/** Texts younger than this are never swept: their write may still be on its way. */
const sweepGraceMs = 10 * 60_000;
/** Texts removed per transaction when sweeping. */
const sweepBatch = 100;

const sizeOf = (c: string | Uint8Array) => (typeof c === 'string' ? Buffer.byteLength(c) : c.byteLength);

/** Stores those of `texts` not stored yet, about a megabyte per transaction. */
export async function saveTexts(store: Pick<Store, 'transaction' | 'works'>, texts: StoredText[]): Promise<void> {
  const missing = new Set(store.works.missingTexts(texts.map((m) => m.hash)));
  let batch: StoredText[] = [];
  let bytes = 0;
  const flush = async () => {
    const items = batch;
    batch = [];
    bytes = 0;
    const at = new Date().toISOString();
    store.transaction(() => store.works.putTexts(items, at));
    await nextTurn();
  };
  for (const m of texts) {
    if (!missing.delete(m.hash)) continue;
    batch.push(m);
    bytes += sizeOf(m.content);
    if (bytes >= batchBytes) await flush();
  }
  if (batch.length) await flush();
}

/** Removes texts no manifest names, in small transactions; every `intervalMs` and at start. */
export class TextSweeper {
  readonly #store: Pick<Store, 'transaction' | 'works'>;
  readonly #intervalMs: number;
  readonly #now: () => number;
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<number> | undefined;

  constructor(store: Pick<Store, 'transaction' | 'works'>, opts: { intervalMs?: number; now?: () => number } = {}) {
    this.#store = store;
    this.#intervalMs = opts.intervalMs ?? 10 * 60_000;
    this.#now = opts.now ?? Date.now;
  }

  start(): void {
    const tick = () => {
      void this.sweep().catch(() => undefined);
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
      const hashes = this.#store.works.unusedTexts(before, sweepBatch);
      if (hashes.length === 0) return removed;
      let dropped = 0;
      this.#store.transaction(() => {
        for (const h of hashes) if (this.#store.works.dropText(h)) dropped++;
      });
      removed += dropped;
      if (dropped === 0) return removed;
      await nextTurn();
    }
  }

  async stop(): Promise<void> {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    await this.#running;
  }
}
