// The drift watcher: prompt repair of objects a work applied when someone deletes or edits
// them, between the periodic full re-applies (which stay, as the safety net). Its watches
// also feed fresh status (status.ts), which adds the resources of every manifest's object.
//
// It watches exactly the resources of the agent's ledger: one watch per (group, version,
// resource, namespace) of namespaced objects, one per resource of cluster-scoped ones,
// started and stopped as the ledger changes (watch.ts keeps each alive). An event about an
// object of some work's ledger (same UID) is drift when
//  - DELETED, and the agent did not delete it itself (when it did, the works that wait for
//    that deletion to finish are called at once instead), or
//  - ADDED/MODIFIED (or seen changed in a relist) at a resourceVersion the agent did not
//    write, with the object's managedFields for the main resource (not status or scale:
//    controllers write those all the time) changed since the agent last saw it. Any edit
//    changes them: the editor's entry gains the fields or a newer time, or the agent's
//    entry loses the fields the edit removed or took over.
// The work is then re-applied (`repair`) after a short wait that gathers the events of one
// edit (`debounceMs`), in turn with everything else (the syncer's queue). An object that
// drifts again within `fightWindowMs` of its repair (a fight with another writer, possible
// only where the work takes declared fields back: no strategy named, Update, or forced
// server-side apply; under ServerSideApply without force the other writer's field is a
// conflict, reported and left) waits twice as long each time, up to
// `maxDelayMs`. The watcher itself never writes or deletes anything.
//
// Corrections: around each apply of a work (`applying`), the objects of its ledger the
// apply recreated (a new UID under a ledger name) or restored (written while marked
// drifted, and the answer differs from the drifted state in resourceVersion and
// managedFields: a no-op apply after an unrelated edit is no correction) are counted,
// cumulatively per work since the agent started, and logged. Only re-applies of the
// generation last applied count: a new generation is a change, not a repair. The mark is
// the first drifted state seen since the agent's last write of the object, so the event of
// the agent's own write, which may arrive before the write's answer, cannot hide it.
import { createHash } from 'node:crypto';
import { canonicalJson } from '@outpost/shared';
import type { KubeObject, ManagedFieldsEntry } from '../apply/kube.ts';
import type { KubeStreamRest } from '../apply/rest.ts';
import { type Clock, systemClock } from '../transport/retry.ts';
import type { AgentSnapshot, AppliedObject, DesiredWork } from '../work/types.ts';
import type { StatusWatchSource } from './status.ts';
import { defaultWatchOptions, keepWatching, targetKey, type WatchOptions, type WatchTarget } from './watch.ts';
import type { WriteSink } from './writes.ts';

export interface DriftLog {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  debug(obj: object, msg?: string): void;
}

/** What the syncer sees of drift detection. */
export interface DriftMonitor {
  /** Starts the watches; `repair(workUid)` re-applies a work. Until `signal` aborts. */
  run(repair: (workUid: string) => void, signal: AbortSignal): void;
  /** The ledger (or the works) changed: watch exactly the resources of the ledger. */
  sync(snapshot: Pick<AgentSnapshot, 'works' | 'ledger'>): void;
  /** Brackets one apply of `work`; `done` returns the work's corrections since the agent started. */
  applying(work: DesiredWork, previous: readonly AppliedObject[]): { done(applied: readonly AppliedObject[]): number };
}

export interface DriftWatcherOptions {
  /** Wait after the first drift event of a work before re-applying it (later events join). */
  debounceMs: number;
  /** Longest wait for an object that keeps drifting right after each repair. */
  maxDelayMs: number;
  /** Drift of an object within this long after its repair counts as a fight (the wait doubles). */
  fightWindowMs: number;
  /** The agent's field manager: not named as the editor of a drifted object. */
  fieldManager: string;
  watch: WatchOptions;
}

export const defaultDriftOptions: DriftWatcherOptions = {
  debounceMs: 500,
  maxDelayMs: 60_000,
  fightWindowMs: 5_000,
  fieldManager: 'outpost-agent',
  watch: defaultWatchOptions,
};

export interface DriftWatcherDeps {
  /** For lists and watches (its connections are held by watches: not the applier's). */
  rest: KubeStreamRest;
  log: DriftLog;
  clock?: Clock;
  /** Starts one watch; watch.ts's keepWatching unless a test replaces it. */
  keepWatching?: typeof keepWatching;
  /** More resources to watch, whose objects' states it is told (status.ts: fresh status). */
  status?: StatusWatchSource;
  options?: Partial<DriftWatcherOptions>;
}

/** What the agent last saw of an object: after its own write, or in an event or list. */
interface Seen {
  rv: string;
  fp: string;
}

