// WorkSetController: reconciles ManifestWorkReplicaSets into per-cluster ManifestWorks (see
// index.ts). A reconcile of one workset decides and writes in one store transaction whose
// body awaits nothing but store operations and changes nothing but the store (a database
// may run it again): the controller's own state, log lines, wake-ups and renders follow its
// commit. Triggers only queue names, one batch timer runs the queue, and one run of the queue
// at a time, so reconciles are serial.
//
// Triggers: a workset was created, replaced, paused, resumed or deleted (the API calls
// changed()); a placement's decisions changed (PlacementService.onDecisionsChanged); an agent
// reported status for, or confirmed the deletion of, a work carrying the workset label (the
// SyncService's status intake); a cluster row changed (labels and claims feed the rendered
// work) or an unreachable cluster was heard from; and one unref'd timer at the earliest time
// a plan changes by time alone (soak end, progress deadline, offline timeout) or a targeted
// cluster's lease lapses.
//
// Rendering (worksets/render.ts) happens once per template (render_hash: template, overrides,
// templating) and distinct outcome, and is remembered: a reconcile after a status report, a
// pause or a new placementRef renders nothing. Renders are made outside the transaction: a
// small one right after it (its texts stored), then the reconcile runs again; large ones on
// the render thread: while nothing of the template is known a reconcile writes, deletes and
// reports nothing; once something is, a cluster whose render is still on its way waits alone
// (not handed out, its work left as it is). A reconcile writes at most writeBudget manifests
// and takes another turn for the rest.
import { AsyncResource } from 'node:async_hooks';
import { canonicalJson, durations, limits } from '@outpost/shared';
import type { Logger } from 'pino';
import type { PlacementStatus } from '../placement/types.ts';
import {
  type Condition,
  clusterResource,
  type Liveness,
  leaseEnd,
  livenessSinceStart,
} from '../registration/clusters.ts';
import {
  availableDecisionGroups,
  type ClusterWorkStatus,
  type CompiledOverride,
  compileOverrides,
  isSuccessful,
  type ManifestWorkReplicaSetSpec,
  type ManifestWorkReplicaSetStatus,
  parseRolloutStrategy,
  planRollout,
  type RolloutCluster,
  type RolloutPlan,
  type WorkSetClusterState,
  workSetSummary,
} from '../rollout/index.ts';
import { schedulingFailedCondition } from '../scheduling/index.ts';
import { Pace } from '../scheduling/pace.ts';
import { allClaims, objectKey, type Store, splitObjectKey, type WorkRow, type WorkSetRow } from '../store/index.ts';
import { saveTexts } from '../work/texts.ts';
import { type RenderOutput, type RenderTarget, renderKey, renderWorks, type TemplateWork } from './render.ts';

/** The label that marks a work as owned by a workset (its value is the workset's name). */
export const workSetLabel = 'outpost.dev/workset';
/** The owning workset's namespace (migration 15 wrote it on works made before). */
export const workSetNamespaceLabel = 'outpost.dev/workset-namespace';

/** The key of the workset that owns a work (objectKey), or undefined for a work of none. */
export function ownerKey(labels: Readonly<Record<string, string>>): string | undefined {
  const name = labels[workSetLabel];
  return name === undefined ? undefined : objectKey({ namespace: labels[workSetNamespaceLabel] ?? 'default', name });
}

/**
 * Annotations of a workset that every work it writes carries too: where a GitRepo's workset
 * came from (gitrepos/: the commit and path of the repository).
 */
export const carriedAnnotationKeys = ['outpost.dev/git-commit', 'outpost.dev/git-path'] as const;

function carriedAnnotations(from: Readonly<Record<string, string>>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const k of carriedAnnotationKeys) if (from[k] !== undefined) out[k] = from[k];
  return out;
}

/** Hash of the rendered spec the work was written from. */
export const specHashAnnotation = 'outpost.dev/workset-spec-hash';
/** When the controller handed this revision out (progressDeadline counts from here). */
export const dispatchedAtAnnotation = 'outpost.dev/workset-dispatched-at';

export const workSetConditions = {
  placementVerified: 'PlacementVerified',
  progressing: 'Progressing',
  complete: 'Complete',
  rolloutStopped: 'RolloutStopped',
  paused: 'Paused',
} as const;

export interface WorkSetControllerDeps {
  store: Store;
  log: Logger;
  /** Liveness as the API shows it; read on every reconcile. */
  liveness: () => Liveness;
  /** Wakes the cluster's held long-poll (SyncService.changed). */
  notify: (cluster: string) => void;
  /**
   * The clusters the placement scheduler's last committed pass saw unreachable
   * (PlacementService.scheduledUnreachable). A cluster heard from again is not deleted
   * from while it is in this set: the decisions about it predate its return, and the pass on
   * its way may select it again. The scheduler announces the pass (onReachable → clusterSeen).
   * The set is replaced after each pass, never changed: a reconcile takes it once, before it
   * reads anything, so the decisions it reads are at least as new as the set it holds.
   */
  scheduledUnreachable?: () => ReadonlySet<string>;
  /** Epoch milliseconds; injected by tests. */
  now?: () => number;
  batchMs?: number;
  retryMs?: number;
  /** Whether this hub reconciles now (replicas: only the leader does; replicas/leader.ts).
   *  What is queued meanwhile waits; start() queues every workset. */
  active?: () => boolean;
  /**
   * Renders a large workset away from the event loop (the render thread's BodyThread.render).
   * Without it every render is made in the run, right after the reconcile that needs it.
   */
  render?: ((name: string, spec: Uint8Array[], targets: RenderTarget[]) => Promise<RenderOutput>) | undefined;
}

/** Renders are made in the run (right after the reconcile that needs them) while the spec text
 *  times the renders needed stays under this. */
const inlineRenderBytes = 256 * 1024;
/** Spec text times renders per job on the render thread (each job's texts come back at once). */
const renderJobBytes = 32 * 1024 * 1024;
/** Manifests of rendered works kept per workset for writing (their hashes: the outcome of
 *  every render is kept, its hash only). */
