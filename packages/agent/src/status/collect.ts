// Gathers what `outpost-agent status` prints, from what the agent stores: the credentials
// (cluster, hub, certificate, CA bundle), the durable state (works, ledgers, outbox, held
// deletions, the last answered poll) and, with a cluster, the Lease. The running agent's
// listener and the hub are asked only when the caller passes them in. Only missing or
// unusable credentials fail the whole; any other part that cannot be read is named in its
// section and the rest is still shown.
import { X509Certificate } from 'node:crypto';
import { caCertHash, splitPemCertificates } from '@outpost/shared';
import { type CredentialStore, type Credentials, certificateInfo, type PendingJoin } from '../credentials/index.ts';
import { AgentError } from '../errors.ts';
import { certReceivedAt, renewalTimeFor } from '../renew/index.ts';
import type { HubCheck } from './hub.ts';
import type { LeaseView } from './lease.ts';
import type { LiveAnswer, LiveStatus } from './live.ts';
import type { StatusState } from './state.ts';

export interface CaView {
  subject: string;
  /** `sha256:` of its public key: what `join --ca-cert-hash` pins. */
  pin: string;
  /** SHA-256 of the whole certificate, as openssl prints it. */
  fingerprint256: string;
  notBefore: string;
  notAfter: string;
  expired: boolean;
  /** One of the pins `join` was given. */
  pinnedAtJoin: boolean;
}

export interface WorkView {
  name: string;
  uid: string;
  generation: number;
  /** When the agent first held this work (absent for works stored by older agents). */
  receivedAt: string | null;
  /**
   * `pending`: stored, no apply recorded yet; `applied`: applied, its objects are in the
   * ledger; `deleting`: the hub deleted it and its objects are being deleted.
   */
  state: 'pending' | 'applied' | 'deleting';
  /** Objects in its ledger (what the agent applied and may delete); null before the first apply. */
  objects: number | null;
  /** Deletions of its objects held by the mass-delete breaker. */
  heldDeletions: number;
  /** Its latest status report when one still waits in the outbox; null once the hub has it. */
  unsentReport: {
    seq: number;
    generation: number;
    observedAt: string;
    conditions: { type: string; status: string; reason: string }[];
  } | null;
}

export interface AgentStatus {
  cluster: string;
  /** When this status was read (this machine's clock). */
  readAt: string;
  hub: {
    url: string;
    /** When the hub last answered a poll: the running agent's value, else the state's record. */
    lastPollAt: string | null;
    lastPollFrom: 'live' | 'state' | null;
    /** Whether the hub answers: from --check-hub, else the running agent; null when unknown. */
    reachable: boolean | null;
    reachableFrom: 'check' | 'live' | null;
    /** The --check-hub request's outcome; null without it. */
    check: (HubCheck & { epochMatchesState: boolean | null }) | null;
  };
  agent: {
    /** The listener asked (`--agent-url`); null when not asked. */
    url: string | null;
    running: boolean;
    /** The running agent's own answer; null when none answered. */
    live: LiveStatus | null;
    /** Why no live answer, when there is none. */
    reason: string | null;
  };
  credentials: { store: string; joinedAt: string | null; pins: string[] };
  certificate: {
    serial: string;
    commonName: string | null;
    notBefore: string;
    notAfter: string;
    /** Negative once expired. */
    secondsLeft: number;
    expired: boolean;
    /** When the agent received it: its renewal time counts from here. */
    receivedAt: string | null;
    /** When the agent renews it (earlier when the hub asks). */
    renewAt: string;
    renewDue: boolean;
  };
  caBundle: CaView[];
  leader: {
    /** `lease`: replicas compete for the Lease in the agent's namespace; `off`: no cluster to hold one. */
    election: 'lease' | 'off';
    /** The Lease as read; null when there is none, or without a cluster. */
    lease: LeaseView | null;
    /** The running agent's own word (leading, standby, off); null when none answered. */
    live: LiveStatus['leader'] | null;
    problem: string | null;
  };
  state: {
    /** Where the durable state is; null when this store keeps none. */
    store: string | null;
    hubEpoch: string | null;
    revision: number | null;
    /** The last answered poll as the state records it (saved at most every 5 minutes). */
    lastPollAt: string | null;
    /** Why it (or a part of it) could not be read, or why there is none. */
    problem: string | null;
  };
  works: WorkView[];
  outbox: {
    /** Reports in the stored outbox, waiting to be sent to the hub. */
    depth: number | null;
    /** The running agent's count, when it answered. */
    liveDepth: number | null;
    nextSeq: number | null;
    /** Highest sequence number the hub acknowledged. */
    acked: number | null;
  };
  heldDeletions: { work: string | null; workUid: string; objects: number; since: string }[];
}

