// Wakes long-polls when their cluster's desired state changes. In memory: a hub restart
// drops every waiter, and agents simply poll again.
//
// Waiters are woken a slice per turn of the event loop. A woken poll computes and writes its
// answer in the turn it is woken, so one change to every cluster, woken at once, held the
// loop for seconds at 10,000 agents: no TLS handshake, status upload or admin call in
// between, and agents' new connections timed out meanwhile.

type Waiter = () => void;

/** Clusters whose waiters are woken per turn of the event loop (a few milliseconds of answers). */
const wakePerTurn = 64;

export class DesiredNotifier {
  readonly #waiters = new Map<string, Set<Waiter>>();
  /** Clusters notified whose waiters are not woken yet, in order. */
  readonly #due = new Set<string>();
  #waking: NodeJS.Immediate | undefined;
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

  /** Wakes the polls of `cluster` soon: within this turn's slice or a later turn's. A
   *  cluster with no poll waiting has nothing to wake: its next poll finds the change. */
  notify(cluster: string): void {
    if (this.#closed || !this.#waiters.has(cluster)) return;
    this.#due.add(cluster);
    this.#waking ??= setImmediate(() => this.#wake());
  }

  #wake(): void {
    this.#waking = undefined;
    let woken = 0;
    for (const cluster of this.#due) {
      if (woken === wakePerTurn) break;
      this.#due.delete(cluster);
      for (const w of [...(this.#waiters.get(cluster) ?? [])]) w();
      woken++;
    }
    if (this.#due.size > 0) this.#waking = setImmediate(() => this.#wake());
  }

  /** Releases every waiter (shutdown), so closing the server does not wait for long-polls. */
  close(): void {
    if (!this.#closed) this.#waitingAtClose = this.waiting;
    this.#closed = true;
    if (this.#waking) clearImmediate(this.#waking);
    this.#waking = undefined;
    this.#due.clear();
    for (const set of this.#waiters.values()) for (const w of [...set]) w();
  }
}