const keptManifests = 200_000;
/** Manifests a reconcile writes before it leaves the rest to its next turn. */
const writeBudget = 10_000;

/** A workset revision as the controller holds it: its spec read once, and its renders. */
interface Revision {
  /** uid/generation/render id of the workset row. */
  revision: string;
  /** UTF-8 size of the spec's text. */
  specBytes: number;
  /** The spec without its template (which only rendering reads, from the stored text). */
  spec: Omit<ManifestWorkReplicaSetSpec, 'manifestWorkTemplate'>;
  compiled: CompiledOverride[];
  renders: Renders;
}

/** Renders of one template (template, overrides, templating): kept across revisions that
 *  do not change it (a pause, another placementRef). */
interface Renders {
  /** The row's renderHash (uid/generation for a row from before it was kept). */
  id: string;
  /** The outcome of every render made, per render key (render.ts), and its manifest count. */
  outcomes: Map<string, { hash: string; manifests: number } | { error: string }>;
  /** Rendered works, per render key, oldest first, up to keptManifests. */
  works: Map<string, TemplateWork>;
  keptManifests: number;
  /** A render on the render thread in flight. */
  rendering?: Promise<void> | undefined;
}

const rendersId = (row: WorkSetRow) => row.renderHash ?? `${row.uid}/${row.generation}`;

/** Forgets the rendered work of `key` (its outcome stays), keeping keptManifests true. */
function dropWork(r: Renders, key: string): void {
  const w = r.works.get(key);
  if (!w) return;
  r.works.delete(key);
  r.keptManifests -= w.manifests.length;
}

/** Where a target cluster came from: the first placementRef that selects it wins. */
interface Target {
  cluster: string;
  placement: string;
  groupName: string;
  groupIndex: number;
}

/** What the controller found for one target, besides the planner's input. */
interface Note {
  /** A problem that makes this cluster Failed whatever the planner says (render, conflict). */
  failure?: string;
  /** A write that must wait (the previous work is still being deleted, or is being rendered). */
  blocked?: string;
  /** The cluster's render key and the hash of its rendered spec. */
  render?: { key: string; hash: string };
}

const isTrue = (conditions: unknown, type: string) =>
  Array.isArray(conditions) &&
  conditions.some((c) => (c as Condition | undefined)?.type === type && (c as Condition).status === 'True');

/** Passes of one reconcile that stop for renders made in the run (then run again). */
const maxPasses = 3;
/** No scheduler: no cluster is known to be scheduled as unreachable. */
const noClusters: ReadonlySet<string> = new Set();

/** A render a reconcile asks for, made once its transaction committed. */
interface RenderRequest {
  rev: Revision;
  targets: RenderTarget[];
  /** The pass stopped for it (nothing of the template was known): it runs again once made. */
  again: boolean;
}

/**
 * What one reconcile transaction decided. Its body may run more than once (a database that
 * retries a transaction after a serialisation failure), so it changes nothing but the store:
 * the controller's maps, log lines and wake-ups are applied from here once it committed.
 */
interface Pass {
  /** Clusters whose held long-poll is woken. */
  notify: string[];
  /** The controller's own state and log lines, in order. */
  after: (() => void)[];
  renders: RenderRequest[];
}

export class WorkSetController {
  readonly #d: WorkSetControllerDeps;
  /** The batch window, grown with the cost of a batch (scheduling/pace.ts). */
  readonly #pace: Pace;
  readonly #now: () => number;
  readonly #startedAt: number;
  /**
   * The async context the controller was made in. Triggers may come from inside another
   * transaction's body (the cluster listener): the timers they arm run here, so a run of
   * the queue never joins a transaction that is not its own.
   */
  readonly #scope = new AsyncResource('WorkSetController');
  /** Worksets by key (objectKey: "namespace/name"), here and in every map below. */
  readonly #pending = new Set<string>();
  /** Placements (objectKey) whose decisions changed: their worksets are found by the next run. */
  readonly #changedPlacements = new Set<string>();
  /** When each workset wants to be reconciled again (epoch ms). */
  readonly #due = new Map<string, number>();
  /** Clusters each workset targeted at its last reconcile. */
  readonly #targets = new Map<string, Set<string>>();
  /** Per workset, clusters that were unreachable at its last reconcile: hearing from one triggers. */
  readonly #unreachable = new Map<string, Set<string>>();
  /**
   * Since when a work revision has been successful, per `workset/cluster`: the revision
   * (`uid/generation`) and epoch ms. One entry per target, so old revisions do not pile up.
   */
  readonly #succeededSince = new Map<string, { revision: string; since: number }>();
  /** Each workset's current revision (spec and renders). */
  readonly #revisions = new Map<string, Revision>();
  readonly #unsubscribe: () => void;
  #batchTimer: NodeJS.Timeout | undefined;
  #wakeTimer: NodeJS.Timeout | undefined;
  #wakeAt: number | undefined;
  /** The run of the queue in progress (one at a time, so reconciles are serial). */
  #run: Promise<void> | undefined;
  /** Asked for while a run was in progress: it takes another round before it ends. */
  #runAgain = false;
  #closed = false;