export interface StatusSources {
  credentials: CredentialStore;
  /** The durable state, read-only; a string says why this store keeps none. */
  state: StatusState | string;
  /** Reads the Lease (undefined: none exists); absent without a cluster. */
  lease?: () => Promise<LeaseView | undefined>;
  /** Asks the running agent; absent when it is not to be asked. */
  live?: { url: string; ask: () => Promise<LiveAnswer> };
  /** Asks the hub's /readyz (--check-hub). */
  checkHub?: (creds: Credentials) => Promise<HubCheck>;
  now?: () => number;
}

function notJoined(where: string, pending: PendingJoin | undefined): AgentError {
  const waiting = pending
    ? ` A join for cluster ${pending.clusterName} at ${pending.hubUrl} is waiting for approval (registration ${pending.registrationId}${pending.createdAt ? ` since ${pending.createdAt}` : ''}); run the same join again to resume it.`
    : ' Run `outpost-agent join` first (with the same --kubeconfig/--namespace or --credentials-dir).';
  return new AgentError('AGENT_NOT_JOINED', `no credentials in ${where}: this agent has not joined a hub.${waiting}`);
}

/**
 * When the agent renews `creds`' certificate: the runtime's own rule (renewalTimeFor with the
 * draw taken from the serial, counted from receipt), so status and agent never disagree.
 */
export function plannedRenewal(creds: Credentials): number {
  return renewalTimeFor(creds.certPem, { receivedAt: certReceivedAt(creds) });
}

function caViews(creds: Credentials, now: number): CaView[] {
  const pins = new Set(creds.hub.caCertHashes.length ? creds.hub.caCertHashes : [creds.hub.caCertHash]);
  const out: CaView[] = [];
  for (const pem of splitPemCertificates(creds.caBundlePem)) {
    try {
      const cert = new X509Certificate(pem);
      const pin = caCertHash(pem);
      const notAfter = new Date(cert.validTo);
      out.push({
        subject: cert.subject.split('\n').join(', '),
        pin,
        fingerprint256: cert.fingerprint256,
        notBefore: new Date(cert.validFrom).toISOString(),
        notAfter: notAfter.toISOString(),
        expired: notAfter.getTime() <= now,
        pinnedAtJoin: pins.has(pin),
      });
    } catch {
      // Not parseable: shown as such rather than dropped, so the count stays true.
      out.push({
        subject: '(unreadable certificate)',
        pin: '',
        fingerprint256: '',
        notBefore: '',
        notAfter: '',
        expired: false,
        pinnedAtJoin: false,
      });
    }
  }
  return out;
}

const message = (err: unknown) => (err instanceof Error ? err.message : String(err));

async function settle<T>(p: Promise<T>): Promise<{ ok: true; value: T } | { ok: false; error: string }> {
  try {
    return { ok: true, value: await p };
  } catch (err) {
    return { ok: false, error: message(err) };
  }
}

