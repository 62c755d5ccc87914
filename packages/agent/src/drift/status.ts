// Status that is fresh within seconds: a work's manifest status recomputed from the live
// objects the agent's watches report, without re-applying anything.
//
// After every apply (and every refresh) the syncer tells the refresher the status it
// reported (`reported`). From that status's resourceMeta the refresher knows each manifest's
// object (group, version, resource, namespace, name) and asks the drift watcher to watch
// those resources too (`targets`), ledger or not (ReadOnly manifests and objects the work
// did not create have status as well), if the agent could read the object at all. Every ADDED, MODIFIED or DELETED event about such an
// object, status-only changes included (a Deployment's readyReplicas, a Job's conditions),
// is kept as the object's latest state (only what a status reads: for a kind whose
// readiness is its existence, and without feedback or condition rules, not its body) and
// schedules a refresh of the works that name it.
//
// A refresh recomputes, from the latest states, each manifest's Available condition and
// conditionRules conditions (a Job's Complete) and, for `feedbackScrapeType: Watch`, its
// feedback values; the Applied conditions, the
// corrections and any other condition stay as the last apply reported them. Under `Poll`
// (OCM's default) feedback values are scraped on a timer (`pollIntervalMs`, OCM's 30 s
// status sync interval) from the same latest states, so a chatty field cannot make a
// report every few hundred milliseconds. The syncer reports the result only when it
// differs (its digest), in turn with applies, and only for the generation last applied.
//
// Rate: per work at most one refresh per `minIntervalMs`; the events of a burst within
// that time are coalesced into the next one (a first event waits `debounceMs`, so the
// events of one controller update land together).
import type { Condition, ManifestConfig, ManifestStatus, WorkStatus } from '@outpost/shared';
import { ruleReasons } from '../apply/conditions.ts';
import { findConfig, scrapeTypeOf } from '../apply/config.ts';
import type { KubeObject } from '../apply/kube.ts';
import { manifestConditions, readsBody, workConditions } from '../apply/status.ts';
import { type Clock, systemClock } from '../transport/retry.ts';
import type { DesiredWork } from '../work/types.ts';
import { targetKey, type WatchTarget } from './watch.ts';

export interface StatusRefresherOptions {
  /** Wait after the first event of a quiet work, so the events of one update land together. */
  debounceMs: number;
  /** Least time between two refreshes of one work. */
  minIntervalMs: number;
  /** Period of the feedback scrape of manifests with `feedbackScrapeType: Poll`. */
  pollIntervalMs: number;
}

export const defaultStatusRefresherOptions: StatusRefresherOptions = {
  debounceMs: 50,
  minIntervalMs: 500,
  pollIntervalMs: 30_000,
};

/** What the syncer sees of the refresher. */
export interface StatusMonitor {
  /** Starts the poll timer; `refresh(workUid)` asks the syncer to recompute a work (`compute`). Until `signal` aborts. */
  run(refresh: (workUid: string) => void, signal: AbortSignal): void;
  /** The status the syncer reported for `work` (after an apply or a refresh); `gone`: the work is leaving. */
  reported(work: DesiredWork, status: WorkStatus, gone: boolean): void;
  /** The work's status recomputed from the latest object states, or undefined when there is nothing to add. */
  compute(work: DesiredWork): WorkStatus | undefined;
}

/** What the drift watcher asks of a source of extra watch targets. */
export interface StatusWatchSource {
  targets(): ReadonlyMap<string, WatchTarget>;
  /** Called when `targets()` changed. */
  onTargetsChanged(listener: () => void): void;
  /** An object of a watched target as an event or a list showed it; `deleted` for DELETED. */
  observe(key: string, object: KubeObject, deleted: boolean): void;
  /** A fresh list of a target: objects named by works and missing from it are gone. */
  listed(key: string, objects: readonly KubeObject[]): void;
}

/** One manifest's object: where it is and what the work says about its feedback. */
interface Tracked {
  ordinal: number;
  config: ManifestConfig | undefined;
  /** Its status reads more than existence: readiness of a well-known kind, feedback or condition rules. */
  readsBody: boolean;
}

interface WorkEntry {
  generation: number;
  status: WorkStatus;
  /** `targetKey|name` → the object's watch target and the manifests naming it. */
  objects: Map<string, { target: WatchTarget; tracked: Tracked[] }>;
  /** Whether some manifest scrapes feedback by Poll. */
  polls: boolean;
}

/** The latest state of an object; `live` undefined: it is gone. */
interface Latest {
  live: KubeObject | undefined;
}

const objectKey = (key: string, name: string) => `${key}|${name}`;

