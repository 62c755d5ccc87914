// audit/: how admin calls reach the audit log, and how the log is kept bounded.
//
// Every call that changes something is logged, whatever its result. Unauthenticated calls
// are anybody's to make, so they could fill the disk: they are logged one row each up to
// limits.auditAnonymousPerMinute per minute, and the rest of the minute as one summary row
// (count and the busiest sources). Retention: rows older than --audit-max-age or beyond the
// newest --audit-max-rows are deleted at start and then periodically, in small batches
// that leave the event loop free between them.
import { setImmediate as yieldLoop } from 'node:timers/promises';
import { durations, limits } from '@outpost/shared';
import type { Logger } from 'pino';
import type { AuditEvent, Store } from '../store/index.ts';

export interface AuditRetention {
  maxAgeMs: number;
  maxRows: number;
}

/** Rows deleted per statement while pruning. */
const pruneBatch = 5_000;
/** Sources named in a summary row. */
const summarySources = 10;

export class AuditLog {
  readonly #store: Store;
  readonly #retention: AuditRetention;
  readonly #log: Logger | undefined;
  readonly #now: () => number;
  #windowStart = 0;
  #written = 0;
  #suppressed = new Map<string, number>();
  #flushTimer: NodeJS.Timeout | undefined;
  #pruneTimer: NodeJS.Timeout | undefined;
  #pruning: Promise<number> | undefined;
  #closed = false;

  constructor(store: Store, retention: AuditRetention, log?: Logger, now: () => number = Date.now) {
    this.#store = store;
    this.#retention = retention;
    this.#log = log;
    this.#now = now;
  }

  /**
   * Appends `event`; an unauthenticated one may be folded into the minute's summary. The
   * counting is done before the first await, so concurrent calls count each other.
   */
  async append(event: Omit<AuditEvent, 'id'>, anonymous: boolean): Promise<void> {
    if (!anonymous) {
      await this.#store.audit.append(event);
      return;
    }
    const now = this.#now();
    let summary: Promise<void> | undefined;
    if (now - this.#windowStart >= 60_000) {
      summary = this.#flush();
      this.#windowStart = now;
    }
    if (this.#written < limits.auditAnonymousPerMinute) {
      this.#written++;
      await summary;
      await this.#store.audit.append(event);
      return;
    }
    const source = String((event.details as { source?: unknown } | undefined)?.source ?? 'unknown');
    this.#suppressed.set(source, (this.#suppressed.get(source) ?? 0) + 1);
    // Written when the minute ends even if no further call comes.
    this.#flushTimer ??= setTimeout(() => void this.#flush(), this.#windowStart + 60_000 - now).unref();
    await summary;
  }

  /** The summary row is written from a timer: a failure is logged, never thrown there. */
  async #append(event: Omit<AuditEvent, 'id'>): Promise<void> {
    try {
      await this.#store.audit.append(event);
    } catch (err) {
      this.#log?.error({ err }, 'audit summary row not written');
    }
  }

  /** Ends the minute: its counters are reset at once, its summary row written (never rejects). */
  #flush(): Promise<void> {
    if (this.#flushTimer) clearTimeout(this.#flushTimer);
    this.#flushTimer = undefined;
    this.#written = 0;
    if (this.#suppressed.size === 0) return Promise.resolve();
    const total = [...this.#suppressed.values()].reduce((a, b) => a + b, 0);
    const sources = Object.fromEntries(
      [...this.#suppressed.entries()].sort((a, b) => b[1] - a[1]).slice(0, summarySources),
    );
    this.#suppressed = new Map();
    return this.#append({
      at: new Date(this.#now()).toISOString(),
      actor: 'anonymous',
      action: 'UNAUTHENTICATED (summary)',
      resource: '',
      result: `${total} more unauthenticated calls in this minute`,
      details: { since: new Date(this.#windowStart).toISOString(), count: total, sources },
    });
  }

  /** Deletes what the retention says must go; resolves with the number of rows deleted. */
  prune(): Promise<number> {
    this.#pruning ??= (async () => {
      let total = 0;
      const before = new Date(this.#now() - this.#retention.maxAgeMs).toISOString();
      for (;;) {
        const n = await this.#store.audit.prune(before, this.#retention.maxRows, pruneBatch);
        total += n;
        if (n < pruneBatch || this.#closed) break;
        await yieldLoop();
      }
      if (total) this.#log?.info({ rows: total }, 'audit log pruned');
      return total;
    })().finally(() => {
      this.#pruning = undefined;
    });
    return this.#pruning;
  }

  /** Prunes now and then every durations.auditPruneMs, while `active` (replicas: the leader). */
  start(active: () => boolean = () => true): void {
    const run = () =>
      active()
        ? this.prune().catch((err: unknown) => this.#log?.error({ err }, 'audit log pruning failed'))
        : undefined;
    void run();
    this.#pruneTimer = setInterval(run, durations.auditPruneMs).unref();
  }

  /** Stops pruning and writes the last summary row: resolves once nothing more will be
   *  written, so that the store can be closed after it. */
  async close(): Promise<void> {
    this.#closed = true;
    if (this.#pruneTimer) clearInterval(this.#pruneTimer);
    await this.#flush();
    // A prune under way stops after its current batch.
    await this.#pruning?.catch(() => undefined);
  }
}