export async function collectStatus(src: StatusSources): Promise<AgentStatus> {
  const now = (src.now ?? Date.now)();
  const stored = await src.credentials.load();
  const creds = stored.credentials;
  if (!creds) throw notJoined(src.credentials.description, stored.pending);

  const stateSource = src.state;
  const [snap, lease, live, check] = await Promise.all([
    typeof stateSource === 'string' ? undefined : settle(stateSource.store.load()),
    src.lease ? settle(src.lease()) : undefined,
    src.live?.ask(),
    src.checkHub?.(creds),
  ]);

  const info = certificateInfo(creds.certPem);
  const renewAt = plannedRenewal(creds);
  // Another agent may answer on that address (another cluster's, a dev agent): its word is
  // not this one's. A standby has loaded no credentials and says nothing of the hub.
  const answered = live?.running ? live.live : null;
  const other =
    answered &&
    answered.cluster !== null &&
    (answered.cluster !== creds.hub.clusterName || answered.hubUrl !== creds.hub.hubUrl);
  const liveStatus = answered && !other ? answered : null;
  const liveReason = other
    ? `the agent answering at ${src.live?.url} serves cluster ${answered.cluster} of ${answered.hubUrl}, not this one`
    : live && !live.running
      ? live.reason
      : null;
  /** The running agent's word on the hub and the outbox: only from one that talks to the hub. */
  const hubWord = liveStatus && liveStatus.leader !== 'standby' ? liveStatus : null;

  // The durable state.
  const state: AgentStatus['state'] = {
    store: typeof stateSource === 'string' ? null : stateSource.store.description,
    hubEpoch: null,
    revision: null,
    lastPollAt: null,
    problem: typeof stateSource === 'string' ? stateSource : null,
  };
  const works: WorkView[] = [];
  const outbox: AgentStatus['outbox'] = {
    depth: null,
    liveDepth: hubWord?.outboxDepth ?? null,
    nextSeq: null,
    acked: null,
  };
  const heldDeletions: AgentStatus['heldDeletions'] = [];
  if (snap && typeof stateSource !== 'string') {
    if (!snap.ok) state.problem = `cannot read the state in ${stateSource.store.description}: ${snap.error}`;
    else {
      const s = snap.value;
      const store = stateSource.store;
      state.hubEpoch = s.hubEpoch ?? null;
      state.revision = s.revision;
      state.lastPollAt = store.polledAt ?? null;
      if (stateSource.warnings.length) state.problem = stateSource.warnings.join('; ');
      const pending = store.outbox.pending(Number.MAX_SAFE_INTEGER);
      outbox.depth = store.outbox.depth();
      outbox.nextSeq = store.outbox.nextSeq ?? null;
      outbox.acked = store.outbox.doc?.acked ?? null;
      const nameByUid = new Map([...s.works.values()].map((w) => [w.uid, w.name]));
      for (const h of s.heldDeletions) {
        heldDeletions.push({
          work: nameByUid.get(h.workUid) ?? null,
          workUid: h.workUid,
          objects: h.objects.length,
          since: h.since,
        });
      }
      for (const w of [...s.works.values()].sort((a, b) => a.name.localeCompare(b.name))) {
        const ledger = s.ledger.get(w.uid);
        const report = pending.filter((r) => r.uid === w.uid).at(-1);
        works.push({
          name: w.name,
          uid: w.uid,
          generation: w.generation,
          receivedAt: w.receivedAt ?? null,
          state: w.deleting ? 'deleting' : ledger ? 'applied' : 'pending',
          objects: ledger ? ledger.length : null,
          heldDeletions: heldDeletions.filter((h) => h.workUid === w.uid).reduce((n, h) => n + h.objects, 0),
          unsentReport: report
            ? {
                seq: report.seq,
                generation: report.generation,
                observedAt: report.observedAt,
                conditions: report.status.conditions.map((c) => ({ type: c.type, status: c.status, reason: c.reason })),
              }
            : null,
        });
      }
    }
  }

  // Who leads.
  const leader: AgentStatus['leader'] = {
    election: src.lease ? 'lease' : 'off',
    lease: null,
    live: liveStatus?.leader ?? null,
    problem: null,
  };
  if (lease?.ok) leader.lease = lease.value ?? null;
  else if (lease) leader.problem = lease.error;

  // The hub: the freshest word on reachability and the last answered poll.
  // The running leader's own word once it heard the hub (it saves what it heard, a moment
  // later and at most every 5 minutes); the stored one while it has not yet (just started).
  const fromLive = Boolean(hubWord?.lastPollAt);
  const lastPollAt = fromLive ? (hubWord?.lastPollAt ?? null) : state.lastPollAt;
  const hub: AgentStatus['hub'] = {
    url: creds.hub.hubUrl,
    lastPollAt,
    lastPollFrom: fromLive ? 'live' : lastPollAt ? 'state' : null,
    reachable: check ? check.reachable : hubWord ? hubWord.connected : null,
    reachableFrom: check ? 'check' : hubWord ? 'live' : null,
    check: check
      ? { ...check, epochMatchesState: check.epoch && state.hubEpoch ? check.epoch === state.hubEpoch : null }
      : null,
  };

  return {
    cluster: creds.hub.clusterName,
    readAt: new Date(now).toISOString(),
    hub,
    agent: {
      url: src.live?.url ?? null,
      running: liveStatus !== null,
      live: liveStatus,
      reason: liveReason,
    },
    credentials: {
      store: src.credentials.description,
      joinedAt: creds.hub.joinedAt || null,
      pins: creds.hub.caCertHashes,
    },
    certificate: {
      serial: info.serial,
      commonName: info.commonName ?? null,
      notBefore: info.notBefore.toISOString(),
      notAfter: info.notAfter.toISOString(),
      secondsLeft: Math.floor((info.notAfter.getTime() - now) / 1000),
      expired: info.notAfter.getTime() <= now,
      receivedAt: creds.hub.certReceivedAt ?? null,
      renewAt: new Date(renewAt).toISOString(),
      renewDue: renewAt <= now,
    },
    caBundle: caViews(creds, now),
    leader,
    state,
    works,
    outbox,
    heldDeletions,
  };
}
