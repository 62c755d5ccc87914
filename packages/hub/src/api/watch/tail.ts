// The one reader of the change log for every watch of this hub: while anyone watches, it
// reads the new rows every 250 ms (one query, whatever the number of watches) and keeps the
// recent ones in memory, where each watch takes its own resource's rows. A watch that starts
// further back than memory reaches reads the store until it catches up. It also counts the
// watches, refusing one past the limits (429), and ends them all when the hub stops.
import { apiError, limits } from '@outpost/shared';
import type { ChangeRow, Store, WatchedResource } from '../../store/index.ts';

/** How often the log's end is read while anyone watches. */
const tailMs = 250;
/** Rows read per query. */
const page = 1_000;
/** Rows kept in memory: a watch this far behind reads the store instead. */
const keep = 20_000;

/** Why a watch ends when the hub stops (its controller's abort reason). */
export const stopping = 'the hub is stopping';

export class ChangeTail {
  readonly #store: Store;
  /** Every row up to here has been read (-1: not yet read once). */
  #position = -1;
  /** Rows after #from up to #position, in order. */
  #rows: ChangeRow[] = [];
  #from = -1;
  readonly #waiters = new Set<() => void>();
  #timer: NodeJS.Timeout | undefined;
  #reading: Promise<void> | undefined;
  readonly #open = new Map<AbortController, string>();
  readonly #perCaller = new Map<string, number>();

  constructor(store: Store) {
    this.#store = store;
  }

  /** Where the log stood at the last read (-1 before the first). */
  get position(): number {
    return this.#position;
  }

  /**
   * A new watch of `caller` (a token's actor): its controller aborts after `timeoutMs`, or
   * when the hub stops (reason `stopping`). Refused with 429 TOO_MANY_WATCHES past
   * limits.watchesPerCaller or limits.watches.
   */
  open(caller: string, timeoutMs: number): AbortController {
    const mine = this.#perCaller.get(caller) ?? 0;
    if (mine >= limits.watchesPerCaller || this.#open.size >= limits.watches) {
      throw apiError(
        'TOO_MANY_WATCHES',
        mine >= limits.watchesPerCaller
          ? `this token holds ${mine} watches, the most one may; end one first`
          : `the hub serves ${this.#open.size} watches, the most it takes; try again later`,
        { retryAfterSeconds: 10 },
      );
    }
    const ac = new AbortController();
    this.#open.set(ac, caller);
    this.#perCaller.set(caller, mine + 1);
    const timeout = setTimeout(() => ac.abort(), timeoutMs);
    ac.signal.addEventListener(
      'abort',
      () => {
        clearTimeout(timeout);
        this.#open.delete(ac);
        const n = (this.#perCaller.get(caller) ?? 1) - 1;
        if (n > 0) this.#perCaller.set(caller, n);
        else this.#perCaller.delete(caller);
      },
      { once: true },
    );
    return ac;
  }

  /** Ends every watch: the hub is stopping. */
  close(): void {
    for (const ac of [...this.#open.keys()]) ac.abort(stopping);
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  /** Reads the log once if it never was (a watch's first look), else returns at once. */
  async ready(): Promise<void> {
    if (this.#position < 0) await this.#read();
  }

  /**
   * The rows of `resource` (in `scope`, when given) after `after` up to `position`, from
   * memory; undefined when memory no longer reaches back to `after`.
   */
  since(after: number, resource: WatchedResource, scope: string | undefined): ChangeRow[] | undefined {
    if (this.#position < 0 || after < this.#from) return undefined;
    let lo = 0;
    let hi = this.#rows.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if ((this.#rows[mid] as ChangeRow).seq <= after) lo = mid + 1;
      else hi = mid;
    }
    const out: ChangeRow[] = [];
    for (let i = lo; i < this.#rows.length; i++) {
      const r = this.#rows[i] as ChangeRow;
      if (r.resource === resource && (scope === undefined || r.scope === scope)) out.push(r);
    }
    return out;
  }

  /** Resolves when the log is past `after`, after `ms`, or on abort. */
  wait(after: number, ms: number, signal: AbortSignal): Promise<void> {
    if (signal.aborted) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        signal.removeEventListener('abort', done);
        this.#waiters.delete(check);
        if (this.#waiters.size === 0) {
          clearInterval(this.#timer);
          this.#timer = undefined;
        }
        resolve();
      };
      const check = () => {
        if (this.#position > after) done();
      };
      const timer = setTimeout(done, ms);
      signal.addEventListener('abort', done, { once: true });
      this.#waiters.add(check);
      this.#timer ??= setInterval(() => void this.#read().catch(() => {}), tailMs);
      check();
    });
  }

  /** Reads what the log gained (one read at a time), then wakes the watches it concerns. */
  #read(): Promise<void> {
    this.#reading ??= (async () => {
      try {
        if (this.#position < 0) {
          this.#position = await this.#store.changes.latest();
          this.#from = this.#position;
          return;
        }
        for (;;) {
          const rows = await this.#store.changes.all(this.#position, page);
          for (const r of rows) this.#rows.push(r);
          if (rows.length) this.#position = (rows.at(-1) as ChangeRow).seq;
          if (rows.length < page) break;
        }
        if (this.#rows.length > keep) {
          const dropped = this.#rows.splice(0, this.#rows.length - keep);
          this.#from = (dropped.at(-1) as ChangeRow).seq;
        }
      } finally {
        this.#reading = undefined;
      }
      for (const check of [...this.#waiters]) check();
    })();
    return this.#reading;
  }
}
