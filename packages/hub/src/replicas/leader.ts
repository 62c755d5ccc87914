// Which hub replica does the duties one hub at a time may do: the workset controller, the
// placement scheduler, TTL deletion, audit pruning and the text sweeper. Hubs sharing a
// PostgreSQL database hold a lease in it by turns (hub_leases, the database's clock): the
// holder renews it every renewMs; when it stops renewing (killed, cut off from the
// database), another takes it once it lapsed, within ttlMs + renewMs. A hub that stops
// gives it up at once. A hub on SQLite is alone on its database and always leads.
//
// A holder counts itself leader only until ttlMs - marginMs after the start of its last
// renewal that succeeded: before the lease can lapse in the database, so two replicas never
// both count themselves leader (unless a process is paused longer than the margin, when a
// pass it began before may still commit; the duties' writes are transactions that check what
// they change, so such a late pass repeats no effect).
import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import type { Store } from '../store/index.ts';

export interface LeaseTimes {
  ttlMs: number;
  renewMs: number;
  marginMs: number;
}

export const leaseTimes: LeaseTimes = { ttlMs: 10_000, renewMs: 2_000, marginMs: 3_000 };

/** The lease of the singleton duties. */
const leaseName = 'duties';

export class Leadership {
  /** This replica's name in hub_leases. */
  readonly id: string;
  readonly #store: Pick<Store, 'leases' | 'shared'> | undefined;
  readonly #log: Pick<Logger, 'info' | 'warn'>;
  readonly #times: LeaseTimes;
  readonly #gained = new Set<() => Promise<void> | void>();
  /** Until when (performance.now()) this replica counts itself leader. */
  #until = Number.NEGATIVE_INFINITY;
  #always = false;
  #timer: NodeJS.Timeout | undefined;
  #stopped = false;
  #tick: Promise<void> | undefined;

  constructor(
    store: Pick<Store, 'leases' | 'shared'>,
    log: Pick<Logger, 'info' | 'warn'>,
    opts: { id?: string; times?: LeaseTimes } = {},
  ) {
    this.id = opts.id ?? randomUUID();
    this.#log = log;
    this.#times = opts.times ?? leaseTimes;
    if (store.shared) this.#store = store;
    else this.#always = true;
  }

  /** Whether this replica does the singleton duties now. */
  get leading(): boolean {
    return this.#always || performance.now() < this.#until;
  }

  /**
   * Called when this replica became leader (it starts the duties over: a full pass). Runs
   * beside the renewals, which go on meanwhile; one that fails runs again (1 s, doubling to
   * 30 s apart) for as long as this replica leads. Callbacks run in the order given.
   */
  onGained(fn: () => Promise<void> | void): void {
    this.#gained.add(fn);
  }

  /** Begins: a hub alone on its database leads at once; replicas contend now and then every
   *  renewMs. Resolves after the first attempt (and the duties' start when it led). */
  async start(): Promise<void> {
    if (this.#always) {
      await this.#gain();
      return;
    }
    await this.#attempt();
    this.#arm();
  }

  /** Which term of leadership this is (a new one each time this replica becomes leader). */
  #term = 0;

  /** Tries at once (another hub gave the lease up). */
  poke(): void {
    if (!this.#always && !this.#stopped && !this.leading) void this.#attempt();
  }

  /** Stops contending, and gives the lease up when held so another replica takes it now. */
  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    await this.#tick;
    const held = this.leading;
    this.#until = Number.NEGATIVE_INFINITY;
    if (held && this.#store) {
      await this.#store.leases.release(leaseName, this.id).catch((err: unknown) => {
        this.#log.warn({ err }, 'giving up the duties lease failed; another hub takes it when it lapses');
      });
    }
  }

  #arm(): void {
    if (this.#stopped) return;
    this.#timer = setTimeout(() => {
      void this.#attempt().finally(() => this.#arm());
    }, this.#times.renewMs);
    this.#timer.unref();
  }

  #attempt(): Promise<void> {
    this.#tick ??= this.#claim().finally(() => {
      this.#tick = undefined;
    });
    return this.#tick;
  }

  async #claim(): Promise<void> {
    const store = this.#store;
    if (!store || this.#stopped) return;
    const was = this.leading;
    const began = performance.now();
    let held = false;
    try {
      held = await store.leases.claim(leaseName, this.id, this.#times.ttlMs);
    } catch (err) {
      if (was) this.#log.warn({ err }, 'renewing the duties lease failed; still leader until it would lapse');
    }
    // Set before the stop check: a stop under way then sees the lease held and gives it up.
    if (held) this.#until = began + this.#times.ttlMs - this.#times.marginMs;
    if (this.#stopped) return;
    const now = this.leading;
    // The duties start beside the renewals: a full pass may take longer than the lease.
    if (now && !was) void this.#gain();
    else if (!now && was) this.#lose();
  }

  /** Runs the gained callbacks in order; from the first that fails on, they run again in
   *  the background while this term lasts. Resolves when they ran or the first failed. */
  async #gain(): Promise<void> {
    const term = ++this.#term;
    this.#log.info({ replica: this.id }, 'this hub leads: it runs the workset, placement, TTL and pruning duties');
    const fns = [...this.#gained];
    for (let i = 0; i < fns.length; i++) {
      try {
        await (fns[i] as () => Promise<void> | void)();
      } catch (err) {
        void this.#retry(term, fns.slice(i), err);
        return;
      }
    }
  }

  async #retry(term: number, fns: (() => Promise<void> | void)[], first: unknown): Promise<void> {
    let err = first;
    let delay = 1_000;
    for (const fn of fns) {
      for (;;) {
        if (err !== undefined) {
          this.#log.warn({ err, retryInMs: delay }, 'starting a duty failed; it runs again while this hub leads');
          await new Promise((r) => setTimeout(r, delay).unref());
          delay = Math.min(delay * 2, 30_000);
          if (this.#stopped || term !== this.#term || !this.leading) return;
        }
        try {
          await fn();
          err = undefined;
          break;
        } catch (e) {
          err = e;
        }
      }
    }
  }

  #lose(): void {
    this.#term++;
    this.#log.warn({ replica: this.id }, 'this hub no longer leads: another replica runs the duties');
  }
}
