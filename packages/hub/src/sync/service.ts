// Desired-state sync and status intake for agents (the hub side of /agent/v1 …/sync and
// …/status). Per cluster the hub remembers what it last sent, so an unchanged poll costs
// one integer comparison and is then held until something changes or the wait ends.
import {
  agentFeatures,
  apiError,
  durations,
  type InventoryEntry,
  type Manifest,
  type ManifestWorkSpec,
  type StatusAck,
  type SyncRequest,
  type SyncResponse,
  type WorkUpdate,
} from '@outpost/shared';
import type { Logger } from 'pino';
import type { Liveness } from '../registration/clusters.ts';
import type { ClusterRow, ManifestRow, Store, WorkRow } from '../store/index.ts';
import { RawJson, TextRef } from '../work/raw-json.ts';
import { saveTexts } from '../work/texts.ts';
import { completedAt } from '../work/ttl.ts';
import type { DesiredNotifier } from './notifier.ts';
import type { Presence } from './presence.ts';
import { type PreparedStatusBatch, storedStatus } from './status-text.ts';

interface Session {
  revision: number;
  inventory: Map<string, InventoryEntry>;
}

export interface SyncDeps {
  store: Store;
  log: Logger;
  notifier: DesiredNotifier;
  presence: Presence;
  /** Longest hold of an unchanged poll; each hold is jittered ±10 % around min(asked, this). */
  maxWaitMs: number;
  /** Called after the agent reported works deleted (a waiting cluster removal may finish);
   *  awaited, so the removal is done when the agent's report is answered. */
  onWorksPurged?: (cluster: string) => Promise<void> | void;
  /** Called inside the transaction that stores a batch of status, with the works it touched
   *  (replicas: the texts that tell the leader go when it commits). */
  tellStatus?: (cluster: string, works: readonly WorkRow[]) => Promise<void>;
  /** Called after a batch stored status for, or purged, these works (the workset controller listens). */
  onWorkStatus?: (cluster: string, works: WorkRow[]) => void;
  /** Polls a cluster may miss before it is Available=Unknown. */
  missedPolls: number;
  /** A cluster whose waiting poll lost its connection is Available=Unknown this long after,
   *  unless it polled again (0 or absent: only missed polls count). */
  disconnectGraceMs?: number;
  random?: () => number;
}

// The stored texts as they are: the answer is written in parts (agentapi/, work/raw-json.ts).
const manifestEntries = (rows: ManifestRow[]) =>
  rows.map((m) => ({
    key: m.key,
    ordinal: m.ordinal,
    manifest: new RawJson([new TextRef(m.hash)]) as unknown as Manifest,
  }));

export class SyncService {
  readonly #d: SyncDeps;
  readonly #sessions = new Map<string, Session>();
  /** Polls answered with needInventory since the start (the hub did not know what the agent held). */
  #inventoriesAsked = 0;
  readonly #random: () => number;

  constructor(deps: SyncDeps) {
    this.#d = deps;
    this.#random = deps.random ?? Math.random;
    this.#countFleet();
  }

