// PlacementService: keeps every Placement's decisions current. The pure scheduler
// (placement/) decides; this service decides *when* to run it and stores what it produced.
//
// A pass reads every cluster once, builds its scheduler view from the API resource (so the
// computed `outpost.dev/unreachable` taint counts exactly as the API shows it), and compares a
// fingerprint of each view with the previous pass. Only placements a changed cluster could
// affect (it was selected before, or it passes the predicates now), placements asked for
// explicitly (create, replace) and placements whose nextEvaluationTime came are scheduled.
// Passes are triggered, never polled for:
// - a write to a cluster row (store.clusters.onChange: join, approval, denial, labels, claims,
//   removal), batched for durations.placementBatchMs;
// - a ManagedClusterSet or binding written or deleted (setsChanged: every placement);
// - an unreachable cluster being heard from again (store `seen`, or presence via clusterSeen);
// - one timer at the earliest due time: a reachable cluster's lease end (it turns
//   unreachable then) or a placement's nextEvaluationTime (a toleration runs out).
// Passes run one at a time (the store answers asynchronously, so a pass spans several turns):
// a pass asked for while one runs waits for it, and passes waiting together run as one.

import { canonicalJson, durations } from '@outpost/shared';
import type { Logger } from 'pino';
import {
  type ClusterSetSpec,
  type ClusterView,
  type CompiledClusterSet,
  type CompiledPlacement,
  compileClusterSet,
  compilePlacement,
  matchesPredicates,
  type Placement,
  type PlacementStatus,
  placementApiVersion,
  placementStatus,
  restrictClusters,
  schedulePlacement,
  selectedClusters,
  setRestriction,
  setsCondition,
  toClusterView,
} from '../placement/index.ts';
import { clusterResource, type Liveness, leaseEnd, livenessSinceStart, taintKeys } from '../registration/clusters.ts';
import { type ClusterRow, objectKey, type PlacementRow, type Store } from '../store/index.ts';
import { Pace } from './pace.ts';

/** Outpost's condition for a scheduling pass that threw; the last decisions stay. */
export const schedulingFailedCondition = 'SchedulingFailed';

export interface PlacementServiceDeps {
  store: Store;
  log: Logger;
  /** Liveness as the API shows it (in-memory presence and the lease); read on every pass. */
  liveness: () => Liveness;
  /** Epoch milliseconds; injected by tests. */
  now?: () => number;
  batchMs?: number;
  retryMs?: number;
  /** Whether this hub schedules now (replicas: only the leader does; replicas/leader.ts).
   *  A hub that does not leaves the decisions as stored; start() makes a full pass. */
  active?: () => boolean;
}

/** What admin calls ask of the scheduler (replicas/relay.ts tells the other hubs too). */
export type PlacementRequests = Pick<PlacementService, 'reconcile' | 'forget' | 'setsChanged'>;

/** Told a placement's namespace and name. */
type DecisionsListener = (namespace: string, name: string) => void;
type ReachableListener = (cluster: string) => void;

/** A pass asked for: until it starts, those asked for meanwhile join it. */
interface QueuedPass {
  every: boolean;
  inRequest: boolean;
  /** Settles when it ran; never rejects (a pass handles its errors). */
  done: Promise<void>;
}

/** A cluster a placement may select: accepted, joined, not denied, not being removed. */
export function schedulable(c: ClusterRow): boolean {
  return c.hubAcceptsClient && !c.denied && c.joinedAt !== null && c.removalRequestedAt === null;
}

/** The stored cluster sets, compiled, and the set names bound to each namespace: what
 *  setRestriction needs (few rows, read once per pass or per explanation). */
