// Wakes long-polls when their cluster's desired state changes. In memory: a hub restart
// drops every waiter, and agents simply poll again.
//
// Waiters are woken a slice per turn of the event loop. A woken poll computes and writes its
// answer in the turn it is woken, so one change to every cluster, woken at once, held the
// loop for seconds at 10,000 agents: no TLS handshake, status upload or admin call in
// between, and agents' new connections timed out meanwhile.

/** A held poll: woken by a notify that came after it began to wait (`id` orders them). */
interface Waiter {
  id: number;
  wake: () => void;
}

/** Clusters whose waiters are woken per turn of the event loop (a few milliseconds of answers). */
const wakePerTurn = 64;

export class DesiredNotifier {
  readonly #waiters = new Map<string, Set<Waiter>>();
  /** Clusters notified whose waiters are not woken yet, in order, with the newest waiter
   *  a notify is for: a poll that began to wait after it read the change already. */
  readonly #due = new Map<string, number>();
  #lastId = 0;
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
      const waiter: Waiter = { id: ++this.#lastId, wake: () => done(true) };
      const onAbort = () => done(false);
      const timer = setTimeout(() => done(false), ms);
      signal?.addEventListener('abort', onAbort, { once: true });
      set.add(waiter);
    });
  }

  /** Wakes the polls `cluster` holds now, in a later turn of the event loop (at most
   *  wakePerTurn clusters a turn). A cluster with no poll waiting has nothing to wake: its
   *  next poll finds the change. */
  notify(cluster: string): void {
    if (this.#closed || !this.#waiters.has(cluster)) return;
    // Map order is first insertion: a cluster notified again keeps its place in line.
    this.#due.set(cluster, this.#lastId);
    this.#waking ??= setImmediate(() => this.#wake());
  }

  #wake(): void {
    this.#waking = undefined;
    let woken = 0;
    for (const [cluster, upTo] of this.#due) {
      if (woken === wakePerTurn) break;
      this.#due.delete(cluster);
      for (const w of [...(this.#waiters.get(cluster) ?? [])]) if (w.id <= upTo) w.wake();
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
    for (const set of this.#waiters.values()) for (const w of [...set]) w.wake();
  }
}