  /** Reads and clears an admin's confirmation of held deletions (passed on once). */
  async #takeRelease(cluster: string): Promise<boolean> {
    const { store } = this.#d;
    // Read first: the write (and its transaction) only when there is one to take.
    if (!(await store.clusters.releasePending(cluster))) return false;
    return store.transaction(async () => {
      const c = await store.clusters.get(cluster);
      if (!c?.releaseHeldDeletions) return false;
      await store.clusters.update({ ...c, releaseHeldDeletions: false });
      return true;
    });
  }

  /** Liveness of clusters as the API shows it: presence in memory, lease from the config. */
  get liveness(): Liveness {
    const { presence, maxWaitMs, missedPolls, disconnectGraceMs } = this.#d;
    // A poll is held at most maxWaitMs (+10 % jitter); allow a few seconds to reconnect.
    return {
      leaseMs: missedPolls * maxWaitMs * 1.1 + 5_000,
      lastSeen: (c) => presence.lastSeen(c.name, c.lastSeen),
      ...(disconnectGraceMs ? { droppedAt: (c) => presence.droppedAt(c.name), dropGraceMs: disconnectGraceMs } : {}),
    };
  }

  /**
   * The connection of a poll of `cluster` closed before the poll was answered: the agent is
   * gone (stopped, crashed, its network cut with a reset) unless it polls again within the
   * grace. A silent partition sends nothing; missed polls catch that.
   */
  dropped(cluster: string): void {
    // A stopping hub closes connections itself; and it forgets presence anyway.
    if (this.#d.disconnectGraceMs && !this.#d.notifier.closed) this.#d.presence.dropped(cluster, new Date());
  }

  /** The accepted clusters, counted at most every 10 s (reconnectWindowSeconds). */
  #fleet = { size: 0, at: Number.NEGATIVE_INFINITY };
  #counting = false;

  /** Counts the accepted clusters again (one at a time; a failed count keeps the last). */
  #countFleet(): void {
    if (this.#counting) return;
    this.#counting = true;
    const at = Date.now();
    this.#d.store.clusters
      .accepted()
      .then(
        (size) => {
          this.#fleet = { size, at };
        },
        (err: unknown) => this.#d.log.warn({ err }, 'counting the accepted clusters failed'),
      )
      .finally(() => {
        this.#counting = false;
      });
  }

  /**
   * How long agents should spread a reconnect after an unanswered break, in seconds: the
   * fleet that may connect (the accepted clusters, not the polls waiting now, which are few
   * right after a restart) at reconnectPerSecond, at least 1. The count is at most 10 s old:
   * it is made when the service starts and again, in the background, when it turned older.
   */
  get reconnectWindowSeconds(): number {
    if (Date.now() - this.#fleet.at > 10_000) this.#countFleet();
    return Math.min(600, Math.max(1, Math.ceil(this.#fleet.size / durations.reconnectPerSecond)));
  }

  /** Polls answered "send your inventory" since the start: a round trip each, which agents
   *  avoid by sending it with their first poll after a failed one. */
  get inventoriesAsked(): number {
    return this.#inventoriesAsked;
  }

  /** Long-polls held open right now. */
  get waiting(): number {
    return this.#d.notifier.waiting;
  }

  /** Tells waiting polls of `cluster` that its desired state changed: this hub's at once,
   *  and, through the store, those other hubs on the same database hold. */
  changed(cluster: string): void {
    this.#d.notifier.notify(cluster);
    this.#d.store.wake(cluster).catch((err: unknown) => {
      // The other hubs' polls then see the change when their hold ends.
      this.#d.log.warn({ err, cluster }, 'telling the other hubs of a change failed');
    });
  }

  /**
   * Wakes this hub's polls on the changes made through other hubs,
   * and every poll when wake-ups may have been lost. Returns the function that stops it.
   */
  listen(): () => Promise<void> {
    const { notifier, store, log } = this.#d;
    return store.onWake(
      (cluster) => notifier.notify(cluster),
      () => {
        log.info(
          { waiting: notifier.waiting },
          'wake-ups from other hubs may have been lost; every waiting poll looks again',
        );
        notifier.notifyAll();
      },
    );
  }

  /** Forgets what the hub believes `cluster` holds (its next poll sends an inventory). */
  forget(cluster: string): void {
    this.#sessions.delete(cluster);
  }

  async sync(cluster: ClusterRow, req: SyncRequest, signal?: AbortSignal): Promise<SyncResponse> {
    const { store, presence } = this.#d;
    const epoch = store.epoch;
    presence.seen(cluster.name, new Date());
    const mismatch = req.hubEpoch !== undefined && req.hubEpoch !== epoch;
    if (!mismatch && req.hubEpoch !== undefined && cluster.adoptEpoch) {
      // The agent has taken this epoch: the admin's permission is used up. The row is read
      // again: the request's copy predates what its heartbeat just noted.
      await store.transaction(async () => {
        const now = await store.clusters.get(cluster.name);
        if (now?.adoptEpoch) await store.clusters.update({ ...now, adoptEpoch: false });
      });
    }
    if (mismatch && !cluster.adoptEpoch) {
      // Nothing from this hub is applied or deleted until an admin decides; hold like an
      // idle poll so a waiting agent does not spin.
      await this.#d.notifier.wait(cluster.name, this.#holdMs(req), signal);
      this.#stopping();
      return {
        hubEpoch: epoch,
        revision: await store.works.desiredRevision(cluster.name),
        epochMismatch: { agentEpoch: req.hubEpoch as string, adoptAllowed: false },
        works: [],
      };
    }
    const holdEnd = Date.now() + this.#holdMs(req);
    let recheck = false;
    for (let attempt = 0; ; attempt++) {
      // Taken before the state is read: a change notified while it is read ends the wait below.
      const mark = this.#d.notifier.mark(cluster.name);
      const release = await this.#takeRelease(cluster.name);
      // An inventory is the agent's word on what it holds: compare it with the works whatever
      // the revision says (a database restored from a backup reuses revision numbers).
      const told = attempt === 0 && req.inventory !== undefined;
      const session = this.#sessions.get(cluster.name);
      const inventory = told ? new Map(Object.entries(req.inventory ?? {})) : session?.inventory;
      // One read of the store: the revision, the updates and what the agent holds once it took
      // them all come from the same rows (read apart, a work written in between could be
      // counted as held without having been sent).
      const snap = await store.transaction(async () => {
        const revision = await store.works.desiredRevision(cluster.name);
        if (!inventory || (!told && session?.revision !== req.revision)) return { revision, ask: true as const };
        const behind = revision !== req.revision || mismatch;
        if (!behind && !told) return { revision, behind, works: [], held: inventory, warnings: [] };
        const rows = await store.works.forCluster(cluster.name);
        const withheld = new Set<string>();
        const warnings: WorkRow[] = [];
        const works = await this.#diff(rows, inventory, req, withheld, warnings);
        const held = works.length > 0 || behind ? this.#inventoryNow(rows, inventory, withheld) : inventory;
        return { revision, behind, works, held, warnings };
      });
      const { revision } = snap;
      if ('ask' in snap) {
        this.#inventoriesAsked++;
        return { hubEpoch: epoch, revision, needInventory: true, works: [] };
      }
      if (snap.warnings.length) await this.#warnWithheld(cluster.name, snap.warnings);
      this.#sessions.set(cluster.name, { revision, inventory: snap.held });
      if (snap.works.length > 0 || snap.behind) {
        return { hubEpoch: epoch, revision, works: snap.works, ...(release ? { releaseHeldDeletions: true } : {}) };
      }
      if (release) return { hubEpoch: epoch, revision, works: [], releaseHeldDeletions: true };
      if (signal?.aborted) return { hubEpoch: epoch, revision, works: [] };
      // A notification that found nothing new still answers (it may tell of something besides
      // the works: a deny, a removal, an adoption); a look again asked of every poll does not.
      if (attempt > 0 && !recheck) return { hubEpoch: epoch, revision, works: [] };
      const left = holdEnd - Date.now();
      if (left <= 0) return { hubEpoch: epoch, revision, works: [] };
      const end = await this.#d.notifier.wait(cluster.name, left, signal, mark);
      this.#stopping();
      if (end === false) return { hubEpoch: epoch, revision, works: [] };
      recheck = end === 'recheck';
    }
  }

  /**
   * A poll released because the hub is stopping is told when to come back (503 HUB_STOPPING
   * with Retry-After) instead of polling again at once: after about a restart (5 s, plus a
   * second per 1,000 polls that waited, about what the stop takes), spread so that they come
   * back at about reconnectPerSecond (a fleet of 1,000 over 3 s, 10,000 over 25 s), never all
   * in the same second.
   */
  #stopping(): void {
    const { notifier } = this.#d;
    if (!notifier.closed) return;
    const waited = notifier.waitingAtClose;
    const spread = Math.min(600, Math.ceil(waited / durations.reconnectPerSecond));
    const retryAfterSeconds =
      durations.stopComeBackMinSeconds + Math.ceil(waited / 1000) + Math.floor(this.#random() * (spread + 1));
    throw apiError('HUB_STOPPING', `the hub is stopping; poll again in ${retryAfterSeconds} s`, {
      retryAfterSeconds,
    });
  }

  #holdMs(req: SyncRequest): number {
    const asked = req.waitSeconds !== undefined ? Math.max(0, req.waitSeconds * 1000) : this.#d.maxWaitMs;
    const base = Math.min(asked, this.#d.maxWaitMs);
    return Math.round(base * (0.9 + 0.2 * this.#random()));
  }

  /** What the agent holds once it has taken the works we are about to send: the hub's works,
   *  but for those withheld, which it holds as it held them. */
  #inventoryNow(
    rows: readonly WorkRow[],
    before: Map<string, InventoryEntry>,
    withheld: ReadonlySet<string>,
  ): Map<string, InventoryEntry> {
    const next = new Map<string, InventoryEntry>();
    for (const w of rows) {
      const held = before.get(w.name);
      if (!withheld.has(w.name)) next.set(w.name, { uid: w.uid, generation: w.generation });
      else if (held) next.set(w.name, held);
    }
    return next;
  }

  /** The updates that bring the agent from `inventory` to the hub's works (`rows`); the names
   *  of works it may not be sent (it lacks a feature they need) go into `withheld`, and their
   *  rows into `warnings`. Reads only (it runs in the poll's transaction). */
  async #diff(
    rows: readonly WorkRow[],
    inventory: Map<string, InventoryEntry>,
    req: SyncRequest,
    withheld: Set<string>,
    warnings: WorkRow[],
  ): Promise<WorkUpdate[]> {
    const out: WorkUpdate[] = [];
    const executor = req.features?.includes(agentFeatures.executor) === true;
    for (const w of rows) {
      const held = inventory.get(w.name);
      const same = held?.uid === w.uid;
      if (w.deletionAt) {
        // A tombstone names the uid: an agent holding another work of that name ignores it.
        out.push({ ...this.#header(w), full: true, manifests: [], removed: [], deleting: true });
        continue;
      }
      if (same && held.generation === w.generation) continue;
      if (!executor && (w.spec as Pick<ManifestWorkSpec, 'executor'>).executor) {
        // An agent from before executors would apply it with its own rights, unchecked: it
        // keeps what it holds until it is upgraded (its first poll then sends an inventory).
        withheld.add(w.name);
        warnings.push(w);
        continue;
      }
      if (same && held.generation < w.generation) {
        const changed = await this.#d.store.works.changedSince(w.uid, held.generation);
        out.push({
          ...this.#header(w),
          full: false,
          manifests: manifestEntries(changed.filter((m) => m.hash !== '')),
          removed: changed.filter((m) => m.hash === '').map((m) => m.key),
        });
        continue;
      }
      out.push({
        ...this.#header(w),
        full: true,
        manifests: manifestEntries(await this.#d.store.works.manifests(w.uid)),
        removed: [],
      });
    }
    return out;
  }

  async #warnWithheld(cluster: string, rows: readonly WorkRow[]): Promise<void> {
    const agentVersion = (await this.#d.store.clusters.get(cluster))?.agentVersion;
    for (const w of rows) {
      this.#d.log.warn(
        { cluster, work: w.name, agentVersion },
        'work names an executor and the agent predates executors; not sent until the agent is upgraded',
      );
    }
  }

  #header(
    w: WorkRow,
  ): Pick<WorkUpdate, 'name' | 'uid' | 'generation' | 'deleteOption' | 'manifestConfigs' | 'executor'> {
    const spec = w.spec as Pick<ManifestWorkSpec, 'deleteOption' | 'manifestConfigs' | 'executor'>;
    const h: Pick<WorkUpdate, 'name' | 'uid' | 'generation' | 'deleteOption' | 'manifestConfigs' | 'executor'> = {
      name: w.name,
      uid: w.uid,
      generation: w.generation,
    };
    if (spec.deleteOption) h.deleteOption = spec.deleteOption;
    if (spec.manifestConfigs) h.manifestConfigs = spec.manifestConfigs;
    if (spec.executor) h.executor = spec.executor;
    return h;
  }

  /**
   * Stores a batch of status reports (validated and made text by prepareStatusBatch);
   * idempotent per work (a report at or below the stored sequence is skipped).
   */
  async status(cluster: ClusterRow, batch: PreparedStatusBatch): Promise<StatusAck> {
    // Parts of large statuses first, in small transactions (work/texts.ts).
    await saveTexts(
      this.#d.store,
      batch.reports.flatMap((r) => r.statusParts ?? []),
    );
    this.#d.presence.seen(cluster.name, new Date());
    let acked = 0;
    for (const r of batch.reports) acked = Math.max(acked, r.seq);
    // What the transaction did, known once it committed (its body may run again).
    const { purged, touched } = await this.#d.store.transaction(async () => {
      const purged: string[] = [];
      const touched: WorkRow[] = [];
      for (const r of batch.reports) {
        const w = await this.#d.store.works.get(cluster.name, r.work);
        // A report for a work the hub no longer has, or for an older work of that name, is
        // stored nowhere but still acknowledged: there is nothing it could update.
        if (!w || w.uid !== r.uid || r.seq <= w.statusSeq) continue;
        if (r.deleted && w.deletionAt) {
          await this.#d.store.works.purge(w.uid);
          purged.push(w.name);
          touched.push(w);
          continue;
        }
        const completed = completedAt(w.statusSummary, r, r.observedAt);
        await this.#d.store.works.setStatus(w.uid, storedStatus(r, completed), r.seq);
        touched.push(w);
      }
      if (touched.length) await this.#d.tellStatus?.(cluster.name, touched);
      return { purged, touched };
    });
    if (touched.length) {
      try {
        this.#d.onWorkStatus?.(cluster.name, touched);
      } catch (err) {
        this.#d.log.error({ err, cluster: cluster.name }, 'a work status listener failed');
      }
    }
    if (purged.length) {
      this.#d.log.info({ cluster: cluster.name, works: purged }, 'works deleted on the spoke');
      await this.#d.onWorksPurged?.(cluster.name);
    }
    return { ackedSeq: acked };
  }
}