interface Suspect {
  uid: string;
  what: 'deleted' | 'modified';
  by?: string;
  /** The wait before its repair: the debounce, or longer for an object that keeps drifting. */
  delayMs: number;
}

interface Write {
  uid: string;
  created: boolean;
  /** The object was marked drifted and the write's answer differs from that state. */
  restored: boolean;
}

/** A managedFields entry with the parts apply/ does not use. */
type FieldsEntry = ManagedFieldsEntry & { apiVersion?: string; time?: string };

const mainEntries = (obj: KubeObject) =>
  ((obj.metadata?.managedFields ?? []) as FieldsEntry[]).filter((f) => !f.subresource);

/** Own resourceVersions remembered per object: events of a few quick writes may trail them. */
const ownKept = 4;

const describe = (o: AppliedObject) => ({ kind: o.kind, namespace: o.namespace || undefined, name: o.name });

/**
 * What changes when an object is edited on its main resource: its managedFields without
 * those of subresources. An object without managedFields falls back to its resourceVersion.
 */
export function fingerprint(obj: KubeObject): string {
  if (!obj.metadata?.managedFields?.length) return `rv:${obj.metadata?.resourceVersion ?? ''}`;
  const main = mainEntries(obj).map((f) => [f.manager, f.operation, f.apiVersion, f.time, f.fieldsV1]);
  return createHash('sha256').update(canonicalJson(main)).digest('base64url').slice(0, 22);
}

/** The manager other than `self` that wrote the main resource last, if any. */
export function lastEditor(obj: KubeObject, self: string): string | undefined {
  return mainEntries(obj)
    .filter((f) => f.manager && f.manager !== self)
    .sort((a, b) => (b.time ?? '').localeCompare(a.time ?? ''))[0]?.manager;
}

export class DriftWatcher implements DriftMonitor, WriteSink {
  readonly #d: DriftWatcherDeps;
  readonly #o: DriftWatcherOptions;
  readonly #clock: Clock;
  readonly #keepWatching: typeof keepWatching;
  #repair: ((workUid: string) => void) | undefined;
  #signal: AbortSignal | undefined;
  /** Running watches by target key, each with its own stop. */
  readonly #watches = new Map<string, AbortController>();
  /** Per running watch: whether it asks for metadata only. */
  readonly #metadataOnly = new Map<string, boolean>();
  /** Targets the ledger asks for, with the UIDs of its objects there. */
  #targets = new Map<string, { target: WatchTarget; uids: Set<string> }>();
  /** Ledger objects by UID, with the works that hold them. */
  #owned = new Map<string, { object: AppliedObject; works: Set<string> }>();
  #names = new Map<string, string>();
  readonly #seen = new Map<string, Seen>();
  /** Objects seen drifted since the agent last wrote them: the first drifted state. */
  readonly #drifted = new Map<string, Seen>();
  readonly #own = new Map<string, string[]>();
  readonly #deleting = new Set<string>();
  /** Works with a re-apply scheduled: the objects that drifted, and when it is due. */
  readonly #pending = new Map<string, { suspects: Suspect[]; due: number }>();
  /** Per object: when its last repair was triggered and after which wait. */
  readonly #repairs = new Map<string, { at: number; delayMs: number }>();
  /** Per work: the generation last applied, and the corrections counted. */
  readonly #generation = new Map<string, number>();
  readonly #corrections = new Map<string, number>();
  #writes: Write[] | undefined;

