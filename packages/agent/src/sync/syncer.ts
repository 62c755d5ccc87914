// The agent's work delivery loop. Three activities share one snapshot of the durable state:
//  - poll: long-polls the hub, stores what changed (durably, before acting), applies it;
//  - status: sends the outbox in batches and drops what the hub acknowledged;
//  - drift: re-applies every work now and then (jittered), and at start-up, so the last
//    desired state is enforced while the hub is away, also after an agent restart; and,
//    with a drift monitor (drift/), re-applies a work promptly when one of its objects is
//    deleted or edited by hand, counting the corrections in its status.
// Deletion happens only on the hub's explicit tombstone for a work uid the agent holds, or
// for objects that left a work the agent applied them for; never because the hub forgot.
import { createHash } from 'node:crypto';
import {
  agentFeatures,
  canonicalJson,
  type HeartbeatRequest,
  type HeartbeatResponse,
  type StatusReport,
  type SyncRequest,
  type WorkStatus,
} from '@outpost/shared';
import { adoptAnnotation } from '../apply/applier.ts';
import { isCrdKind, isNamespaceKind } from '../apply/kube.ts';
import { reasons } from '../apply/status.ts';
import type { StatusMonitor } from '../drift/status.ts';
import type { DriftMonitor } from '../drift/watcher.ts';
import { stateDurations } from '../state/limits.ts';
import { jitter, reconnectDelay } from '../transport/backoff.ts';
import type { HubClient } from '../transport/client.ts';
import { errorCode, isHubError } from '../transport/errors.ts';
import { pollSync, postStatus } from '../transport/hub-api.ts';
import { type Clock, systemClock } from '../transport/retry.ts';
import { compactWork } from '../work/compact.ts';
import type { AgentSnapshot, AgentStateStore, AppliedObject, DesiredWork, WorkApplier } from '../work/types.ts';
import {
  breakerTrips,
  DeltaMismatchError,
  droppedObjects,
  inWork,
  mergeUpdate,
  nextLedger,
  objectId,
  planWorkDeletion,
  type Release,
  releaseObjects,
  withObjects,
} from './desired.ts';

interface Log {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
  debug(obj: object, msg?: string): void;
}

export interface SyncerOptions {
  /** How long the hub may hold an unchanged poll. */
  pollWaitSeconds: number;
  /** Re-apply period (jittered ±20 %). */
  driftIntervalMs: number;
  /** Share of applied objects one sync may delete before the breaker holds deletions. */
  massDeleteShare: number;
  /** Reports per status request. */
  statusBatch: number;
}

export const defaultSyncerOptions: SyncerOptions = {
  pollWaitSeconds: 30,
  driftIntervalMs: 5 * 60_000,
  massDeleteShare: 0.5,
  statusBatch: 200,
};

/** A state store that can also record when the hub last answered (state/: the index's polledAt). */
export interface PollRecorder {
  savePolledAt?(at: string): Promise<void>;
}

export interface SyncerDeps {
  client: () => HubClient;
  cluster: string;
  state: AgentStateStore & PollRecorder;
  applier: WorkApplier;
  log: Log;
  clock?: Clock;
  options?: Partial<SyncerOptions>;
  /** Prompt drift repair and correction counts; without it, only the periodic re-apply. */
  drift?: DriftMonitor;
  /** Status refreshed from the watched objects between applies; without it, only applies report. */
  status?: StatusMonitor;
  /** The heartbeat each poll carries (the runtime's), so the agent sends none of its own. */
  heartbeat?: HeartbeatCarrier;
  /** Told of polls, applies and corrections (the agent's /metrics and /readyz). */
  observer?: SyncObserver;
}

/** What the sync loop tells the agent's listener (observe/). */
export interface SyncObserver {
  /** The durable state was read. */
  stateRead(): void;
  hubAnswered(kind: 'poll', seconds: number): void;
  hubFailed(kind: 'poll', code: string, message: string, seconds: number): void;
  /** One work's apply pass: how it ended and how long it took. */
  applied(result: 'applied' | 'failed' | 'refused' | 'error', seconds: number): void;
  /** Work `workUid` has had `total` objects put back since the agent started. */
  corrections(workUid: string, total: number): void;
  /** Work `workUid` is gone from this agent. */
  forget(workUid: string): void;
}

/** Gives each poll the heartbeat to carry and takes the hub's answer to it. */
export interface HeartbeatCarrier {
  heartbeatForPoll(): { readonly body: HeartbeatRequest };
  /** `answer` undefined: the hub answered the poll but not the heartbeat (an older hub). */
  pollAnswered(sent: { readonly body: HeartbeatRequest }, answer: HeartbeatResponse | undefined): void;
  /** The poll failed (a refusal of the credentials is the carrier's to act on). */
  pollFailed?(err: unknown): void;
}