export async function clusterSetsOf(
  store: Store,
): Promise<{ sets: Map<string, CompiledClusterSet>; bindings: Map<string, Set<string>> }> {
  const sets = new Map<string, CompiledClusterSet>();
  for (const r of await store.clusterSets.all()) {
    sets.set(r.name, compileClusterSet(r.name, r.spec as unknown as ClusterSetSpec));
  }
  const bindings = new Map<string, Set<string>>();
  for (const b of await store.bindings.all()) {
    const bound = bindings.get(b.namespace) ?? new Set<string>();
    bound.add(b.name);
    bindings.set(b.namespace, bound);
  }
  return { sets, bindings };
}

/** The stored spec of a placement as the scheduler's Placement (it was validated on write). */
export function placementFromRow(row: PlacementRow): Placement {
  return {
    apiVersion: placementApiVersion,
    kind: 'Placement',
    metadata: { name: row.name, namespace: row.namespace, labels: row.labels, annotations: row.annotations },
    spec: row.spec as unknown as Placement['spec'],
  };
}

export class PlacementService {
  readonly #d: PlacementServiceDeps;
  /** The batch window, grown with the cost of a pass (pace.ts). */
  readonly #pace: Pace;
  readonly #now: () => number;
  readonly #startedAt: number;
  readonly #listeners = new Set<DecisionsListener>();
  readonly #reachableListeners = new Set<ReachableListener>();
  readonly #unsubscribe: () => void;
  /** Fingerprint of each schedulable cluster's view at the last pass. */
  #fingerprints = new Map<string, string>();
  /** Schedulable clusters that are unreachable now: hearing from one triggers a pass. */
  #unreachable = new Set<string>();
  /** Whether a pass has committed: from then on a cluster newly unreachable is a change. */
  #baseline = false;
  /** When each reachable cluster's lease lapses (epoch ms). */
  #leaseEnds = new Map<string, number>();
  /** When a placement wants to be scheduled again (nextEvaluationTime, or a retry); by objectKey. */
  readonly #due = new Map<string, number>();
  readonly #compiled = new Map<string, { key: string; compiled: CompiledPlacement }>();
  /** Placements asked for since the last pass (besides those clusters affect). */
  readonly #requested = new Set<string>();
  /** The next pass schedules every placement (sets or bindings changed). */
  #everything = false;
  #batchTimer: NodeJS.Timeout | undefined;
  #wakeTimer: NodeJS.Timeout | undefined;
  #wakeAt: number | undefined;
  #closed = false;
  /** The last pass asked for (running, waiting or done): the next one runs after it. */
  #last: QueuedPass | undefined;
  /** The pass waiting behind the running one, if any. */
  #queued: QueuedPass | undefined;

