// When each cluster was last heard from. Polls are frequent, so the time is kept in memory
// and written to the store in one transaction every few seconds instead of once per poll.
// Also, in memory only, when a cluster's waiting poll lost its connection and the agent has
// not polled since (the liveness then ends after a short grace: SyncService.liveness).
// Hubs sharing a database hear of each other's sightings and drops (store cluster changes
// `seen`, `dropped`): a drop on one replica, and the agent's next poll on another, count
// alike everywhere.
import type { Store } from '../store/index.ts';

export class Presence {
  readonly #store: Store;
  readonly #pending = new Map<string, string>();
  readonly #timer: NodeJS.Timeout;

  readonly #unsubscribe: () => void;

  constructor(store: Store, flushMs = 5_000) {
    this.#store = store;
    this.#timer = setInterval(() => void this.flush(), flushMs);
    this.#timer.unref();
    this.#unsubscribe = store.clusters.onChange((cluster, kind, at) => {
      if (!at) return;
      const dropped = this.#dropped.get(cluster);
      // A sighting (this hub's, flushed, or another's) after the drop ends it; a drop heard
      // from another hub counts unless this hub has seen the agent since.
      if (kind === 'seen' && dropped !== undefined && at >= dropped) this.#dropped.delete(cluster);
      const pending = this.#pending.get(cluster);
      if (kind === 'dropped' && !(pending !== undefined && pending > at)) this.#dropped.set(cluster, at);
    });
  }

  readonly #listeners = new Set<(cluster: string) => void>();
  readonly #dropped = new Map<string, string>();

  seen(cluster: string, at: Date): void {
    this.#pending.set(cluster, at.toISOString());
    this.#dropped.delete(cluster);
    for (const l of this.#listeners) l(cluster);
  }

  /** The connection of `cluster`'s waiting poll closed before it was answered: the store's
   *  cluster listeners (here and on the other hubs) are told. */
  dropped(cluster: string, at: Date): void {
    const iso = at.toISOString();
    this.#dropped.set(cluster, iso);
    this.#store.clusters.dropped(cluster, iso).catch(() => {
      // Only the other hubs miss it: their missed-poll lease still ends the cluster's.
    });
  }

  /** When `cluster`'s waiting poll lost its connection, if it has not polled since. */
  droppedAt(cluster: string): string | null {
    return this.#dropped.get(cluster) ?? null;
  }

  /** Called on every poll of every cluster: a listener must be cheap (a set lookup). */
  onSeen(listener: (cluster: string) => void): void {
    this.#listeners.add(listener);
  }

  /** The newest of the stored time and a not yet flushed one. */
  lastSeen(cluster: string, stored: string | null): string | null {
    const pending = this.#pending.get(cluster);
    if (!pending) return stored;
    if (!stored) return pending;
    return pending > stored ? pending : stored;
  }

  #flushing: Promise<void> | undefined;

  /** Writes the times not written yet, in one transaction (one flush at a time). A time stays
   *  pending until it is committed, so lastSeen never goes back meanwhile; a failed write
   *  leaves it for the next flush. */
  flush(): Promise<void> {
    this.#flushing ??= this.#write().finally(() => {
      this.#flushing = undefined;
    });
    return this.#flushing;
  }

  async #write(): Promise<void> {
    if (this.#pending.size === 0) return;
    const batch = [...this.#pending];
    try {
      await this.#store.transaction(() => this.#store.clusters.seenMany(batch));
    } catch {
      return;
    }
    // Seen again meanwhile: that newer time is still to be written.
    for (const [cluster, at] of batch) if (this.#pending.get(cluster) === at) this.#pending.delete(cluster);
  }

  async close(): Promise<void> {
    clearInterval(this.#timer);
    this.#unsubscribe();
    await this.flush();
    // A flush that was under way when close began wrote only what it had taken.
    await this.flush();
  }
}