/**
 * How long at most the next poll waits for the statuses of what the last one brought to be
 * uploaded (#statusDrained). The poll goes on the connection the upload used; sent beside
 * it, it needs a second connection, a TLS handshake that a busy hub (one slow to take
 * statuses) queues behind everything else. With 5 s, 3,859 of 10,000 agents receiving one
 * change did that, and most such handshakes timed out. An upload answered in 30 s is the
 * common bound of a hub's answer (the headers timeout).
 */
const statusBeforePollMs = 30_000;

const inventoryOf = (works: Map<string, DesiredWork>) =>
  Object.fromEntries([...works.values()].map((w) => [w.name, { uid: w.uid, generation: w.generation }]));

export class WorkSyncer {
  readonly #d: SyncerDeps;
  readonly #o: SyncerOptions;
  readonly #clock: Clock;
  #snap: AgentSnapshot | undefined;
  /** Last status sent to the outbox per work uid, so an unchanged re-apply adds nothing. */
  readonly #lastStatus = new Map<string, string>();
  /** Works are reconciled one at a time; the drift pass and the poll loop take turns. */
  #queue: Promise<unknown> = Promise.resolve();
  #statusWake: (() => void) | undefined;
  #epochWarned = false;
  /** Works whose drift repair is queued and not started yet. */
  readonly #repairQueued = new Set<string>();
  #signal: AbortSignal | undefined;
  /**
   * Per work uid whose last pass left something to finish (deletions still going, manifests
   * that failed): the number of follow-up passes scheduled since it was last clean.
   */
  readonly #followUps = new Map<string, number>();
  /** The status loop waits for reports (the outbox was empty when it looked). */
  #statusIdle = false;
  /** The status loop waits to retry a failed upload: nothing is being uploaded meanwhile. */
  #statusRetrying = false;
  /** Poll loops waiting for the reports up to `seq` to be sent (#statusDrained). */
  readonly #drainWaiters = new Set<{ seq: number; done: () => void }>();
  /** The newest report appended to the outbox, and the newest the hub acknowledged. */
  #appendedSeq = 0;
  #ackedSeq = 0;
  /** The hub's reconnect window from its last answer (SyncResponse.reconnectWindowSeconds). */
  #reconnectWindowMs: number | undefined;
  /** When an answered poll was last saved (PollRecorder), on the syncer's clock. */
  #polledSavedAt = Number.NEGATIVE_INFINITY;
  /** The save of polledAt under way (at most one; run() waits for it before it returns). */
  #polledSave: Promise<void> | undefined;
  /** Works whose status refresh is queued and not started yet. */
  readonly #refreshQueued = new Set<string>();

  constructor(deps: SyncerDeps) {
    this.#d = deps;
    this.#o = { ...defaultSyncerOptions, ...deps.options };
    this.#clock = deps.clock ?? systemClock;
  }

  get snapshot(): AgentSnapshot {
    if (!this.#snap) throw new Error('syncer not started');
    return this.#snap;
  }

  /** Loads the durable state and enforces it once, before the hub is even asked. */
  async start(): Promise<void> {
    this.#snap = await this.#d.state.load();
    this.#d.observer?.stateRead();
    this.#d.log.info(
      { works: this.#snap.works.size, revision: this.#snap.revision, hubEpoch: this.#snap.hubEpoch },
      'desired state loaded',
    );
    this.#d.drift?.sync(this.#snap);
    await this.reconcileAll();
  }

  /** Runs the poll, status and drift loops until `signal` aborts. */
  async run(signal: AbortSignal): Promise<void> {
    this.#signal = signal;
    if (!this.#snap) await this.start();
    const wake = () => this.#statusWake?.();
    signal.addEventListener('abort', wake, { once: true });
    this.#d.drift?.run((workUid) => this.#repair(workUid, signal), signal);
    this.#d.status?.run((workUid) => this.#refreshStatus(workUid, signal), signal);
    await Promise.all([this.#pollLoop(signal), this.#statusLoop(signal), this.#driftLoop(signal)]);
    // Queued work (drift repairs) finishes before run() says it stopped: a leader releases
    // its Lease only after this, so two replicas never apply at once.
    await this.#queue;
    await this.#polledSave;
  }

  #serial<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.#queue.then(fn, fn);
    this.#queue = next.catch(() => {});
    return next;
  }

  /** The work the agent holds under this uid now, if any. */
  #workByUid(uid: string): DesiredWork | undefined {
    for (const w of this.snapshot.works.values()) if (w.uid === uid) return w;
    return undefined;
  }

  async reconcileAll(): Promise<void> {
    for (const uid of [...this.snapshot.works.values()].map((w) => w.uid)) {
      // The work as it is when its turn comes: a sync meanwhile may have changed or deleted it.
      await this.#serial(async () => {
        const work = this.#workByUid(uid);
        if (work) await this.#reconcile(work);
      });
    }
  }

