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
  readonly #lost = new Set<() => void>();
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

  /** Called when this replica became leader (it starts the duties over: a full pass). */
  onGained(fn: () => Promise<void> | void): void {
    this.#gained.add(fn);
  }

  /** Called when this replica stopped being leader. */
  onLost(fn: () => void): void {
    this.#lost.add(fn);
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
    if (this.#stopped) return;
    if (held) this.#until = began + this.#times.ttlMs - this.#times.marginMs;
    const now = this.leading;
    if (now && !was) await this.#gain();
    else if (!now && was) this.#lose();
  }

  async #gain(): Promise<void> {
    this.#log.info({ replica: this.id }, 'this hub leads: it runs the workset, placement, TTL and pruning duties');
    for (const fn of this.#gained) {
      try {
        await fn();
      } catch (err) {
        this.#log.warn({ err }, 'starting a duty failed; it runs again with its next trigger');
      }
    }
  }

  #lose(): void {
    this.#log.warn({ replica: this.id }, 'this hub no longer leads: another replica runs the duties');
    for (const fn of this.#lost) fn();
  }
}
