// deleteOption.ttlSecondsAfterFinished as OCM's hub garbage collector honours it: a work
// whose status shows the condition Complete True (from its conditionRules) is deleted,
// under its own delete policy, that many seconds after it became Complete (0: at once).
// Works of a workset are left to the workset, as OCM leaves those of a
// ManifestWorkReplicaSet to its controller.
//
// When a work became Complete is stored with its status (`completedAt`, the agent's
// observation time of the first report that showed it), so a hub restart keeps the clock.
import type { Condition } from '@outpost/shared';
import type { Store, WorkRow } from '../store/index.ts';

/** The workset label (worksets/): its works are the workset's to delete. */
const workSetLabel = 'outpost.dev/workset';

/** Longest single timer; a later deadline is re-armed (setTimeout holds 2^31-1 ms at most). */
const maxTimerMs = 2 ** 31 - 1;

const completeOf = (status: unknown) =>
  ((status as { conditions?: Condition[] } | null | undefined)?.conditions ?? []).find((c) => c.type === 'Complete');

/**
 * The `completedAt` to store with a new status: kept from the stored status while the work
 * stays Complete, the new report's observation time when it just became Complete.
 */
export function completedAt(stored: unknown, next: unknown, observedAt: string): string | undefined {
  if (completeOf(next)?.status !== 'True') return undefined;
  const before = stored as { completedAt?: string } | null | undefined;
  return completeOf(stored)?.status === 'True' && before?.completedAt ? before.completedAt : observedAt;
}

/** When the work is due for deletion (ms since the epoch), or undefined when never. */
export function deletionDue(w: Pick<WorkRow, 'spec' | 'statusSummary' | 'labels' | 'deletionAt'>): number | undefined {
  const ttl = (w.spec as { deleteOption?: { ttlSecondsAfterFinished?: unknown } }).deleteOption
    ?.ttlSecondsAfterFinished;
  if (typeof ttl !== 'number' || w.deletionAt || w.labels[workSetLabel] !== undefined) return undefined;
  const at = w.statusSummary?.completedAt;
  if (completeOf(w.statusSummary)?.status !== 'True' || !at) return undefined;
  return Date.parse(at) + ttl * 1_000;
}

export interface WorkTtlDeps {
  store: Pick<Store, 'transaction' | 'works'>;
  log: { info(obj: object, msg?: string): void; error(obj: object, msg?: string): void };
  /** Wakes the cluster's agent (its long-poll) after a deletion. */
  notify: (cluster: string) => void;
  now?: () => number;
  /** Whether this hub deletes now (replicas: only the leader does; start() looks again). */
  active?: () => boolean;
}

export class WorkTtlController {
  readonly #d: WorkTtlDeps;
  readonly #now: () => number;
  readonly #timers = new Map<string, NodeJS.Timeout>();

  constructor(deps: WorkTtlDeps) {
    this.#d = deps;
    this.#now = deps.now ?? Date.now;
  }

  /** Arms a timer for every work that is Complete with a TTL (after a hub start). */
  async start(): Promise<void> {
    let after = { cluster: '', name: '' };
    for (;;) {
      const page = await this.#d.store.works.page(undefined, after, 500);
      for (const w of page.items) this.#consider(w);
      const last = page.items.at(-1);
      if (!page.continue || !last) return;
      after = { cluster: last.cluster, name: last.name };
    }
  }

  stop(): void {
    for (const t of this.#timers.values()) clearTimeout(t);
    this.#timers.clear();
  }

  /** Status of these works was stored (the sync service's hook). Never rejects: a work it
   *  could not read is looked at again with its next status. */
  async workStatusChanged(cluster: string, works: readonly Pick<WorkRow, 'name'>[]): Promise<void> {
    try {
      for (const { name } of works) {
        const w = await this.#d.store.works.get(cluster, name);
        if (w) this.#consider(w);
      }
    } catch (err) {
      this.#d.log.error({ err, cluster }, 'reading works for their ttlSecondsAfterFinished failed');
    }
  }

  #consider(w: WorkRow): void {
    const due = deletionDue(w);
    const key = w.uid;
    const armed = this.#timers.get(key);
    if (armed) clearTimeout(armed);
    this.#timers.delete(key);
    if (due === undefined) return;
    const wait = due - this.#now();
    if (wait <= 0) {
      void this.#delete(w);
      return;
    }
    const timer = setTimeout(
      () => {
        this.#timers.delete(key);
        this.#d.store.works.get(w.cluster, w.name).then(
          (now) => {
            if (now && now.uid === w.uid) this.#consider(now);
          },
          (err: unknown) =>
            this.#d.log.error({ err, cluster: w.cluster, work: w.name }, 'reading a finished work failed'),
        );
      },
      Math.min(wait, maxTimerMs),
    );
    timer.unref();
    this.#timers.set(key, timer);
  }

  async #delete(w: WorkRow): Promise<void> {
    if (!(this.#d.active?.() ?? true)) return;
    try {
      // Decided on a row read earlier: the work as it is now must still be due (an edit that
      // dropped its TTL, a report that left Complete, may have come in between).
      const done = await this.#d.store.transaction(async () => {
        const now = await this.#d.store.works.getByUid(w.uid);
        const due = now && deletionDue(now);
        if (due === undefined || due > this.#now()) return false;
        return this.#d.store.works.markDeleted(w.uid, w.cluster, new Date(this.#now()).toISOString());
      });
      if (!done) return;
      this.#d.log.info({ cluster: w.cluster, work: w.name }, 'work deleted: ttlSecondsAfterFinished after Complete');
      this.#d.notify(w.cluster);
    } catch (err) {
      this.#d.log.error({ err, cluster: w.cluster, work: w.name }, 'deleting a finished work failed');
    }
  }
}
