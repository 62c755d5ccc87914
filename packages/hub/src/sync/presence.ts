// When each cluster was last heard from. Polls are frequent, so the time is kept in memory
// and written to the store in one transaction every few seconds instead of once per poll.
import type { Store } from '../store/index.ts';

export class Presence {
  readonly #store: Store;
  readonly #pending = new Map<string, string>();
  readonly #timer: NodeJS.Timeout;

  constructor(store: Store, flushMs = 5_000) {
    this.#store = store;
    this.#timer = setInterval(() => this.flush(), flushMs);
    this.#timer.unref();
  }

  seen(cluster: string, at: Date): void {
    this.#pending.set(cluster, at.toISOString());
  }

  /** The newest of the stored time and a not yet flushed one. */
  lastSeen(cluster: string, stored: string | null): string | null {
    const pending = this.#pending.get(cluster);
    if (!pending) return stored;
    if (!stored) return pending;
    return pending > stored ? pending : stored;
  }

  flush(): void {
    if (this.#pending.size === 0) return;
    const batch = [...this.#pending];
    this.#pending.clear();
    this.#store.transaction(() => {
      for (const [cluster, at] of batch) this.#store.clusters.seen(cluster, at);
    });
  }

  close(): void {
    clearInterval(this.#timer);
    this.flush();
  }
}