/**
 * What is kept of an object whose body a status reads: all but managedFields, which no
 * readiness, feedback or condition rule reads and which is often the largest part.
 */
export function keptBody(o: KubeObject, target: WatchTarget | undefined): KubeObject {
  const { managedFields: _, ...metadata } = o.metadata ?? {};
  // A CRD's readiness reads its status alone, and its spec (the schema) can be megabytes:
  // an operator stack's CRDs kept whole cost the agent several MiB. Known by the watch's
  // resource, not the object's kind: the items of a list carry no kind.
  if (target?.group === 'apiextensions.k8s.io' && target.resource === 'customresourcedefinitions') {
    const { spec: _spec, ...rest } = o;
    return { ...rest, metadata } as KubeObject;
  }
  return o.metadata?.managedFields ? { ...o, metadata } : o;
}

/** What is kept of an object whose existence alone counts (a ConfigMap's Available). */
const existence = (o: KubeObject): KubeObject => ({
  metadata: {
    name: o.metadata?.name ?? '',
    ...(o.metadata?.deletionTimestamp ? { deletionTimestamp: o.metadata.deletionTimestamp } : {}),
  },
});

/**
 * Whether a manifest's object is worth a watch: its resource is known and the agent could
 * read it (Available is not Unknown). An object the agent may not even read (a kind outside
 * its RBAC) would only give a watch that is refused again and again.
 */
const watchable = (m: ManifestStatus) =>
  !!m.resourceMeta.resource &&
  !!m.resourceMeta.name &&
  m.conditions.find((c) => c.type === 'Available')?.status !== 'Unknown';

export class StatusRefresher implements StatusMonitor, StatusWatchSource {
  readonly #o: StatusRefresherOptions;
  readonly #clock: Clock;
  readonly #works = new Map<string, WorkEntry>();
  /** `objectKey` → work uids that name it. */
  readonly #byObject = new Map<string, Set<string>>();
  /** Objects whose body some status reads (how many works read it); of the others only existence is kept. */
  readonly #bodies = new Map<string, number>();
  readonly #latest = new Map<string, Latest>();
  /** Watch targets, with how many (work, object) pairs need each. */
  readonly #targetRefs = new Map<string, { target: WatchTarget; refs: number }>();
  readonly #targets = new Map<string, WatchTarget>();
  readonly #listeners: (() => void)[] = [];
  /** Per work: when its last refresh ran, and whether one is scheduled. */
  readonly #lastRun = new Map<string, number>();
  readonly #scheduled = new Set<string>();
  /** Works whose next compute scrapes Poll feedback too. */
  readonly #pollDue = new Set<string>();
  /** Works with an object seen changed since their last compute. */
  readonly #dirty = new Set<string>();
  #refresh: ((workUid: string) => void) | undefined;
  #signal: AbortSignal | undefined;

  constructor(deps: { clock?: Clock; options?: Partial<StatusRefresherOptions> } = {}) {
    this.#o = { ...defaultStatusRefresherOptions, ...deps.options };
    this.#clock = deps.clock ?? systemClock;
  }

  run(refresh: (workUid: string) => void, signal: AbortSignal): void {
    this.#refresh = refresh;
    this.#signal = signal;
    void this.#pollLoop(signal);
  }

  // --- from the syncer ---