  constructor(deps: DriftWatcherDeps) {
    this.#d = deps;
    this.#o = { ...defaultDriftOptions, ...deps.options };
    this.#clock = deps.clock ?? systemClock;
    this.#keepWatching = deps.keepWatching ?? keepWatching;
    deps.status?.onTargetsChanged(() => this.#reconcileWatches());
  }

  /** The keys of the running watches (for tests and logs). */
  get watching(): string[] {
    return [...this.#watches.keys()].sort();
  }

  run(repair: (workUid: string) => void, signal: AbortSignal): void {
    this.#repair = repair;
    this.#signal = signal;
    signal.addEventListener('abort', () => this.#watches.clear(), { once: true });
    this.#reconcileWatches();
  }

  sync(snapshot: Pick<AgentSnapshot, 'works' | 'ledger'>): void {
    const owned = new Map<string, { object: AppliedObject; works: Set<string> }>();
    const targets = new Map<string, { target: WatchTarget; uids: Set<string> }>();
    for (const [workUid, objects] of snapshot.ledger) {
      for (const o of objects) {
        if (!o.uid || !o.resource) continue;
        const entry = owned.get(o.uid) ?? { object: o, works: new Set<string>() };
        entry.works.add(workUid);
        owned.set(o.uid, entry);
        const target = { group: o.group, version: o.version, resource: o.resource, namespace: o.namespace };
        const key = targetKey(target);
        const t = targets.get(key) ?? { target, uids: new Set<string>() };
        t.uids.add(o.uid);
        targets.set(key, t);
      }
    }
    this.#owned = owned;
    this.#targets = targets;
    this.#names = new Map([...snapshot.works.values()].map((w) => [w.uid, w.name]));
    for (const m of [this.#seen, this.#drifted, this.#own, this.#repairs])
      for (const uid of m.keys()) if (!owned.has(uid)) m.delete(uid);
    for (const uid of this.#deleting) if (!owned.has(uid)) this.#deleting.delete(uid);
    for (const m of [this.#generation, this.#corrections])
      for (const w of m.keys()) if (!snapshot.ledger.has(w)) m.delete(w);
    this.#reconcileWatches();
  }

  #reconcileWatches(): void {
    const signal = this.#signal;
    if (!signal || signal.aborted) return;
    // Whole objects where fresh status reads them; metadata only where drift repair alone does.
    const wanted = new Map<string, WatchTarget>(this.#d.status?.targets() ?? []);
    for (const [key, { target }] of this.#targets)
      if (!wanted.has(key)) wanted.set(key, { ...target, metadataOnly: true });
    for (const [key, stop] of this.#watches) {
      // A watch whose mode no longer fits (fresh status now reads its objects) starts over.
      if (wanted.has(key) && (wanted.get(key)?.metadataOnly === true) === this.#metadataOnly.get(key)) continue;
      stop.abort();
      this.#watches.delete(key);
    }
    const status = this.#d.status;
    for (const [key, target] of wanted) {
      if (this.#watches.has(key)) continue;
      const stop = new AbortController();
      this.#watches.set(key, stop);
      this.#metadataOnly.set(key, target.metadataOnly === true);
      void this.#keepWatching(
        { rest: this.#d.rest, clock: this.#clock, log: this.#d.log, options: this.#o.watch },
        target,
        {
          listed: (objects) => {
            this.#listed(key, objects);
            status?.listed(key, objects);
          },
          event: (type, obj) => {
            if (type === 'DELETED') this.#gone(obj.metadata?.uid ?? '');
            else this.#observe(obj);
            status?.observe(key, obj, type === 'DELETED');
          },
        },
        AbortSignal.any([signal, stop.signal]),
      );
    }
  }

  // --- what the watches report ---

  #listed(key: string, objects: KubeObject[]): void {
    const uids = this.#targets.get(key)?.uids;
    if (!uids) return;
    const present = new Set<string>();
    for (const o of objects) {
      const uid = o.metadata?.uid;
      if (uid && uids.has(uid)) {
        present.add(uid);
        this.#observe(o);
      }
    }
    // Gone while nobody watched (before the start, or while the watch was down).
    for (const uid of uids) if (!present.has(uid)) this.#gone(uid);
  }

  #gone(uid: string): void {
    const owned = this.#owned.get(uid);
    if (!owned) return;
    this.#seen.delete(uid);
    if (this.#deleting.has(uid)) {
      // The agent's own deletion finished (finalizers done): the works waiting for it can
      // finish now instead of at their next re-check.
      for (const workUid of owned.works) this.#repair?.(workUid);
      return;
    }
    this.#suspect({ uid, what: 'deleted' });
  }

  #observe(obj: KubeObject): void {
    const uid = obj.metadata?.uid;
    const rv = obj.metadata?.resourceVersion;
    if (!uid || !rv || !this.#owned.has(uid)) return;
    // The agent's own write: what it saw is already recorded (maybe newer than this event).
    if (this.#own.get(uid)?.includes(rv)) return;
    const fp = fingerprint(obj);
    const before = this.#seen.get(uid);
    this.#seen.set(uid, { rv, fp });
    // Being deleted: the DELETED event follows, and brings it back then.
    if (obj.metadata?.deletionTimestamp) return;
    if (!before || before.fp === fp) return;
    if (!this.#drifted.has(uid)) this.#drifted.set(uid, { rv, fp });
    const by = lastEditor(obj, this.#o.fieldManager);
    this.#suspect({ uid, what: 'modified', ...(by ? { by } : {}) });
  }

  #suspect(what: Omit<Suspect, 'delayMs'>): void {
    const works = this.#owned.get(what.uid)?.works;
    if (!works || !this.#repair) return;
    const last = this.#repairs.get(what.uid);
    const now = this.#clock.now();
    const delayMs =
      last && now - last.at < this.#o.fightWindowMs
        ? Math.min(last.delayMs * 2, this.#o.maxDelayMs)
        : this.#o.debounceMs;
    const s: Suspect = { ...what, delayMs };
    for (const workUid of works) {
      const pending = this.#pending.get(workUid) ?? { suspects: [], due: Number.POSITIVE_INFINITY };
      pending.suspects.push(s);
      this.#pending.set(workUid, pending);
      // The earliest due suspect decides; a timer that finds the work not due yet waits on.
      if (now + delayMs >= pending.due) continue;
      pending.due = now + delayMs;
      this.#fireAfter(workUid, delayMs);
    }
  }

  #fireAfter(workUid: string, ms: number): void {
    this.#clock.sleep(ms, this.#signal).then(
      () => this.#fire(workUid),
      () => {},
    );
  }

  #fire(workUid: string): void {
    const pending = this.#pending.get(workUid);
    const now = this.#clock.now();
    if (!pending || this.#signal?.aborted) return;
    // A timer may end a little before the wall clock reaches its due time (timers count from
    // the event loop's cached time). Dropping it then would leave the work pending with a
    // past due time, and no later drift of the work would ever be repaired: wait the rest.
    if (pending.due > now) {
      this.#fireAfter(workUid, pending.due - now);
      return;
    }
    this.#pending.delete(workUid);
    // Drop what was repaired meanwhile (written since, or replaced in the ledger) or turned
    // out to be the agent's own doing (its write answered after the event, or its delete).
    const drifted = pending.suspects.filter(
      (s, i, all) =>
        all.findIndex((o) => o.uid === s.uid) === i &&
        this.#owned.get(s.uid)?.works.has(workUid) &&
        (s.what === 'deleted' ? !this.#deleting.has(s.uid) : this.#drifted.has(s.uid)),
    );
    if (drifted.length === 0) return;
    for (const s of drifted) this.#repairs.set(s.uid, { at: now, delayMs: s.delayMs });
    this.#d.log.info(
      {
        work: this.#names.get(workUid) ?? workUid,
        objects: drifted.map((s) => ({
          ...describe((this.#owned.get(s.uid) as { object: AppliedObject }).object),
          drift: s.what,
          ...(s.by ? { by: s.by } : {}),
          ...(s.delayMs > this.#o.debounceMs ? { heldMs: s.delayMs } : {}),
        })),
      },
      'drift detected; re-applying the work',
    );
    this.#repair?.(workUid);
  }

  // --- the agent's own writes (WriteSink) ---

  wrote(object: KubeObject, created: boolean): void {
    const uid = object.metadata?.uid;
    const rv = object.metadata?.resourceVersion;
    if (!uid || !rv) return;
    const fp = fingerprint(object);
    const mark = this.#drifted.get(uid);
    this.#drifted.delete(uid);
    this.#seen.set(uid, { rv, fp });
    this.#own.set(uid, [...(this.#own.get(uid) ?? []), rv].slice(-ownKept));
    this.#writes?.push({ uid, created, restored: !!mark && mark.rv !== rv && mark.fp !== fp });
  }

  deleting(uid: string): void {
    this.#deleting.add(uid);
  }

  // --- corrections ---

  applying(work: DesiredWork, previous: readonly AppliedObject[]): { done(applied: readonly AppliedObject[]): number } {
    const writes: Write[] = [];
    this.#writes = writes;
    const repeat = this.#generation.get(work.uid) === work.generation;
    return {
      done: (applied) => {
        if (this.#writes === writes) this.#writes = undefined;
        const key = (o: AppliedObject) => `${o.group}|${o.kind}|${o.namespace}|${o.name}`;
        const before = new Map(previous.map((o) => [key(o), o]));
        const byUid = new Map(previous.map((o) => [o.uid, o]));
        const fixed = new Map<string, { object: AppliedObject; how: string }>();
        for (const o of applied) {
          const was = before.get(key(o));
          if (was && was.uid !== o.uid) fixed.set(o.uid, { object: o, how: 'recreated' });
        }
        if (repeat) {
          for (const w of writes) {
            const was = byUid.get(w.uid);
            if (was && w.restored && !w.created) fixed.set(w.uid, { object: was, how: 'restored' });
          }
        }
        for (const { object, how } of fixed.values()) {
          this.#d.log.info({ work: work.name, ...describe(object), how }, 'drift corrected');
        }
        const total = (this.#corrections.get(work.uid) ?? 0) + fixed.size;
        this.#corrections.set(work.uid, total);
        this.#generation.set(work.uid, work.generation);
        return total;
      },
    };
  }
}
