// Wakes long-polls when their cluster's desired state changes. In memory: a hub restart
// drops every waiter, and agents simply poll again. Hubs sharing a PostgreSQL database tell
// each other through the store (Store.wake, SyncService.listen).

/** What a wait ended with: notified (true), the hold ended, an abort or the shutdown (false),
 *  or every poll asked to look again (`recheck`: a wake-up from another hub may be lost). */
export type WaitEnd = boolean | 'recheck';
type Waiter = (end: WaitEnd) => void;

/** Where a cluster's notifications stood when a poll read its state (seen). */
export interface Mark {
  readonly cluster: number;
  readonly all: number;
}

export class DesiredNotifier {
  readonly #waiters = new Map<string, Set<Waiter>>();
  /** Notifications per cluster since the start, and of every poll (notifyAll): a poll that
   *  read its state before one of them does not wait (see wait). */
  readonly #seq = new Map<string, number>();
  #all = 0;
  #closed = false;
  #waitingAtClose = 0;

  /** The hub is stopping: every waiter was released. */
  get closed(): boolean {
    return this.#closed;
  }

  /** How many waited when the hub began to stop. */
  get waitingAtClose(): number {
    return this.#waitingAtClose;
  }

  get waiting(): number {
    let n = 0;
    for (const set of this.#waiters.values()) n += set.size;
    return n;
  }

  /** Taken before a poll reads its cluster's state, and given to wait. */
  mark(cluster: string): Mark {
    return { cluster: this.#seq.get(cluster) ?? 0, all: this.#all };
  }

  /**
   * Resolves true when notified, false on timeout, abort or shutdown, 'recheck' on notifyAll.
   * With `since` (a mark taken before the caller read the state it waits to change), a
   * notification that came after the mark ends the wait at once: the caller may have read
   * the state before the change it tells of.
   */
  wait(cluster: string, ms: number, signal?: AbortSignal, since?: Mark): Promise<WaitEnd> {
    if (this.#closed || signal?.aborted) return Promise.resolve(false);
    if (since && (this.#seq.get(cluster) ?? 0) !== since.cluster) return Promise.resolve(true);
    if (since && this.#all !== since.all) return Promise.resolve('recheck');
    return new Promise((resolve) => {
      let set = this.#waiters.get(cluster);
      if (!set) {
        set = new Set();
        this.#waiters.set(cluster, set);
      }
      const done = (end: WaitEnd) => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        set.delete(waiter);
        if (set.size === 0) this.#waiters.delete(cluster);
        resolve(end);
      };
      const waiter = done;
      const onAbort = () => done(false);
      const timer = setTimeout(() => done(false), ms);
      signal?.addEventListener('abort', onAbort, { once: true });
      set.add(waiter);
    });
  }

  notify(cluster: string): void {
    this.#seq.set(cluster, (this.#seq.get(cluster) ?? 0) + 1);
    for (const w of [...(this.#waiters.get(cluster) ?? [])]) w(true);
  }

  /** Wakes every waiting poll to look at its cluster's state again (a wake-up from another
   *  hub may have been lost): one that finds nothing new waits on. */
  notifyAll(): void {
    this.#all++;
    for (const set of [...this.#waiters.values()]) for (const w of [...set]) w('recheck');
  }

  /** Releases every waiter (shutdown), so closing the server does not wait for long-polls. */
  close(): void {
    if (!this.#closed) this.#waitingAtClose = this.waiting;
    this.#closed = true;
    for (const set of this.#waiters.values()) for (const w of [...set]) w(false);
  }
}