  reported(work: DesiredWork, status: WorkStatus, gone: boolean): void {
    const before = this.#targets.size;
    const keys = new Set(this.#targets.keys());
    const old = this.#works.get(work.uid);
    const emptied = old ? this.#unindex(work.uid, old) : [];
    if (gone || work.deleting) {
      this.#works.delete(work.uid);
      for (const m of [this.#lastRun, this.#pollDue, this.#dirty]) m.delete(work.uid);
    } else {
      const objects: WorkEntry['objects'] = new Map();
      const byOrdinal = new Map(work.manifests.map((e) => [e.ordinal, e]));
      let polls = false;
      for (const m of status.resourceStatus.manifests) {
        const r = m.resourceMeta;
        if (!watchable(m)) continue;
        const entry = byOrdinal.get(r.ordinal);
        const rawNamespace = entry?.manifest.metadata.namespace ?? '';
        const config = findConfig(work.manifestConfigs, { ...r, rawNamespace });
        if (config?.feedbackRules?.length && scrapeTypeOf(config) === 'Poll') polls = true;
        const target: WatchTarget = {
          group: r.group,
          version: r.version,
          resource: r.resource,
          namespace: r.namespace,
        };
        const key = objectKey(targetKey(target), r.name);
        const body = readsBody(r) || !!config?.feedbackRules?.length || !!config?.conditionRules?.length;
        const o = objects.get(key) ?? { target, tracked: [] as Tracked[] };
        o.tracked.push({ ordinal: r.ordinal, config, readsBody: body });
        objects.set(key, o);
      }
      const entry = { generation: work.generation, status, objects, polls };
      this.#works.set(work.uid, entry);
      this.#index(work.uid, entry);
    }
    // An object still named after the change keeps its latest state.
    for (const k of emptied) if (!this.#byObject.has(k)) this.#latest.delete(k);
    const changed = this.#targets.size !== before || [...this.#targets.keys()].some((k) => !keys.has(k));
    if (changed) for (const l of this.#listeners) l();
  }

  compute(work: DesiredWork): WorkStatus | undefined {
    const entry = this.#works.get(work.uid);
    // A new generation is on its way (or was never applied): the apply reports it.
    if (!entry || entry.generation !== work.generation) return undefined;
    const poll = this.#pollDue.delete(work.uid);
    const dirty = this.#dirty.delete(work.uid);
    if (!poll && !dirty) return undefined;
    const observed = new Map<number, Latest>();
    const configs = new Map<number, ManifestConfig | undefined>();
    for (const [key, { tracked }] of entry.objects) {
      const latest = this.#latest.get(key);
      for (const t of tracked) {
        configs.set(t.ordinal, t.config);
        if (latest) observed.set(t.ordinal, latest);
      }
    }
    if (observed.size === 0) return undefined;
    const next = refreshedStatus(entry.status, observed, configs, poll);
    // Unchanged (the events of the agent's own writes, mostly): nothing to digest or report.
    return next === entry.status ? undefined : next;
  }

  // --- from the drift watcher (StatusWatchSource) ---

  targets(): ReadonlyMap<string, WatchTarget> {
    return this.#targets;
  }

  onTargetsChanged(listener: () => void): void {
    this.#listeners.push(listener);
  }

  observe(key: string, object: KubeObject, deleted: boolean): void {
    const name = object.metadata?.name;
    if (!name) return;
    const k = objectKey(key, name);
    const works = this.#byObject.get(k);
    if (!works) return;
    this.#latest.set(k, {
      live: deleted ? undefined : this.#bodies.has(k) ? keptBody(object, this.#targets.get(key)) : existence(object),
    });
    for (const w of works) this.#schedule(w, false);
  }

  listed(key: string, objects: readonly KubeObject[]): void {
    const present = new Set<string>();
    for (const o of objects) {
      const name = o.metadata?.name;
      if (!name) continue;
      present.add(objectKey(key, name));
      this.observe(key, o, false);
    }
    for (const k of this.#byObject.keys()) {
      if (k.startsWith(`${key}|`) && !present.has(k)) {
        this.#latest.set(k, { live: undefined });
        for (const w of this.#byObject.get(k) ?? []) this.#schedule(w, false);
      }
    }
  }

  // --- scheduling ---

  #schedule(workUid: string, poll: boolean): void {
    if (poll) this.#pollDue.add(workUid);
    else this.#dirty.add(workUid);
    if (!this.#refresh || this.#signal?.aborted || this.#scheduled.has(workUid)) return;
    const now = this.#clock.now();
    const earliest = (this.#lastRun.get(workUid) ?? Number.NEGATIVE_INFINITY) + this.#o.minIntervalMs;
    const wait = Math.max(this.#o.debounceMs, earliest - now);
    this.#scheduled.add(workUid);
    this.#clock.sleep(wait, this.#signal).then(
      () => {
        this.#scheduled.delete(workUid);
        this.#lastRun.set(workUid, this.#clock.now());
        if (this.#works.has(workUid)) this.#refresh?.(workUid);
      },
      () => this.#scheduled.delete(workUid),
    );
  }

  async #pollLoop(signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      try {
        await this.#clock.sleep(this.#o.pollIntervalMs, signal);
      } catch {
        return;
      }
      for (const [uid, entry] of this.#works) if (entry.polls) this.#schedule(uid, true);
    }
  }

  /** Adds a work's objects to the index and their resources to the watch targets. */
  #index(uid: string, entry: WorkEntry): void {
    for (const [k, { target, tracked }] of entry.objects) {
      const works = this.#byObject.get(k) ?? new Set<string>();
      works.add(uid);
      this.#byObject.set(k, works);
      if (tracked.some((t) => t.readsBody)) this.#bodies.set(k, (this.#bodies.get(k) ?? 0) + 1);
      const tk = targetKey(target);
      const ref = this.#targetRefs.get(tk) ?? { target, refs: 0 };
      ref.refs++;
      this.#targetRefs.set(tk, ref);
      this.#targets.set(tk, target);
    }
  }

  /** Takes a work's objects out of the index; returns the objects no work names now. */
  #unindex(uid: string, entry: WorkEntry): string[] {
    const emptied: string[] = [];
    for (const [k, { target, tracked }] of entry.objects) {
      const works = this.#byObject.get(k);
      works?.delete(uid);
      if (!works?.size) {
        this.#byObject.delete(k);
        emptied.push(k);
      }
      if (tracked.some((t) => t.readsBody)) {
        const n = (this.#bodies.get(k) ?? 1) - 1;
        if (n > 0) this.#bodies.set(k, n);
        else this.#bodies.delete(k);
      }
      const tk = targetKey(target);
      const ref = this.#targetRefs.get(tk);
      if (ref && --ref.refs <= 0) {
        this.#targetRefs.delete(tk);
        this.#targets.delete(tk);
      }
    }
    return emptied;
  }
}

/** The condition types `manifestConditions` produces; others a manifest carries are kept. */
const feedbackTypes = new Set(['StatusFeedbackSynced']);
const workTypes = new Set(['Applied', 'Available', 'Progressing', 'Degraded']);

/**
 * `last` with each observed manifest's Available (and, for Watch or when `pollFeedback`,
 * its feedback) recomputed from the object's latest state, and the work's conditions
 * recomputed from the manifests. Applied conditions, corrections and other conditions stay.
 * `last` itself when no manifest changed.
 */
export function refreshedStatus(
  last: WorkStatus,
  observed: ReadonlyMap<number, Latest>,
  configs: ReadonlyMap<number, ManifestConfig | undefined>,
  pollFeedback: boolean,
): WorkStatus {
  let changed = false;
  const manifests = last.resourceStatus.manifests.map((m): ManifestStatus => {
    const latest = observed.get(m.resourceMeta.ordinal);
    if (!latest) return m;
    const config = configs.get(m.resourceMeta.ordinal);
    const applied = m.conditions.find((c) => c.type === 'Applied');
    const r = m.resourceMeta;
    const fresh = manifestConditions({
      applied: {
        ok: applied?.status === 'True',
        reason: applied?.reason ?? '',
        message: applied?.message ?? '',
      },
      live: latest.live,
      liveKnown: true,
      gvk: { group: r.group, version: r.version, kind: r.kind },
      feedbackRules: config?.feedbackRules,
      conditionRules: config?.conditionRules,
    });
    const scrape = pollFeedback || scrapeTypeOf(config) === 'Watch';
    const keep = (c: Condition) => c.type === 'Applied' || (!scrape && feedbackTypes.has(c.type));
    const produced = new Set(fresh.conditions.map((c) => c.type));
    const conditions = [
      ...m.conditions.filter((c) => keep(c) || !produced.has(c.type)),
      ...fresh.conditions.filter((c) => !keep(c) && c.type !== 'Applied'),
    ];
    // Conditions in the order an apply reports them, so an unchanged status compares equal.
    const order = (c: Condition) => {
      const i = m.conditions.findIndex((x) => x.type === c.type);
      return i < 0 ? m.conditions.length : i;
    };
    conditions.sort((a, b) => order(a) - order(b));
    const out: ManifestStatus = { resourceMeta: m.resourceMeta, conditions };
    const feedback = scrape ? fresh.statusFeedback : m.statusFeedback;
    if (feedback) out.statusFeedback = feedback;
    if (sameManifest(m, out)) return m;
    changed = true;
    return out;
  });
  if (!changed) return last;
  // Conditions aggregated from rules are recomputed by workConditions; the rest stay.
  const extra = last.conditions.filter((c) => !workTypes.has(c.type) && c.reason !== ruleReasons.aggregated);
  const status: WorkStatus = {
    ...last,
    conditions: [...workConditions(manifests, last.observedGeneration), ...extra],
    resourceStatus: { manifests },
  };
  return status;
}

const conditionKey = (c: Condition) => `${c.type}\u0000${c.status}\u0000${c.reason}\u0000${c.message}`;

function sameManifest(a: ManifestStatus, b: ManifestStatus): boolean {
  if (a.conditions.length !== b.conditions.length) return false;
  for (const [i, c] of a.conditions.entries()) {
    const d = b.conditions[i];
    if (!d || conditionKey(c) !== conditionKey(d)) return false;
  }
  return JSON.stringify(a.statusFeedback?.values ?? null) === JSON.stringify(b.statusFeedback?.values ?? null);
}
