// Wakes long-polls when their cluster's desired state changes. In memory: a hub restart
// drops every waiter, and agents simply poll again.

type Waiter = () => void;

export class DesiredNotifier {
  readonly #waiters = new Map<string, Set<Waiter>>();
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

  /** Resolves true when notified, false on timeout, abort or shutdown. */
  wait(cluster: string, ms: number, signal?: AbortSignal): Promise<boolean> {
    if (this.#closed || signal?.aborted) return Promise.resolve(false);
    return new Promise((resolve) => {
      let set = this.#waiters.get(cluster);
      if (!set) {
        set = new Set();
        this.#waiters.set(cluster, set);
      }
      const done = (notified: boolean) => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        set.delete(waiter);
        if (set.size === 0) this.#waiters.delete(cluster);
        resolve(notified);
      };
      const waiter = () => done(true);
      const onAbort = () => done(false);
      const timer = setTimeout(() => done(false), ms);
      signal?.addEventListener('abort', onAbort, { once: true });
      set.add(waiter);
    });
  }

  notify(cluster: string): void {
    for (const w of [...(this.#waiters.get(cluster) ?? [])]) w();
  }

  /** Releases every waiter (shutdown), so closing the server does not wait for long-polls. */
  close(): void {
    if (!this.#closed) this.#waitingAtClose = this.waiting;
    this.#closed = true;
    for (const set of this.#waiters.values()) for (const w of [...set]) w();
  }
}