  /**
   * One work needs another pass now (its desired state as it is then), in turn with the rest:
   * it drifted, it took over objects another work let go, or an object it was deleting went.
   */
  #repair(workUid: string, signal: AbortSignal): void {
    if (this.#repairQueued.has(workUid)) return;
    this.#repairQueued.add(workUid);
    this.#serial(async () => {
      this.#repairQueued.delete(workUid);
      const work = this.#workByUid(workUid);
      if (work && !signal.aborted) await this.#reconcile(work);
    }).catch((err: unknown) => this.#d.log.error({ err: (err as Error).message }, 're-apply after drift failed'));
  }

  /** An object of the work changed on the spoke: report its status recomputed, in turn with applies. */
  #refreshStatus(workUid: string, signal: AbortSignal): void {
    const monitor = this.#d.status;
    // One queued refresh per work: behind a long apply, it sees every event that came meanwhile.
    if (!monitor || this.#refreshQueued.has(workUid)) return;
    this.#refreshQueued.add(workUid);
    this.#serial(async () => {
      this.#refreshQueued.delete(workUid);
      const work = this.#workByUid(workUid);
      if (!work || work.deleting || signal.aborted) return;
      const status = monitor.compute(work);
      if (status) await this.#report(work, status, false);
    }).catch((err: unknown) => this.#d.log.error({ err: (err as Error).message }, 'status refresh failed'));
  }

  async #pollLoop(signal: AbortSignal): Promise<void> {
    let sendInventory = true;
    let failures = 0;
    while (!signal.aborted) {
      const snap = this.snapshot;
      const req: SyncRequest = {
        revision: snap.revision,
        waitSeconds: this.#o.pollWaitSeconds,
        features: [agentFeatures.executor],
      };
      if (snap.hubEpoch) req.hubEpoch = snap.hubEpoch;
      if (sendInventory) req.inventory = inventoryOf(snap.works);
      const heartbeat = this.#d.heartbeat?.heartbeatForPoll();
      if (heartbeat) req.heartbeat = heartbeat.body;
      let res: Awaited<ReturnType<typeof pollSync>>;
      const sent = this.#clock.now();
      try {
        res = await pollSync(this.#d.client(), this.#d.cluster, req, { signal });
        this.#d.observer?.hubAnswered('poll', (this.#clock.now() - sent) / 1000);
        failures = 0;
        if (res.reconnectWindowSeconds !== undefined) this.#reconnectWindowMs = res.reconnectWindowSeconds * 1000;
        if (heartbeat) this.#d.heartbeat?.pollAnswered(heartbeat, res.heartbeat);
      } catch (err) {
        if (signal.aborted) return;
        // The hub may have restarted and forgotten what this agent holds: the next poll says
        // it, instead of being answered "send your inventory" first (a round trip per agent
        // of a whole fleet coming back at once).
        sendInventory = true;
        this.#d.observer?.hubFailed('poll', errorCode(err), (err as Error).message, (this.#clock.now() - sent) / 1000);
        this.#d.heartbeat?.pollFailed?.(err);
        const retryAfterMs = isHubError(err) ? err.retryAfterMs : undefined;
        const wait = reconnectDelay(failures++, this.#reconnectWindowMs, {
          retryAfterMs,
          random: () => this.#clock.random(),
        });
        // A hub restart (it says when to come back) is expected, not a failure.
        const stopping = isHubError(err) && err.code === 'HUB_STOPPING';
        this.#d.log[stopping ? 'info' : 'warn'](
          { err: (err as Error).message, retryInMs: Math.round(wait) },
          stopping
            ? 'the hub is stopping; keeping the last desired state'
            : 'sync failed; keeping the last desired state',
        );
        await this.#sleep(wait, signal);
        continue;
      }
      this.#recordPolled();
      if (res.epochMismatch) {
        if (!this.#epochWarned) {
          this.#d.log.error(
            { hubEpoch: res.hubEpoch, remembered: snap.hubEpoch },
            'the hub has another database identity than the one this agent synced with; applying and deleting ' +
              `nothing from it until an admin runs \`outpost-hub cluster adopt ${this.#d.cluster}\``,
          );
          this.#epochWarned = true;
        }
        continue;
      }
      this.#epochWarned = false;
      if (res.needInventory) {
        sendInventory = true;
        continue;
      }
      sendInventory = false;
      if (res.releaseHeldDeletions) await this.#serial(() => this.#releaseHeld());
      if (res.works.length === 0 && res.hubEpoch === snap.hubEpoch && res.revision === snap.revision) continue;
      try {
        await this.#serial(() => this.#take(res.hubEpoch, res.revision, res.works));
        // The statuses of what was just applied go out before the next poll is held, on the
        // connection that poll will use: with a poll waiting, an upload needs a second
        // connection (a TLS handshake each), and a fleet receiving one change together
        // would open them all at once.
        await this.#statusDrained(statusBeforePollMs, signal);
      } catch (err) {
        if (err instanceof DeltaMismatchError) {
          this.#d.log.warn({ err: err.message }, 'resending the inventory');
          sendInventory = true;
          continue;
        }
        throw err;
      }
    }
  }

  /** Stores the hub's changes durably, then applies them. */
  async #take(
    hubEpoch: string,
    revision: number,
    updates: Awaited<ReturnType<typeof pollSync>>['works'],
  ): Promise<void> {
    const held = await this.#store(hubEpoch, revision, updates);
    for (const w of held) await this.#reconcile(w);
  }

  /**
   * Stores the hub's changes durably and holds them compact (work/compact.ts). It takes
   * the updates out of `updates`: the caller's answer would otherwise keep every parsed
   * manifest alive through the apply passes that follow (for an operator's work,
   * megabytes of CRD schemas).
   */
  async #store(
    hubEpoch: string,
    revision: number,
    updates: Awaited<ReturnType<typeof pollSync>>['works'],
  ): Promise<DesiredWork[]> {
    const snap = this.snapshot;
    const now = new Date(this.#clock.now());
    const merged = updates.splice(0).map((u) => mergeUpdate(snap.works.get(u.name), u, now));
    await this.#d.state.saveDesired({ hubEpoch, revision, upsert: merged, remove: [] });
    const held = merged.map(compactWork);
    for (const w of held) snap.works.set(w.name, w);
    snap.hubEpoch = hubEpoch;
    snap.revision = revision;
    this.#d.log.info(
      { revision, works: held.map((w) => `${w.name}@${w.generation}${w.deleting ? ' (delete)' : ''}`) },
      'desired state changed',
    );
    return held;
  }

  async #reconcile(work: DesiredWork): Promise<void> {
    const snap = this.snapshot;
    const previous = snap.ledger.get(work.uid) ?? [];
    if (work.deleting) return this.#deleteWork(work, previous);
    // Every pass is counted once, by how it ended, also when it threw (observe/).
    const started = this.#clock.now();
    let outcome: 'applied' | 'failed' | 'refused' | 'error' = 'error';
    try {
      outcome = await this.#apply(work, previous);
    } finally {
      this.#d.observer?.applied(outcome, (this.#clock.now() - started) / 1000);
    }
  }

  /** One apply pass of `work` over what it held (`previous`); how it ended. */
  async #apply(work: DesiredWork, previous: AppliedObject[]): Promise<'applied' | 'failed' | 'refused'> {
    const snap = this.snapshot;
    const probe = this.#d.drift?.applying(work, previous);
    const result = await this.#d.applier.apply(work, previous);
    result.applied = await this.#unclaimReleased(work, previous, result.applied);
    if (probe) {
      result.status.corrections = probe.done(result.applied);
      this.#d.observer?.corrections(work.uid, result.status.corrections);
    }
    const ledger = nextLedger(previous, result.applied, work.manifests);
    const heldIds = new Set(
      snap.heldDeletions.filter((h) => h.workUid === work.uid).flatMap((h) => h.objects.map(objectId)),
    );
    const leaving = droppedObjects(previous, work.manifests).filter((o) => !heldIds.has(objectId(o)));
    // What another work still needs is released to it, never deleted with this manifest.
    const release = leaving.length > 0 ? await this.#release(work, leaving) : undefined;
    const dropped = release?.free ?? [];
    // A container another work needs stays this work's until nothing needs it.
    let remaining = release?.kept.length
      ? withObjects(
          ledger,
          release.kept.map((k) => k.object),
        )
      : ledger;
    let deleting = false;
    const held = previous.filter((o) => heldIds.has(objectId(o)));
    if (dropped.length > 0) {
      const total = [...snap.ledger.values()].reduce((n, l) => n + l.length, 0);
      if (breakerTrips(dropped.length, total, this.#o.massDeleteShare)) {
        this.#d.log.error(
          { work: work.name, deleting: dropped.length, applied: total },
          `mass-delete breaker: deletions held until an admin runs \`outpost-hub cluster confirm-deletions ${this.#d.cluster}\``,
        );
        snap.heldDeletions.push({
          workUid: work.uid,
          objects: dropped,
          since: new Date(this.#clock.now()).toISOString(),
        });
        await this.#d.state.saveHeldDeletions(snap.heldDeletions);
        held.push(...dropped);
      } else {
        const res = await this.#d.applier.delete(dropped, { foreground: false });
        remaining = [...remaining, ...res.pending.map((p) => p.object)];
        deleting = res.pending.length > 0;
      }
    }
    // Held objects stay in the ledger: they are still this work's, and the admin may confirm.
    remaining = [...remaining, ...held.filter((o) => !remaining.some((r) => objectId(r) === objectId(o)))];
    if (held.length > 0) {
      result.status.conditions.push({
        type: 'DeletionsHeld',
        status: 'True',
        reason: 'MassDeleteBreaker',
        message: `${held.length} deletion(s) held: more than ${Math.round(this.#o.massDeleteShare * 100)} % of the applied objects would go; confirm with \`outpost-hub cluster confirm-deletions ${this.#d.cluster}\``,
        observedGeneration: work.generation,
      });
    }
    snap.ledger.set(work.uid, remaining);
    this.#d.drift?.sync(snap);
    await this.#d.state.saveLedger(work.uid, remaining);
    await this.#report(work, result.status, false);

    // Something left to finish: another pass soon, not at the next periodic re-apply. A
    // failed manifest often waits for another work (its CRD, its Namespace) or for the
    // apiserver; one that never succeeds is retried less and less often.
    // Not for failures that only a new generation can mend (an invalid manifest).
    const notApplied = result.status.resourceStatus.manifests.flatMap((m) => {
      const applied = m.conditions.find((c) => c.type === 'Applied');
      return applied?.status === 'False' ? [applied.reason] : [];
    });
    const failed = notApplied.some((reason) => reason !== reasons.manifestInvalid);
    // A manifest the work's executor may not write waits for an RBAC change: tried again at
    // least every minute, as OCM requeues it, so a new RoleBinding counts within about that.
    const refused = notApplied.includes(reasons.executorNotAllowed);
    if (deleting) this.#followUp(work, followUp.deletionMaxMs);
    else if (failed) this.#followUp(work, refused ? followUp.executorMaxMs : this.#o.driftIntervalMs);
    else this.#followUps.delete(work.uid);
    // A CRD or Namespace this pass created may be what the works with failures wait for.
    const before = new Set(previous.map((o) => o.uid));
    const provided = result.applied.some(
      (o) => !before.has(o.uid) && (isNamespaceKind(o.group, o.kind) || isCrdKind(o.group, o.kind)),
    );
    if (provided && this.#signal) {
      for (const uid of this.#followUps.keys()) if (uid !== work.uid) this.#repair(uid, this.#signal);
    }
    // Any manifest not applied is a failed pass, an invalid one too (which no retry mends).
    return refused ? 'refused' : notApplied.length > 0 ? 'failed' : 'applied';
  }

  /** An admin confirmed: carry out every held deletion, then re-apply and re-report. */
  async #releaseHeld(): Promise<void> {
    const snap = this.snapshot;
    if (snap.heldDeletions.length === 0) return;
    for (const h of snap.heldDeletions) {
      const from = this.#workByUid(h.workUid);
      // What another work declares by now is released to it, not deleted (as for any drop).
      const release = from ? await this.#release(from, h.objects) : undefined;
      const free = release ? release.free : h.objects;
      const res = await this.#d.applier.delete(free, { foreground: false });
      const gone = new Set(
        [...res.deleted, ...res.orphaned, ...(release?.spared ?? []).map((k) => k.object)].map(objectId),
      );
      for (const list of release?.transfer.values() ?? []) for (const o of list) gone.add(objectId(o));
      const ledger = (snap.ledger.get(h.workUid) ?? []).filter((o) => !gone.has(objectId(o)));
      snap.ledger.set(h.workUid, ledger);
      this.#d.drift?.sync(snap);
      await this.#d.state.saveLedger(h.workUid, ledger);
      this.#d.log.info(
        { workUid: h.workUid, deleted: res.deleted.length, pending: res.pending.length },
        'held deletions carried out',
      );
    }
    snap.heldDeletions = [];
    await this.#d.state.saveHeldDeletions([]);
    for (const work of [...snap.works.values()]) await this.#reconcile(work);
  }

  async #deleteWork(work: DesiredWork, applied: AppliedObject[]): Promise<void> {
    const snap = this.snapshot;
    // Objects another work still declares pass to it; its policy decides their end.
    const release = await this.#release(work, applied);
    // The policy decides the rest; a container another work needs (a Namespace holding its
    // objects, a CRD defining its kinds) is deleted only once nothing needs it: the work
    // stays Deleting meanwhile, and says why.
    const keptIds = new Set(release.kept.map((k) => objectId(k.object)));
    const plan = planWorkDeletion(work, [...release.free, ...release.kept.map((k) => k.object)]);
    plan.orphan.push(...release.spared.map((k) => k.object));
    // The work's held deletions end with it: its delete policy decides them now.
    if (snap.heldDeletions.some((h) => h.workUid === work.uid)) {
      snap.heldDeletions = snap.heldDeletions.filter((h) => h.workUid !== work.uid);
      await this.#d.state.saveHeldDeletions(snap.heldDeletions);
    }
    const waiting = release.kept.filter((k) => plan.remove.includes(k.object));
    plan.remove = plan.remove.filter((o) => !keptIds.has(objectId(o)));
    // Left on the spoke with nobody's ledger naming them: never to be claimed again.
    await this.#remember(plan.orphan);
    for (const list of release.transfer.values()) plan.orphan.push(...list.filter((o) => !plan.orphan.includes(o)));
    const res = plan.remove.length
      ? await this.#d.applier.delete(plan.remove, { foreground: false })
      : { deleted: [], orphaned: [], pending: [] };
    const pending = [...res.pending.map((p) => p.object), ...waiting.map((k) => k.object)];
    if (pending.length > 0) {
      this.#followUp(work, followUp.deletionMaxMs);
      snap.ledger.set(work.uid, pending);
      this.#d.drift?.sync(snap);
      await this.#d.state.saveLedger(work.uid, pending);
      const why =
        res.pending[0]?.message ?? (waiting[0] ? `${describeObject(waiting[0].object)}: ${waiting[0].reason}` : '');
      await this.#report(work, deletingStatus(work, `waiting for ${pending.length} object(s) to go: ${why}`), false);
      return;
    }
    await this.#report(
      work,
      deletingStatus(work, `deleted ${res.deleted.length}, orphaned ${plan.orphan.length + res.orphaned.length}`),
      true,
    );
    this.#followUps.delete(work.uid);
    snap.ledger.delete(work.uid);
    this.#d.observer?.forget(work.uid);
    this.#d.drift?.sync(snap);
    await this.#d.state.saveLedger(work.uid, undefined);
    snap.works.delete(work.name);
    await this.#d.state.saveDesired({
      hubEpoch: snap.hubEpoch ?? '',
      revision: snap.revision,
      upsert: [],
      remove: [work.name],
    });
    this.#d.log.info(
      { work: work.name, deleted: res.deleted.length, orphaned: plan.orphan.length + res.orphaned.length },
      'work deleted',
    );
    // Another work's deletion may have waited for this one to let go of a container.
    if (this.#signal) for (const uid of this.#followUps.keys()) this.#repair(uid, this.#signal);
  }

  /**
   * `from` lets `objects` go (it is being deleted, or they left its manifests). What another
   * live work still declares passes into that work's ledger, durably, before anything is
   * deleted, and that work is re-applied at once to assert its own manifest of it; what
   * another work needs otherwise (a Namespace holding its objects, a CRD defining its kinds)
   * stays. Returns the rest, for `from`'s delete policy.
   */
  async #release(from: DesiredWork, objects: readonly AppliedObject[]): Promise<Release> {
    const snap = this.snapshot;
    const release = releaseObjects(from, objects, snap.works.values(), snap.ledger);
    for (const [uid, list] of release.transfer) {
      const to = this.#workByUid(uid);
      snap.ledger.set(uid, withObjects(snap.ledger.get(uid) ?? [], list));
      await this.#d.state.saveLedger(uid, snap.ledger.get(uid));
      this.#d.log.info(
        {
          from: from.name,
          to: to?.name,
          objects: list.map(describeObject),
        },
        'released objects another work still declares, instead of deleting them',
      );
      if (this.#signal && !this.#signal.aborted) this.#repair(uid, this.#signal);
    }
    for (const k of release.kept) {
      this.#d.log.info(
        {
          work: from.name,
          kind: k.object.kind,
          namespace: k.object.namespace || undefined,
          name: k.object.name,
          why: k.reason,
        },
        'not deleting an object another work needs, until it does not',
      );
    }
    // Left on the spoke by a work deleted at the same time: never to be claimed again.
    await this.#remember(release.spared.map((k) => k.object));
    if (release.transfer.size > 0) this.#d.drift?.sync(snap);
    return release;
  }

  /**
   * Drops from `applied` the objects this pass claimed only from their managedFields (not in
   * the work's ledger, not adopted) that an earlier work let go of: they look created by the
   * agent's own apply, but were not created for this work. An adopted one leaves the set.
   */
  async #unclaimReleased(
    work: DesiredWork,
    previous: readonly AppliedObject[],
    applied: AppliedObject[],
  ): Promise<AppliedObject[]> {
    const released = this.snapshot.released;
    if (released.length === 0) return applied;
    const set = new Set(released);
    const before = new Set(previous.map((o) => o.uid));
    const adopted = new Set<string>();
    const kept = applied.filter((o) => {
      if (!set.has(o.uid) || before.has(o.uid)) return true;
      const manifest = work.manifests.find((m) => inWork(o, [m]));
      const annotations = manifest?.manifest.metadata.annotations as Record<string, unknown> | undefined;
      if (annotations?.[adoptAnnotation] === 'true') {
        adopted.add(o.uid);
        return true;
      }
      return false;
    });
    if (adopted.size > 0) {
      this.snapshot.released = released.filter((uid) => !adopted.has(uid));
      await this.#d.state.saveReleased(this.snapshot.released);
    }
    return kept;
  }

  /** Objects left on the spoke that no ledger names any more: remembered, newest last, bounded. */
  async #remember(objects: readonly AppliedObject[]): Promise<void> {
    const known = new Set(this.snapshot.released);
    const uids = [...new Set(objects.map((o) => o.uid))].filter((u) => u && !known.has(u));
    if (uids.length === 0) return;
    this.snapshot.released = [...this.snapshot.released, ...uids].slice(-releasedKept);
    await this.#d.state.saveReleased(this.snapshot.released);
  }

  /**
   * `work` has something left to finish: another pass after 0.5 s, doubling up to `maxMs`
   * (jittered), until a pass is clean. Only the newest schedule fires. The drift watcher,
   * where there is one, calls sooner when an object the agent is deleting goes.
   */
  #followUp(work: DesiredWork, maxMs: number): void {
    const signal = this.#signal;
    if (!signal || signal.aborted) return;
    const attempt = (this.#followUps.get(work.uid) ?? 0) + 1;
    this.#followUps.set(work.uid, attempt);
    const delay = Math.min(followUp.firstMs * 2 ** (attempt - 1), maxMs);
    this.#clock
      .sleep(
        jitter(delay, 0.2, () => this.#clock.random()),
        signal,
      )
      .then(
        () => {
          if (this.#followUps.get(work.uid) === attempt) this.#repair(work.uid, signal);
        },
        () => {},
      );
  }

  async #report(work: DesiredWork, status: WorkStatus, deleted: boolean): Promise<void> {
    this.#d.status?.reported(work, status, deleted);
    // A digest, not the JSON itself: for a 1,000-manifest work the JSON is about 300 KB.
    const key = createHash('sha256')
      .update(
        canonicalJson({
          c: status.conditions.map((c) => [c.type, c.status, c.reason, c.message]),
          g: work.generation,
          deleted,
          m: status.resourceStatus,
          n: status.corrections,
        }),
      )
      .digest('base64');
    if (this.#lastStatus.get(work.uid) === key) return;
    const report: Omit<StatusReport, 'seq'> = {
      work: work.name,
      uid: work.uid,
      generation: work.generation,
      observedAt: new Date(this.#clock.now()).toISOString(),
      status,
    };
    if (deleted) report.deleted = true;
    const stored = await this.#d.state.outbox.append(report);
    this.#appendedSeq = Math.max(this.#appendedSeq, stored.seq);
    // Only once it is durable: a failed append is retried by the next pass.
    this.#lastStatus.set(work.uid, key);
    this.#d.log.info(
      {
        work: work.name,
        generation: work.generation,
        seq: stored.seq,
        conditions: Object.fromEntries(status.conditions.map((c) => [c.type, c.status])),
        corrections: status.corrections,
        deleted,
      },
      'work status changed',
    );
    this.#statusWake?.();
  }

  /** Resolves once the reports appended so far are sent (not those appended meanwhile), the
   *  outbox is empty or an upload failed (its retry waits), or after `timeoutMs`. */
  async #statusDrained(timeoutMs: number, signal: AbortSignal): Promise<void> {
    // Already stopping (an abort during the apply before it): its event has fired.
    if (signal.aborted) return;
    const seq = this.#appendedSeq;
    if (this.#statusRetrying || this.#ackedSeq >= seq) return;
    if (this.#statusIdle && this.#d.state.outbox.pending(1).length === 0) return;
    await new Promise<void>((resolve) => {
      const waiter = { seq, done: () => {} };
      waiter.done = () => {
        clearTimeout(timer);
        this.#drainWaiters.delete(waiter);
        signal.removeEventListener('abort', waiter.done);
        resolve();
      };
      const timer = setTimeout(waiter.done, timeoutMs);
      this.#drainWaiters.add(waiter);
      signal.addEventListener('abort', waiter.done, { once: true });
    });
  }

  async #statusLoop(signal: AbortSignal): Promise<void> {
    let failures = 0;
    while (!signal.aborted) {
      const batch = this.#d.state.outbox.pending(this.#o.statusBatch);
      if (batch.length === 0) {
        this.#statusIdle = true;
        for (const w of [...this.#drainWaiters]) w.done();
        await new Promise<void>((resolve) => {
          this.#statusWake = resolve;
        });
        this.#statusWake = undefined;
        this.#statusIdle = false;
        continue;
      }
      try {
        const ack = await postStatus(this.#d.client(), this.#d.cluster, { reports: batch }, { signal });
        await this.#d.state.outbox.ack(ack.ackedSeq);
        this.#ackedSeq = Math.max(this.#ackedSeq, ack.ackedSeq);
        for (const w of [...this.#drainWaiters]) if (w.seq <= this.#ackedSeq) w.done();
        failures = 0;
      } catch (err) {
        if (signal.aborted) return;
        // Polls do not wait for the retry: nothing is uploaded until then.
        this.#statusRetrying = true;
        for (const w of [...this.#drainWaiters]) w.done();
        const retryAfterMs = isHubError(err) ? err.retryAfterMs : undefined;
        const wait = reconnectDelay(failures++, this.#reconnectWindowMs, {
          retryAfterMs,
          random: () => this.#clock.random(),
        });
        this.#d.log.warn(
          { err: (err as Error).message, depth: this.#d.state.outbox.depth(), retryInMs: Math.round(wait) },
          'status upload failed; kept in the outbox',
        );
        await this.#sleep(wait, signal);
        this.#statusRetrying = false;
      }
    }
  }

  async #driftLoop(signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      await this.#sleep(
        jitter(this.#o.driftIntervalMs, 0.2, () => this.#clock.random()),
        signal,
      );
      if (signal.aborted) return;
      try {
        await this.reconcileAll();
      } catch (err) {
        this.#d.log.error({ err: (err as Error).message }, 're-apply failed');
      }
    }
  }

  /**
   * The hub answered a poll: saved durably at most once per stateDurations.polledRecordMs, so
   * `outpost-agent status` can say when the agent last heard the hub while none runs. A
   * failed save costs only that record: it is logged, and the next answer tries again.
   */
  #recordPolled(): void {
    const now = this.#clock.now();
    const save = this.#d.state.savePolledAt;
    if (!save || this.#polledSave || now - this.#polledSavedAt < stateDurations.polledRecordMs) return;
    // Not awaited: the changes this answer brought are applied meanwhile.
    this.#polledSave = save
      .call(this.#d.state, new Date(now).toISOString())
      .then(
        () => {
          this.#polledSavedAt = now;
        },
        (err: unknown) => {
          this.#d.log.warn({ err: (err as Error).message }, 'saving the time of the last answered poll failed');
        },
      )
      .finally(() => {
        this.#polledSave = undefined;
      });
  }

  async #sleep(ms: number, signal: AbortSignal): Promise<void> {
    try {
      await this.#clock.sleep(ms, signal);
    } catch {
      // aborted: the loops check the signal
    }
  }
}

/** How many released objects are remembered (about 40 bytes each in the state). */
const releasedKept = 10_000;

/** Follow-up passes: the first after 0.5 s, doubling; deletions still going at least once a minute. */
const followUp = { firstMs: 500, deletionMaxMs: 60_000, executorMaxMs: 60_000 } as const;

const describeObject = (o: AppliedObject) => `${o.kind} ${o.namespace ? `${o.namespace}/` : ''}${o.name}`;

function deletingStatus(work: DesiredWork, message: string): WorkStatus {
  return {
    conditions: [
      { type: 'Deleting', status: 'True', reason: 'WorkDeleted', message, observedGeneration: work.generation },
    ],
    resourceStatus: { manifests: [] },
    observedGeneration: work.generation,
  };
}