  constructor(deps: PlacementServiceDeps) {
    this.#d = deps;
    this.#pace = new Pace(deps.batchMs ?? durations.placementBatchMs);
    this.#now = deps.now ?? Date.now;
    this.#startedAt = this.#now();
    // `dropped`: the cluster's lease may end sooner; a pass re-arms the timer.
    this.#unsubscribe = deps.store.clusters.onChange((name, kind) => {
      if (kind === 'seen') this.clusterSeen(name);
      else this.#soon();
    });
  }

  /** A cluster's lease may end sooner (its waiting poll's connection dropped): a pass re-arms the timer. */
  livenessChanged(): void {
    this.#soon();
  }

  /** A ManagedClusterSet or binding was written or deleted: every placement is scheduled
   *  again, in the next batch (not in the request that wrote it). */
  setsChanged(): void {
    this.#everything = true;
    this.#soon();
  }

  /** Schedules every placement once (call at start: the clusters may have changed meanwhile);
   *  settles when that pass ran (it never rejects: a failed pass is retried by a timer). */
  start(): Promise<void> {
    return this.#pass(true);
  }

  /**
   * Subscribes to decision changes: called with the placement's namespace and name after its stored
   * decisions changed (also when it was deleted). Returns the unsubscribe function.
   */
  onDecisionsChanged(listener: DecisionsListener): () => void {
    this.#listeners.add(listener);
    return () => void this.#listeners.delete(listener);
  }

  /**
   * Subscribes to clusters that the last pass saw reachable again after the pass before saw
   * them unreachable: from then on the decisions account for the cluster being back, whether
   * or not they changed. Returns the unsubscribe function.
   */
  onReachable(listener: ReachableListener): () => void {
    this.#reachableListeners.add(listener);
    return () => void this.#reachableListeners.delete(listener);
  }

  /**
   * The clusters the last committed pass saw unreachable. While one is reachable again but
   * still in this set, the decisions about it are stale: a pass is on its way (clusterSeen).
   * Replaced after each pass, never changed: a caller that holds it holds a snapshot.
   */
  scheduledUnreachable(): ReadonlySet<string> {
    return this.#unreachable;
  }

  /** A cluster was heard from (a poll); cheap when it was reachable already. */
  clusterSeen(name: string): void {
    if (this.#unreachable.has(name)) this.#soon();
  }

  /**
   * Schedules one placement now (after a create or replace) and returns its row with the new
   * status. Other placements a cluster change affects are scheduled in the same pass.
   */
  async reconcile(namespace: string, name: string): Promise<PlacementRow | undefined> {
    const key = objectKey({ namespace, name });
    // Asked for before the pass is: a pass that started already does not cover it, the next does.
    this.#compiled.delete(key);
    this.#requested.add(key);
    // In the request: this placement and what cluster changes affect, never all of them.
    await this.#pass(false, true);
    return this.#d.store.placements.get(namespace, name);
  }

  /** Another hub was asked to schedule this placement (replicas/relay.ts): the next pass does. */
  requested(namespace: string, name: string): void {
    const key = objectKey({ namespace, name });
    this.#compiled.delete(key);
    this.#requested.add(key);
    this.#soon();
  }

  /** The placement was deleted: forget it and tell subscribers its decisions are gone. */
  forget(namespace: string, name: string): void {
    const key = objectKey({ namespace, name });
    this.#compiled.delete(key);
    this.#due.delete(key);
    this.#requested.delete(key);
    this.#emit([{ namespace, name }]);
    this.#arm();
  }

  /** When the timer is set to run the next pass (epoch ms), for tests and diagnostics. */
  get nextWakeAt(): number | undefined {
    return this.#wakeAt;
  }

  /** Runs the pass the timer would run (tests call it with their clock moved on). */
  runDue(): Promise<void> {
    return this.#pass(false);
  }

  /** Stops the triggers and timers; settles once a pass under way has finished (close the
   *  store after it). */
  close(): Promise<void> {
    this.#closed = true;
    this.#unsubscribe();
    clearTimeout(this.#batchTimer);
    clearTimeout(this.#wakeTimer);
    this.#batchTimer = undefined;
    this.#wakeTimer = undefined;
    this.#wakeAt = undefined;
    return this.#last?.done ?? Promise.resolve();
  }

  #soon(): void {
    if (this.#closed || this.#batchTimer) return;
    this.#batchTimer = setTimeout(() => {
      this.#batchTimer = undefined;
      void this.#pass(false);
    }, this.#pace.windowMs);
    this.#batchTimer.unref();
  }

  /** The API's liveness with the hub's start-up grace (livenessSinceStart says why). */
  #liveness(): Liveness {
    return livenessSinceStart(this.#d.liveness(), this.#startedAt);
  }

  #compile(row: PlacementRow): CompiledPlacement {
    const revision = `${row.uid}/${row.generation}`;
    const cached = this.#compiled.get(objectKey(row));
    if (cached?.key === revision) return cached.compiled;
    const compiled = compilePlacement(placementFromRow(row));
    this.#compiled.set(objectKey(row), { key: revision, compiled });
    return compiled;
  }

  /**
   * Asks for a pass: it runs after the pass under way, if any; a pass asked for while another
   * waits joins it (so it also covers what this one was asked for). Settles when it ran; never
   * rejects.
   */
  #pass(every: boolean, inRequest = false): Promise<void> {
    const queued = this.#queued;
    // Only a pass of the same kind is joined: a request's must not wait for a pass over everything.
    if (queued && queued.inRequest === inRequest) {
      queued.every ||= every;
      return queued.done;
    }
    const done = (this.#last?.done ?? Promise.resolve())
      .then(() => {
        if (this.#queued === pass) this.#queued = undefined;
        // Paced by the cost of the passes the timers run (pace.ts); a request's own is not.
        return pass.inRequest
          ? this.#runPass(pass.every, true)
          : this.#pace.run(() => this.#runPass(pass.every, false));
      })
      // A pass handles its own errors (logs them, retries): this only keeps the chain going.
      .catch((err: unknown) => this.#d.log.error({ err }, 'placement pass failed'));
    const pass: QueuedPass = { every, inRequest, done };
    this.#queued = pass;
    this.#last = pass;
    return done;
  }

  /** One scheduling pass; `inRequest` (an API write's own pass) leaves a pending pass over
   *  every placement (setsChanged) to the batch timer. */
  async #runPass(every: boolean, inRequest: boolean): Promise<void> {
    if (this.#closed || !(this.#d.active?.() ?? true)) return;
    // Taken before the first await: what is asked for from here on is the next pass's.
    const all = every || (!inRequest && this.#everything);
    if (!inRequest) this.#everything = false;
    const requested = new Set(this.#requested);
    this.#requested.clear();
    clearTimeout(this.#batchTimer);
    this.#batchTimer = undefined;
    const { store, log } = this.#d;
    const now = this.#now();
    let out: PassResult;
    try {
      // Everything the pass changes outside the database (the maps of this service, listeners,
      // log lines) is returned and applied after the commit: the body may run again (sql.ts).
      out = await store.transaction(async (): Promise<PassResult> => {
        const changedDecisions: PlacementRow[] = [];
        const returned: string[] = [];
        /** New due times by objectKey; undefined: none any more. */
        const due = new Map<string, number | undefined>();
        const failures: { err: unknown; placement: string }[] = [];
        const liveness = this.#liveness();
        const views = new Map<string, ClusterView>();
        const fingerprints = new Map<string, string>();
        const unreachable = new Set<string>();
        const leaseEnds = new Map<string, number>();
        for (const row of await store.clusters.all()) {
          if (!schedulable(row)) continue;
          const view = toClusterView(clusterResource(row, undefined, now, liveness));
          views.set(row.name, view);
          fingerprints.set(row.name, canonicalJson([view.labels, view.claims, view.taints]));
          if (view.taints.some((t) => t.key === taintKeys.unreachable)) unreachable.add(row.name);
          else {
            const end = leaseEnd(liveness, row);
            if (end) leaseEnds.set(row.name, end.at);
          }
        }
        const changed = new Set<string>();
        for (const [name, fp] of fingerprints) if (this.#fingerprints.get(name) !== fp) changed.add(name);
        for (const name of this.#fingerprints.keys()) if (!fingerprints.has(name)) changed.add(name);
        for (const name of this.#unreachable) if (views.has(name) && !unreachable.has(name)) returned.push(name);
        // Remembered only once the pass committed: a pass that threw must leave the changes
        // for its retry to see, or the retry would find nothing changed and schedule nothing.
        const next = { fingerprints, unreachable, leaseEnds };

        const placements = await store.placements.all();
        const selections = new Map(
          placements.map((p) => [objectKey(p), selectedClusters((p.status as PlacementStatus | null) ?? undefined)]),
        );
        // One map of decisions per cluster over every placement (Balance); kept current as
        // placements are rescheduled below, so later ones see the earlier ones' new choices.
        const counts = new Map<string, number>();
        for (const sel of selections.values()) for (const n of sel) counts.set(n, (counts.get(n) ?? 0) + 1);
        const clusterList = [...views.values()];
        // Cluster sets and bindings: few rows, read once per pass.
        const { sets, bindings } = await clusterSetsOf(store);
        const noBindings = new Set<string>();

        for (const row of placements) {
          const key = objectKey(row);
          const previous = selections.get(key) ?? new Set<string>();
          const dueAt = this.#due.get(key);
          let run = all || requested.has(key) || (dueAt !== undefined && dueAt <= now);
          let compiled: CompiledPlacement | undefined;
          try {
            // The compile cache is keyed by uid and generation: an entry made in a body that
            // rolls back or runs again is still right.
            compiled = this.#compile(row);
            if (!run) {
              for (const name of changed) {
                const view = views.get(name);
                if (previous.has(name) || (view && matchesPredicates(compiled, view))) {
                  run = true;
                  break;
                }
              }
            }
            if (!run) continue;
            due.set(key, undefined);
            const clusterSets = compiled.placement.spec.clusterSets;
            const restriction = setRestriction(clusterSets, bindings.get(row.namespace) ?? noBindings, sets);
            const eligible = restrictClusters(restriction, clusterList);
            const result = schedulePlacement(compiled, eligible, {
              now,
              previous,
              otherDecisionCounts: counts,
              countsIncludePrevious: true,
            });
            const setsSay = setsCondition(restriction, clusterSets, eligible.length, clusterList.length);
            if (setsSay) result.conditions = result.conditions.map((c) => (c.type === setsSay.type ? setsSay : c));
            const prevStatus = (row.status ?? undefined) as PlacementStatus | undefined;
            const kept = prevStatus
              ? { ...prevStatus, conditions: prevStatus.conditions.filter((c) => c.type !== schedulingFailedCondition) }
              : undefined;
            const status = placementStatus(result, kept, now);
            if (result.nextEvaluationAt !== undefined) due.set(key, result.nextEvaluationAt);
            for (const n of previous) counts.set(n, (counts.get(n) ?? 1) - 1);
            for (const n of result.selected) counts.set(n, (counts.get(n) ?? 0) + 1);
            if (canonicalJson(status) !== canonicalJson(row.status)) {
              await store.placements.setStatus(row.namespace, row.name, status);
            }
            if (canonicalJson(status.decisions) !== canonicalJson(prevStatus?.decisions ?? [])) {
              changedDecisions.push(row);
            }
          } catch (err) {
            if (!run) continue;
            // Never empty the decisions because of an error: keep them, say why, try again.
            failures.push({ err, placement: key });
            due.set(key, now + (this.#d.retryMs ?? durations.placementRetryMs));
            const prevStatus = (row.status ?? undefined) as PlacementStatus | undefined;
            const status: PlacementStatus = {
              numberOfSelectedClusters: prevStatus?.numberOfSelectedClusters ?? 0,
              decisionGroups: prevStatus?.decisionGroups ?? [],
              decisions: prevStatus?.decisions ?? [],
              conditions: mergeFailure(prevStatus, (err as Error).message ?? String(err), now),
            };
            if (canonicalJson(status) !== canonicalJson(row.status)) {
              await store.placements.setStatus(row.namespace, row.name, status);
            }
          }
        }
        return { next, changedDecisions, returned, due, failures, placements: new Set(selections.keys()) };
      });
    } catch (err) {
      log.error({ err }, 'placement pass failed; retrying');
      // The retry covers what this pass was to cover.
      if (all) this.#everything = true;
      for (const key of requested) this.#requested.add(key);
      if (this.#closed) return;
      this.#wakeAt = undefined;
      clearTimeout(this.#wakeTimer);
      this.#wakeTimer = setTimeout(() => void this.#pass(false), this.#d.retryMs ?? durations.placementRetryMs);
      this.#wakeTimer.unref();
      return;
    }
    const { next, changedDecisions, returned, due, failures, placements } = out;
    for (const f of failures) log.error(f, 'scheduling a placement failed; its decisions are kept');
    for (const [key, at] of due) {
      if (at === undefined) this.#due.delete(key);
      else this.#due.set(key, at);
    }
    for (const key of this.#due.keys()) if (!placements.has(key)) this.#due.delete(key);
    this.#fingerprints = next.fingerprints;
    // The first pass of this hub (or of its leadership) is the baseline: what it finds
    // unreachable may have been so for long, and was logged by the hub that saw it go.
    const lapsed = this.#baseline ? [...next.unreachable].filter((n) => !this.#unreachable.has(n)) : [];
    this.#baseline = true;
    this.#unreachable = next.unreachable;
    this.#leaseEnds = next.leaseEnds;
    this.#emit(changedDecisions);
    for (const name of returned) {
      for (const l of this.#reachableListeners) {
        try {
          l(name);
        } catch (err) {
          this.#d.log.error({ err, cluster: name }, 'a reachability listener failed');
        }
      }
    }
    // A cluster's Available is derived from its lease when it is read, so no write of its row
    // tells watches it changed: the log gets one change per cluster that went or came back.
    const shown = [...lapsed, ...returned];
    if (shown.length) {
      try {
        await store.transaction(() => store.changes.clustersShownChanged(shown));
      } catch (err) {
        log.warn(
          { err, clusters: shown.length },
          'telling watches of clusters gone or back failed; they see it on their next read',
        );
      }
    }
    this.#arm();
    // The pass of a request cleared the batch timer: a pending pass over everything waits on.
    if (this.#everything) this.#soon();
  }

  #emit(placements: readonly { namespace: string; name: string }[]): void {
    for (const p of placements) {
      for (const l of this.#listeners) {
        try {
          l(p.namespace, p.name);
        } catch (err) {
          this.#d.log.error({ err, placement: objectKey(p) }, 'a decisions listener failed');
        }
      }
    }
  }

  /** One timer to the earliest due time: a lease lapse or a placement's next evaluation. */
  #arm(): void {
    if (this.#closed) return;
    let at = Number.POSITIVE_INFINITY;
    // +1 ms: the lease still holds at exactly its end (clusterResource compares with <=).
    for (const t of this.#leaseEnds.values()) if (t + 1 < at) at = t + 1;
    for (const t of this.#due.values()) if (t < at) at = t;
    clearTimeout(this.#wakeTimer);
    this.#wakeTimer = undefined;
    if (!Number.isFinite(at)) {
      this.#wakeAt = undefined;
      return;
    }
    this.#wakeAt = at;
    // setTimeout takes at most 2^31-1 ms; a farther time is re-armed when this one fires.
    const delay = Math.min(Math.max(0, at - this.#now()), 2 ** 31 - 1);
    this.#wakeTimer = setTimeout(() => void this.#pass(false), delay);
    this.#wakeTimer.unref();
  }
}

/** What a pass's transaction produced, applied once it committed. */
interface PassResult {
  next: { fingerprints: Map<string, string>; unreachable: Set<string>; leaseEnds: Map<string, number> };
  changedDecisions: PlacementRow[];
  /** Clusters reachable again since the last pass. */
  returned: string[];
  due: Map<string, number | undefined>;
  failures: { err: unknown; placement: string }[];
  /** Every placement the pass saw (by objectKey): due times of others are dropped. */
  placements: Set<string>;
}

function mergeFailure(prev: PlacementStatus | undefined, message: string, now: number): PlacementStatus['conditions'] {
  const at = new Date(now).toISOString();
  const old = prev?.conditions.find((c) => c.type === schedulingFailedCondition);
  const others = (prev?.conditions ?? []).filter((c) => c.type !== schedulingFailedCondition);
  return [
    ...others,
    {
      type: schedulingFailedCondition,
      status: 'True' as const,
      reason: 'SchedulerError',
      message: `scheduling failed; the last decisions are kept: ${message.slice(0, 500)}`,
      lastTransitionTime: old?.status === 'True' && old.lastTransitionTime ? old.lastTransitionTime : at,
    },
  ].sort((a, b) => (a.type < b.type ? -1 : a.type > b.type ? 1 : 0));
}