  constructor(deps: WorkSetControllerDeps) {
    this.#d = deps;
    this.#pace = new Pace(deps.batchMs ?? durations.workSetBatchMs);
    this.#now = deps.now ?? Date.now;
    this.#startedAt = this.#now();
    this.#unsubscribe = deps.store.clusters.onChange((name, kind) => {
      if (kind === 'seen') this.clusterSeen(name);
      else if (kind === 'dropped') this.clusterDropped(name);
      else this.#clusterChanged(name);
    });
  }

  /**
   * Reconciles every workset, and every workset name that only works still carry (a workset
   * deleted while the hub stopped before its controller ran): called once at start. Resolves
   * once that first run ended.
   */
  async start(): Promise<void> {
    const { store } = this.#d;
    for (const w of await store.worksets.all()) this.#pending.add(objectKey(w));
    let after = { cluster: '', name: '' };
    for (;;) {
      const page = await store.works.page(undefined, after, 500);
      for (const w of page.items) {
        after = { cluster: w.cluster, name: w.name };
        const owner = ownerKey(w.labels);
        if (owner !== undefined && !w.deletionAt) this.#pending.add(owner);
      }
      if (!page.continue) break;
    }
    await this.#runPending();
  }

  /** Queues every workset for a reconcile (replicas: the leader's backstop for a lost text). */
  async resync(): Promise<void> {
    for (const w of await this.#d.store.worksets.all()) this.#pending.add(objectKey(w));
    this.#schedule();
  }

  /** The workset was created, replaced, paused, resumed or deleted (the API calls this). */
  changed(namespace: string, name: string): void {
    this.#enqueue(objectKey({ namespace, name }));
  }

  /**
   * A placement's decisions changed (or it was deleted): the next run reconciles the
   * worksets of its namespace that use it. Only noted here (finding them reads the store,
   * and this may be told from inside the scheduler's transaction).
   */
  placementChanged(namespace: string, placement: string): void {
    if (this.#closed) return;
    this.#changedPlacements.add(objectKey({ namespace, name: placement }));
    this.#schedule();
  }

  /** An agent reported status for (or confirmed the deletion of) these works of `cluster`. */
  workStatusChanged(_cluster: string, works: readonly Pick<WorkRow, 'labels'>[]): void {
    for (const w of works) {
      const owner = ownerKey(w.labels);
      if (owner !== undefined) this.#enqueue(owner);
    }
  }

  /** A cluster's lease may end sooner (its waiting poll's connection dropped): reconcile
   *  the worksets that target it, so their wake-up moves to the new end. */
  clusterDropped(name: string): void {
    for (const [ws, targets] of this.#targets) if (targets.has(name)) this.#enqueue(ws);
  }

  /** A cluster was heard from (a poll): cheap unless it was unreachable at the last reconcile. */
  clusterSeen(name: string): void {
    for (const [ws, clusters] of this.#unreachable) if (clusters.has(name)) this.#enqueue(ws);
  }

  /** Runs queued reconciles now (tests; the batch timer does this otherwise); resolves when
   *  every one queued before the call ran. */
  flush(): Promise<void> {
    return this.#runPending();
  }

  /** Reconciles the worksets whose due time came (tests call it with their clock moved on). */
  runDue(): Promise<void> {
    const now = this.#now();
    for (const [name, at] of this.#due) if (at <= now) this.#pending.add(name);
    return this.#runPending();
  }

  /** When the timer is set to fire (epoch ms), for tests and diagnostics. */
  get nextWakeAt(): number | undefined {
    return this.#wakeAt;
  }

  /** Stops the timers; resolves once the run in progress (if any) ended, so the store can
   *  be closed after it. A render on the render thread in flight stores nothing more. */
  async close(): Promise<void> {
    this.#closed = true;
    this.#unsubscribe();
    clearTimeout(this.#batchTimer);
    clearTimeout(this.#wakeTimer);
    this.#batchTimer = undefined;
    this.#wakeTimer = undefined;
    this.#wakeAt = undefined;
    await this.#run;
  }

  #clusterChanged(cluster: string): void {
    for (const [name, targets] of this.#targets) if (targets.has(cluster)) this.#enqueue(name);
  }

  #enqueue(name: string): void {
    if (this.#closed) return;
    this.#pending.add(name);
    this.#schedule();
  }

  /** Arms the batch timer (once): the queue runs when it fires. */
  #schedule(delayMs = this.#pace.windowMs): void {
    if (this.#closed || this.#batchTimer) return;
    this.#batchTimer = setTimeout(
      () =>
        this.#scope.runInAsyncScope(() => {
          this.#batchTimer = undefined;
          void this.#pace.run(() => this.#runPending());
        }),
      delayMs,
    );
    this.#batchTimer.unref();
  }

  /**
   * Runs the queue; one run at a time. Asked while one is in progress, that run takes
   * another round for what was queued since, and the caller waits for it. Never rejects.
   */
  #runPending(): Promise<void> {
    if (this.#run !== undefined) {
      this.#runAgain = true;
      return this.#run;
    }
    // Set before the run's first store call settles: #drain awaits before it can end.
    this.#run = this.#drain();
    return this.#run;
  }

  async #drain(): Promise<void> {
    try {
      do {
        this.#runAgain = false;
        await this.#runOnce();
      } while (this.#runAgain && !this.#closed);
    } catch (err) {
      // #runOnce handles a workset's errors itself; this is a bug, never the hub's end.
      this.#d.log.error({ err }, 'running the workset queue failed');
    } finally {
      this.#run = undefined;
    }
  }

  async #runOnce(): Promise<void> {
    if (this.#closed || !(this.#d.active?.() ?? true)) return;
    clearTimeout(this.#batchTimer);
    this.#batchTimer = undefined;
    const keys = new Set(this.#pending);
    this.#pending.clear();
    const placements = new Set(this.#changedPlacements);
    this.#changedPlacements.clear();
    if (placements.size) {
      try {
        for (const key of await this.#usersOf(placements)) keys.add(key);
      } catch (err) {
        this.#d.log.error({ err }, 'finding the worksets of changed placements failed; retrying');
        for (const p of placements) this.#changedPlacements.add(p);
        this.#schedule(this.#d.retryMs ?? durations.workSetRetryMs);
      }
    }
    for (const [i, key] of [...keys].entries()) {
      // The store may be closed right after close(): nothing more is started.
      if (this.#closed) return;
      // No longer the leader (replicas): the rest waits for whoever leads.
      if (!(this.#d.active?.() ?? true)) {
        for (const k of [...keys].slice(i)) this.#pending.add(k);
        return;
      }
      this.#due.delete(key);
      try {
        await this.#reconcileKey(key);
      } catch (err) {
        // Logged and retried: a reconcile error never takes the hub down.
        this.#d.log.error({ err, workset: key }, 'reconciling a workset failed; retrying');
        this.#due.set(key, this.#now() + (this.#d.retryMs ?? durations.workSetRetryMs));
      }
    }
    this.#arm();
  }

  /** The worksets (objectKeys) with a placementRef to one of `placements` in their namespace. */
  async #usersOf(placements: ReadonlySet<string>): Promise<string[]> {
    const { store } = this.#d;
    const namespaces = new Set([...placements].map((p) => splitObjectKey(p).namespace));
    // One transaction: each row's spec head is read as of that row.
    return store.transaction(async () => {
      const out: string[] = [];
      for (const w of await store.worksets.all()) {
        if (!namespaces.has(w.namespace)) continue;
        const refs = (await this.#revision(w)).spec.placementRefs ?? [];
        if (refs.some((r) => placements.has(objectKey({ namespace: w.namespace, name: r.name })))) {
          out.push(objectKey(w));
        }
      }
      return out;
    });
  }

  /**
   * Reconciles one workset: its transaction reads and writes the store only; what it
   * decided for the controller is applied once it committed, then the renders it asked for
   * are made (on this turn when small, then it runs again; else on the render thread).
   */
  async #reconcileKey(key: string): Promise<void> {
    const { store } = this.#d;
    for (let pass = 1; ; pass++) {
      const out = await store.transaction(() => this.#reconcile(key));
      for (const apply of out.after) apply();
      for (const c of out.notify) this.#d.notify(c);
      let again = false;
      let soon = false;
      for (const r of out.renders) {
        const made = await this.#render(key, r.rev, r.targets);
        if (made === 'thread') continue;
        // Made here (or the workset changed meanwhile): the next pass writes them.
        if (made === 'rendered' && r.again && pass < maxPasses) again = true;
        else soon = true;
      }
      if (again) continue;
      if (soon) this.#due.set(key, Math.min(this.#due.get(key) ?? Number.POSITIVE_INFINITY, this.#now()));
      return;
    }
  }

  /** One timer to the earliest due time of any workset. */
  #arm(): void {
    if (this.#closed) return;
    let at = Number.POSITIVE_INFINITY;
    for (const t of this.#due.values()) if (t < at) at = t;
    clearTimeout(this.#wakeTimer);
    this.#wakeTimer = undefined;
    if (!Number.isFinite(at)) {
      this.#wakeAt = undefined;
      return;
    }
    this.#wakeAt = at;
    const delay = Math.min(Math.max(0, at - this.#now()), 2 ** 31 - 1);
    this.#wakeTimer = setTimeout(() => this.#scope.runInAsyncScope(() => void this.runDue()), delay);
    this.#wakeTimer.unref();
  }

  /** The API's liveness with the hub's start-up grace (livenessSinceStart says why). */
  #liveness(): Liveness {
    return livenessSinceStart(this.#d.liveness(), this.#startedAt);
  }

  #forgetSoaks(workset: string): void {
    for (const key of this.#succeededSince.keys()) if (key.startsWith(`${workset}/`)) this.#succeededSince.delete(key);
  }

  /** The workset row's revision: its spec head read and compiled once per generation; its
   *  renders kept while the render hash stays. A new one is not kept here: the caller keeps
   *  it (#revisions) once its transaction committed. */
  async #revision(row: WorkSetRow): Promise<Revision> {
    // The render hash too: a row from before it was kept gets one on a write that changes
    // no spec (labels), and its renders must follow.
    const revision = `${row.uid}/${row.generation}/${rendersId(row)}`;
    const had = this.#revisions.get(objectKey(row));
    if (had?.revision === revision) return had;
    // The template stays in the store: read by the render, not by the event loop.
    const { bytes, head } = (await this.#d.store.worksets.specHead(row.namespace, row.name)) ?? {
      bytes: 0,
      head: {},
    };
    const spec = head as unknown as Revision['spec'];
    const id = rendersId(row);
    return {
      revision,
      specBytes: bytes,
      spec,
      compiled: compileOverrides(spec.overrides),
      renders: had?.renders.id === id ? had.renders : { id, outcomes: new Map(), works: new Map(), keptManifests: 0 },
    };
  }

  /** Keeps what a render made. */
  #record(rev: Renders, out: RenderOutput): void {
    for (const [key, r] of out.renders) {
      if ('error' in r) {
        rev.outcomes.set(key, { error: r.error });
        continue;
      }
      rev.outcomes.set(key, { hash: r.hash, manifests: r.work.manifests.length });
      dropWork(rev, key);
      rev.works.set(key, r.work);
      rev.keptManifests += r.work.manifests.length;
      // The oldest go first, but never the one just made.
      for (const k of rev.works.keys()) {
        if (rev.keptManifests <= keptManifests || k === key) break;
        dropWork(rev, k);
      }
    }
  }

  /** Whether renders for `count` targets are made in the run (else on the render thread). */
  #inline(rev: Revision, count: number): boolean {
    return !this.#d.render || rev.specBytes * count <= inlineRenderBytes;
  }

  /** `read()` when `renders` are still the workset's (its template may have changed since),
   *  read with the row in one transaction; else undefined. */
  async #ifCurrent<T>(key: string, renders: Renders, read: () => Promise<T | undefined>): Promise<T | undefined> {
    if (this.#closed) return undefined;
    const { store } = this.#d;
    const { namespace, name } = splitObjectKey(key);
    return store.transaction(async () => {
      const row = await store.worksets.get(namespace, name);
      return row !== undefined && rendersId(row) === renders.id ? read() : undefined;
    });
  }

  /**
   * Renders `targets` (outside any transaction). Small: now, their texts stored, and says
   * 'rendered'. Else starts the render on the render thread (once at a time per workset),
   * which reconciles the workset again after each job, and says 'thread'. 'stale' when the
   * workset's template changed since the reconcile that asked.
   */
  async #render(key: string, rev: Revision, targets: RenderTarget[]): Promise<'rendered' | 'thread' | 'stale'> {
    const { store } = this.#d;
    const { namespace, name } = splitObjectKey(key);
    const renders = rev.renders;
    const render = this.#d.render;
    if (!render || this.#inline(rev, targets.length)) {
      const text = await this.#ifCurrent(key, renders, () => store.worksets.specText(namespace, name));
      if (text === undefined) return 'stale';
      const out = renderWorks(name, JSON.parse(text) as ManifestWorkReplicaSetSpec, targets);
      // Texts stored already are left as they are (putTexts keeps one per hash).
      const at = new Date(this.#now()).toISOString();
      await store.transaction(() => store.works.putTexts(out.texts, at));
      this.#record(renders, out);
      return 'rendered';
    }
    if (renders.rendering !== undefined) return 'thread';
    // Set in this turn, before the job's first await can let another reconcile look.
    renders.rendering = (async () => {
      const per = Math.max(1, Math.floor(renderJobBytes / Math.max(1, rev.specBytes)));
      for (let i = 0; i < targets.length; i += per) {
        // Read for each job (a job's thread keeps nothing): handed over as bytes, uncopied.
        const spec = await this.#ifCurrent(key, renders, () => store.worksets.specBytes(namespace, name));
        if (!spec) return;
        const out = await render(name, spec, targets.slice(i, i + per));
        if ((await this.#ifCurrent(key, renders, async () => true)) !== true) return;
        await saveTexts(store, out.texts);
        this.#record(renders, out);
        // What is known goes out now; the rest follows job by job.
        this.#enqueue(key);
      }
    })().then(
      () => {
        renders.rendering = undefined;
        this.#enqueue(key);
      },
      (err: unknown) => {
        renders.rendering = undefined;
        if (this.#closed) return;
        this.#d.log.error({ err, workset: key }, 'rendering a workset failed; retrying');
        this.#due.set(key, this.#now() + (this.#d.retryMs ?? durations.workSetRetryMs));
        this.#arm();
      },
    );
    return 'thread';
  }

  /** Marks this workset's work on `cluster` for deletion (the agent honours its deleteOption). */
  #deleteWork(w: WorkRow, at: string): Promise<boolean> {
    return this.#d.store.works.markDeleted(w.uid, w.cluster, at);
  }

  /**
   * Reconciles one workset: the body of its transaction. It awaits store operations only
   * and changes nothing else (it may run again): the controller's maps, log lines and the
   * renders to make are returned (Pass) and applied once it committed.
   */
  async #reconcile(wsKey: string): Promise<Pass> {
    const { store, log } = this.#d;
    const { namespace, name } = splitObjectKey(wsKey);
    const now = this.#now();
    const at = new Date(now).toISOString();
    const notify = new Set<string>();
    const after: (() => void)[] = [];
    // Taken before the first read: a pass that commits while this reconcile runs must not
    // clear a cluster that the decisions read here still leave out (step 5).
    const scheduledUnreachable = this.#d.scheduledUnreachable?.() ?? noClusters;
    const clusters = new Map((await store.clusters.all()).map((c) => [c.name, c]));
    const row = await store.worksets.get(namespace, name);
    /** Whether this workset made the work (it is named after it, in its cluster, as in OCM). */
    const owns = (w: WorkRow) => ownerKey(w.labels) === wsKey;

    if (!row || row.deletionAt) {
      // The workset was deleted: an explicit instruction, so every work it owns goes.
      after.push(() => {
        this.#unreachable.delete(wsKey);
        this.#revisions.delete(wsKey);
        this.#forgetSoaks(wsKey);
      });
      const remaining = new Set<string>();
      for (const c of clusters.values()) {
        const w = await store.works.get(c.name, name);
        if (!w || !owns(w)) continue;
        remaining.add(c.name);
        if (!w.deletionAt && (await this.#deleteWork(w, at))) notify.add(c.name);
      }
      const deleting = [...notify];
      if (deleting.length) {
        after.push(() => log.info({ workset: wsKey, clusters: deleting }, 'workset deleted; deleting its works'));
      }
      if (row && remaining.size === 0) {
        // Foreground: its works are gone (the agents confirmed), so the workset goes too.
        await store.worksets.delete(namespace, name);
        after.push(() => log.info({ workset: wsKey }, 'works gone; workset deleted (Foreground)'));
      }
      after.push(() => {
        // Foreground waits for these clusters: a change to one of them (removal) triggers again.
        if (row && remaining.size) this.#targets.set(wsKey, remaining);
        else this.#targets.delete(wsKey);
      });
      return { notify: deleting, after, renders: [] };
    }

    const rev = await this.#revision(row);
    after.push(() => this.#revisions.set(wsKey, rev));
    const spec = rev.spec;
    const paused = spec.paused === true;
    const liveness = this.#liveness();

    // 1. Targets: each placementRef's decisions, a cluster once (the first ref wins).
    const targets = new Map<string, Target>();
    const unknownRefs: string[] = [];
    /** How a ref is named in messages, where its name alone would mislead. */
    const refNotes = new Map<string, string>();
    // Placements whose last scheduling failed: their decisions are kept but may be stale, so
    // they are rolled out to but not deleted from.
    const staleRefs: string[] = [];
    for (const ref of spec.placementRefs) {
      // As in OCM, a workset reads placements of its own namespace only.
      const p = await store.placements.get(namespace, ref.name);
      const status = (p?.status ?? undefined) as PlacementStatus | undefined;
      if (!p || !status || !Array.isArray(status.decisions)) {
        unknownRefs.push(ref.name);
        const elsewhere = p ? [] : (await store.placements.named(ref.name)).map((x) => x.namespace);
        if (elsewhere.length) {
          refNotes.set(ref.name, `${ref.name} (in namespace ${elsewhere.join(', ')}, not ${namespace})`);
        }
        continue;
      }
      if (isTrue(status.conditions, schedulingFailedCondition)) staleRefs.push(ref.name);
      for (const g of status.decisions) {
        for (const cluster of g.clusterNames) {
          if (!targets.has(cluster)) {
            targets.set(cluster, { cluster, placement: ref.name, groupName: g.groupName, groupIndex: g.groupIndex });
          }
        }
      }
    }

    // 2. Each target's render: what its work depends on, and whether that was rendered.
    // While nothing of this template is known yet, nothing is written, deleted or reported;
    // once something is, a cluster whose render is still on its way waits for it alone.
    const renders = rev.renders;
    const requests: RenderRequest[] = [];
    const keys = new Map<string, string>();
    const unrendered = new Map<string, RenderTarget>();
    for (const t of targets.values()) {
      const c = clusters.get(t.cluster);
      if (!c || c.removalRequestedAt) continue;
      const tc = { name: c.name, labels: c.labels, claims: allClaims(c) };
      const key = renderKey(spec.templating === true, rev.compiled, tc);
      keys.set(c.name, key);
      if (!renders.outcomes.has(key) && !unrendered.has(key)) unrendered.set(key, { key, ...tc });
    }
    // Outcomes of keys no target has any more are forgotten (claims change, clusters go).
    const wanted = new Set(keys.values());
    after.push(() => {
      for (const k of renders.outcomes.keys()) if (!wanted.has(k)) renders.outcomes.delete(k);
      for (const k of renders.works.keys()) if (!wanted.has(k)) dropWork(renders, k);
    });
    if (unrendered.size) {
      const list = [...unrendered.values()];
      // Small: rendered right after this pass, which then runs again with them known.
      if (this.#inline(rev, list.length)) return { notify: [], after, renders: [{ rev, targets: list, again: true }] };
      requests.push({ rev, targets: list, again: false });
      if (renders.outcomes.size === 0) return { notify: [], after, renders: requests };
    }

    // 3. Each target's work status as the planner sees it.
    const notes = new Map<string, Note>();
    const works = new Map<string, WorkRow>();
    const rolloutClusters = new Map<string, RolloutCluster[]>();
    const unreachableNow = new Set<string>();
    /** Soaks (#succeededSince) as this pass leaves them; undefined: forgotten. */
    const soaks = new Map<string, { revision: string; since: number } | undefined>();
    let wakeAt = Number.POSITIVE_INFINITY;
    for (const t of targets.values()) {
      const c = clusters.get(t.cluster);
      // Gone or being removed: nothing to hand out (cluster removal deletes its works).
      if (!c || c.removalRequestedAt) continue;
      const view = clusterResource(c, undefined, now, liveness);
      const avail = view.status.conditions.find((x) => x.type === 'Available');
      const reachable = avail?.status === 'True';
      if (!reachable) unreachableNow.add(c.name);
      else {
        const end = leaseEnd(liveness, c);
        // +1 ms: the lease still holds at exactly its end.
        if (end) wakeAt = Math.min(wakeAt, end.at + 1);
      }
      const note: Note = {};
      notes.set(c.name, note);
      const work = await store.works.get(c.name, name);
      if (work) works.set(c.name, work);
      const key = keys.get(c.name) as string;
      const outcome = renders.outcomes.get(key);
      if (!outcome) {
        // Its render is on its way: its work stands as it is (never written meanwhile), and
        // the planner sees it not handed out yet, so nothing counts it as done or failed.
        note.blocked = 'rendering the work for this cluster';
      } else if ('error' in outcome) note.failure = outcome.error;
      else note.render = { key, hash: outcome.hash };
      const owned = work !== undefined && owns(work);
      if (work && !owned) {
        note.failure = `conflict: work ${name} on this cluster was not made by this workset; it is left alone`;
      }
      const status: ClusterWorkStatus = {
        dispatched: false,
        applied: false,
        available: false,
        degraded: false,
        updated: false,
        reachable,
      };
      if (!reachable && avail?.lastTransitionTime) status.unreachableSince = Date.parse(avail.lastTransitionTime);
      if (owned && work.deletionAt) note.blocked = 'waiting for the previous work to be deleted on the spoke';
      if (owned && !work.deletionAt) {
        const ws: { conditions?: unknown; observedGeneration?: number } = work.statusSummary ?? {};
        status.applied = isTrue(ws.conditions, 'Applied');
        status.available = isTrue(ws.conditions, 'Available');
        status.degraded = isTrue(ws.conditions, 'Degraded');
        status.dispatched = note.render !== undefined && work.annotations[specHashAnnotation] === note.render.hash;
        status.updated = status.dispatched && ws.observedGeneration === work.generation;
        const d = Date.parse(work.annotations[dispatchedAtAnnotation] ?? '');
        if (status.dispatched && Number.isFinite(d)) status.dispatchedAt = d;
        const key = `${wsKey}/${c.name}`;
        const revision = `${work.uid}/${work.generation}`;
        const soak = this.#succeededSince.get(key);
        // Success is only what a reachable cluster reports: an unreachable one's soak starts
        // over once it is back (time offline is not time observed healthy).
        if (isSuccessful(status) && reachable) {
          const since = soak?.revision === revision ? soak.since : now;
          soaks.set(key, { revision, since });
          status.succeededSince = since;
        } else soaks.set(key, undefined);
      } else soaks.set(`${wsKey}/${c.name}`, undefined);
      if (note.failure !== undefined) {
        // Counted as failed: Degraded on the "current" revision, which the planner reads as Failed.
        Object.assign(status, { dispatched: true, updated: true, degraded: true, applied: false, available: false });
      }
      const list = rolloutClusters.get(t.placement) ?? [];
      list.push({ name: c.name, groupName: t.groupName, groupIndex: t.groupIndex, status });
      rolloutClusters.set(t.placement, list);
    }

    // 4. Plan each placementRef's rollout and hand out what the plans say.
    const plans: { ref: string; plan: RolloutPlan; clusters: RolloutCluster[] }[] = [];
    const written = new Set<string>();
    /** Clusters to write whose rendered work is no longer kept: rendered again. */
    const rerender = new Map<string, RenderTarget>();
    /** Render keys whose texts were found stored in this transaction. */
    const stored = new Set<string>();
    /** Rendered works found with a text swept since: forgotten once this pass committed. */
    const dropped = new Map<string, TemplateWork>();
    let rerenderManifests = 0;
    let budget = writeBudget;
    for (const ref of spec.placementRefs) {
      if (unknownRefs.includes(ref.name)) continue;
      const policy = parseRolloutStrategy(ref.rolloutStrategy);
      if (!policy.ok) throw new Error(`placementRef ${ref.name}: ${policy.error.message}`);
      const list = rolloutClusters.get(ref.name) ?? [];
      const plan = planRollout(policy.value, list, now, { paused });
      plans.push({ ref: ref.name, plan, clusters: list });
      if (plan.nextEvaluationAt !== undefined) wakeAt = Math.min(wakeAt, plan.nextEvaluationAt);
      if (paused) continue;
      for (const cluster of plan.toRollout) {
        const note = notes.get(cluster);
        if (!note?.render || note.blocked || note.failure) continue;
        const existing = works.get(cluster);
        const { key } = note.render;
        let work = dropped.has(key) ? undefined : renders.works.get(key);
        const c = clusters.get(cluster);
        // A text of the work may have been swept since it was rendered (nothing named it).
        if (work && !stored.has(key) && existing?.contentHash !== work.contentHash) {
          if ((await store.works.missingTexts(work.manifests.map((m) => m.hash))).length) {
            dropped.set(key, work);
            work = undefined;
          } else stored.add(key);
        }
        if (!work && c) {
          // Rendered again, as much as one reconcile may write.
          const o = renders.outcomes.get(key);
          if (rerenderManifests < writeBudget && rerender.size * rev.specBytes < renderJobBytes) {
            rerender.set(key, { key, name: cluster, labels: c.labels, claims: allClaims(c) });
            rerenderManifests += o && 'manifests' in o ? o.manifests : 0;
          }
          note.blocked = 'rendering the work for this cluster';
          continue;
        }
        if (!work) continue;
        const size = existing?.contentHash === work.contentHash ? 0 : work.manifests.length;
        if (budget <= 0 && size > 0) {
          note.blocked = 'waiting for its turn to be written';
          wakeAt = Math.min(wakeAt, now);
          continue;
        }
        budget -= size;
        const labels = { ...work.labels, [workSetLabel]: name, [workSetNamespaceLabel]: namespace };
        const annotations = {
          ...work.annotations,
          ...carriedAnnotations(row.annotations),
          [specHashAnnotation]: note.render.hash,
          [dispatchedAtAnnotation]: at,
        };
        // The texts are stored (checked above): the write links them by hash.
        const out = await store.works.write({ ...work, cluster, labels, annotations }, at);
        if (out.changed || !existing) notify.add(cluster);
        written.add(cluster);
        const rc = list.find((x) => x.name === cluster);
        if (rc) {
          rc.status = {
            ...rc.status,
            dispatched: true,
            dispatchedAt: now,
            updated: false,
            succeededSince: undefined,
          } as ClusterWorkStatus;
          delete rc.status.succeededSince;
        }
      }
      const handed = plan.toRollout.filter((c) => written.has(c));
      if (handed.length) {
        after.push(() => log.info({ workset: wsKey, placement: ref.name, clusters: handed }, 'workset handed out'));
      }
    }
    if (dropped.size) {
      after.push(() => {
        // Unless a render made it again meanwhile.
        for (const [key, work] of dropped) if (renders.works.get(key) === work) dropWork(renders, key);
      });
    }
    // Made after this pass; once made here, the workset is due at once to write them.
    if (rerender.size) requests.push({ rev, targets: [...rerender.values()], again: false });

    // 5. Clusters no longer targeted lose their work; never from missing information.
    let kept = 0;
    const deleted: string[] = [];
    if (!paused && unknownRefs.length === 0 && staleRefs.length === 0) {
      for (const c of clusters.values()) {
        if (targets.has(c.name)) continue;
        soaks.set(`${wsKey}/${c.name}`, undefined);
        const w = await store.works.get(c.name, name);
        if (!w || !owns(w) || w.deletionAt) continue;
        const view = clusterResource(c, undefined, now, liveness);
        const reachable = view.status.conditions.some((x) => x.type === 'Available' && x.status === 'True');
        const stale = reachable && scheduledUnreachable.has(c.name);
        if ((!reachable || stale) && !c.removalRequestedAt) {
          // Left the decisions while unreachable (no toleration): keep its work until it is
          // heard from, when the placement is scheduled again, and until that pass ran.
          kept++;
          unreachableNow.add(c.name);
          continue;
        }
        if (await this.#deleteWork(w, at)) {
          notify.add(c.name);
          deleted.push(c.name);
        }
      }
      if (deleted.length) {
        after.push(() => log.info({ workset: wsKey, clusters: deleted }, 'no longer targeted; deleting the works'));
      }
    }

    // 6. Status.
    const trackedTargets = new Set(targets.keys());
    for (const c of unreachableNow) trackedTargets.add(c);
    after.push(() => {
      for (const [key, soak] of soaks) {
        if (soak) this.#succeededSince.set(key, soak);
        else this.#succeededSince.delete(key);
      }
      this.#targets.set(wsKey, trackedTargets);
      if (unreachableNow.size) this.#unreachable.set(wsKey, unreachableNow);
      else this.#unreachable.delete(wsKey);
      if (Number.isFinite(wakeAt)) this.#due.set(wsKey, wakeAt);
    });

    const status = this.#status(
      row,
      plans,
      notes,
      written,
      unknownRefs.map((r) => refNotes.get(r) ?? r),
      staleRefs,
      targets.size,
      kept,
      paused,
      now,
    );
    if (canonicalJson(status) !== canonicalJson(row.status)) {
      await store.worksets.setStatus(namespace, name, status as unknown as Record<string, unknown>);
    }
    return { notify: [...notify], after, renders: requests };
  }

  #status(
    row: WorkSetRow,
    plans: { ref: string; plan: RolloutPlan; clusters: RolloutCluster[] }[],
    notes: Map<string, Note>,
    written: Set<string>,
    unknownRefs: string[],
    staleRefs: string[],
    targetCount: number,
    kept: number,
    paused: boolean,
    now: number,
  ): ManifestWorkReplicaSetStatus {
    const prev = (row.status ?? undefined) as ManifestWorkReplicaSetStatus | undefined;
    const at = new Date(now).toISOString();
    const cond = (type: string, status: Condition['status'], reason: string, message: string): Condition => {
      const old = prev?.conditions.find((c) => c.type === type);
      const lastTransitionTime = old?.status === status && old.lastTransitionTime ? old.lastTransitionTime : at;
      return { type, status, reason, message, lastTransitionTime };
    };

    const all = plans.flatMap((p) => p.clusters);
    const states: WorkSetClusterState[] = [];
    for (const { ref, plan } of plans) {
      for (const pc of plan.clusters) {
        const note = notes.get(pc.name);
        let state = pc.state;
        let reason = pc.reason;
        if (note?.failure) {
          state = 'Failed';
          reason = note.failure;
        } else if (written.has(pc.name)) {
          state = 'Progressing';
          reason = 'handed out; waiting for the agent to report';
        } else if (note?.blocked && (state === 'ToApply' || state === 'Pending')) reason = note.blocked;
        states.push({
          name: pc.name,
          placement: ref,
          groupName: pc.groupName,
          groupIndex: pc.groupIndex,
          state,
          reason,
          ...(pc.offline ? { offline: true as const } : {}),
        });
      }
    }
    const max = limits.workSetStatusClustersMax;

    const messages = plans.map((p) => (plans.length > 1 ? `${p.ref}: ${p.plan.message}` : p.plan.message));
    if (unknownRefs.length) messages.push(`placement without decisions: ${unknownRefs.join(', ')} (works kept)`);
    if (staleRefs.length) messages.push(`scheduling failed for ${staleRefs.join(', ')}; works kept`);
    if (kept) messages.push(`${kept} cluster(s) left the decisions while unreachable; their works are kept for now`);
    if (paused) messages.unshift('Paused');

    const stopped = plans.filter((p) => p.plan.stopped);
    const complete = plans.length > 0 && unknownRefs.length === 0 && plans.every((p) => p.plan.complete);
    const succeeded = complete && states.every((s) => s.state === 'Succeeded');
    const conditions: Condition[] = [
      unknownRefs.length
        ? cond(
            workSetConditions.placementVerified,
            'False',
            'PlacementDecisionNotFound',
            `no decisions for ${unknownRefs.join(', ')}; existing works are kept`,
          )
        : targetCount === 0
          ? cond(
              workSetConditions.placementVerified,
              'False',
              'PlacementDecisionEmpty',
              'the placements select no cluster',
            )
          : cond(workSetConditions.placementVerified, 'True', 'AsExpected', `${targetCount} cluster(s) selected`),
      paused
        ? cond(workSetConditions.paused, 'True', 'Paused', 'spec.paused: nothing is written or deleted')
        : cond(workSetConditions.paused, 'False', 'NotPaused', ''),
      stopped.length
        ? cond(
            workSetConditions.rolloutStopped,
            'True',
            'MaxFailuresExceeded',
            stopped.map((p) => `${p.ref}: ${p.plan.failures} failure(s), ${p.plan.maxFailures} tolerated`).join('; '),
          )
        : cond(workSetConditions.rolloutStopped, 'False', 'WithinTolerance', ''),
      complete
        ? cond(workSetConditions.progressing, 'False', succeeded ? 'Complete' : 'Finished', '')
        : paused
          ? cond(workSetConditions.progressing, 'False', 'Paused', '')
          : stopped.length
            ? cond(workSetConditions.progressing, 'False', 'RolloutStopped', '')
            : cond(workSetConditions.progressing, 'True', 'Rolling', messages.join('; ')),
      succeeded
        ? cond(workSetConditions.complete, 'True', 'Complete', 'every selected cluster succeeded')
        : cond(workSetConditions.complete, 'False', complete ? 'FinishedWithProblems' : 'InProgress', ''),
    ].sort((a, b) => (a.type < b.type ? -1 : a.type > b.type ? 1 : 0));

    const status: ManifestWorkReplicaSetStatus = {
      conditions,
      summary: workSetSummary(all),
      placementSummary: plans.map((p) => ({
        name: p.ref,
        availableDecisionGroups: availableDecisionGroups(p.clusters),
        summary: workSetSummary(p.clusters),
      })),
      rollout: {
        state: paused
          ? 'Paused'
          : unknownRefs.length
            ? 'WaitingForDecisions'
            : targetCount === 0
              ? 'NoClusters'
              : stopped.length
                ? 'Stopped'
                : succeeded
                  ? 'Complete'
                  : complete
                    ? 'FinishedWithProblems'
                    : 'Rolling',
        message: messages.join('; '),
        placements: plans.map(({ ref, plan }) => ({
          name: ref,
          type: plan.type,
          message: plan.message,
          stopped: plan.stopped,
          complete: plan.complete,
          ...(plan.currentGroup ? { currentGroup: plan.currentGroup } : {}),
        })),
        clusters: states.slice(0, max),
        ...(states.length > max ? { clustersOmitted: states.length - max } : {}),
        observedGeneration: row.generation,
      },
    };
    return status;
  }
}
