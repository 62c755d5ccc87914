// Manifest texts, stored once per hash apart from the work rows (store/works.ts). A large
// work's texts are written ahead of the transaction that links them, a megabyte per
// transaction with the event loop free in between, so no single transaction (and no turn
// of the event loop) writes 16 MiB. Texts that no manifest names any more, or that were
// written for a write that then failed, are removed by the sweeper once they are older
// than a grace period; a text removed under a write in flight is stored again by that
// write's own transaction (works.write stores what is missing).
import { setImmediate as nextTurn } from 'node:timers/promises';
import type { ManifestRow, PreparedManifest, Store } from '../store/index.ts';

/** Bytes of text per transaction when writing ahead. */
const batchBytes = 1024 * 1024;
/** Texts younger than this are never swept: their write may still be on its way. */
const sweepGraceMs = 10 * 60_000;
/** Texts removed per transaction when sweeping. */
const sweepBatch = 100;

const sizeOf = (c: string | Uint8Array) => (typeof c === 'string' ? c.length : c.byteLength);

/** Stores the texts of `manifests` not stored yet, a batch per transaction. */
export async function saveContents(
  store: Pick<Store, 'transaction' | 'works'>,
  manifests: PreparedManifest[],
): Promise<void> {
  const missing = new Set(store.works.missingContents(manifests.map((m) => m.hash)));
  let batch: PreparedManifest[] = [];
  let bytes = 0;
  const flush = async () => {
    const items = batch;
    batch = [];
    bytes = 0;
    const at = new Date().toISOString();
    store.transaction(() => store.works.putContents(items, at));
    await nextTurn();
  };
  for (const m of manifests) {
    if (!missing.delete(m.hash)) continue;
    batch.push(m);
    bytes += sizeOf(m.content);
    if (bytes >= batchBytes) await flush();
  }
  if (batch.length) await flush();
}

/** The texts of `rows` in their order (read in one statement, so they match the rows). */
export function textsOf(store: Pick<Store, 'works'>, rows: ManifestRow[]): Buffer[] {
  const texts = store.works.contents(rows.map((r) => r.hash));
  return rows.map((r) => {
    const text = texts.get(r.hash);
    if (!text) throw new Error(`the text of manifest ${r.key} (${r.hash}) is missing from the store`);
    return text;
  });
}

/** Removes texts no manifest names, in small transactions; every `intervalMs` and at start. */
export class ContentSweeper {
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
      const hashes = this.#store.works.unusedContents(before, sweepBatch);
      if (hashes.length === 0) return removed;
      let dropped = 0;
      this.#store.transaction(() => {
        for (const h of hashes) if (this.#store.works.dropContent(h)) dropped++;
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
