// run/: the agent's long-running loop (`outpost-agent run`). It heartbeats, renews the
// certificate and follows CA bundle changes. With work delivery on, each long-poll carries
// the heartbeat (heartbeatForPoll / pollAnswered), so the agent holds one connection to the
// hub and sends a heartbeat of its own only while no poll was answered for two heartbeat
// intervals (a long apply, a hub that does not answer them). Credentials change under a live process: a renewal or a new CA bundle
// swaps the hub client's connection pool, so the next request uses them without a restart.
// Failures never end the loop: they back off (full jitter, Retry-After) and try again, as
// a hub that is away for a day must find its agents coming back.
import { type HeartbeatRequest, type HeartbeatResponse, splitPemCertificates } from '@outpost/shared';
import type { Logger } from 'pino';
import { type CredentialStore, type Credentials, caBundleHash, certificateInfo } from '../credentials/index.ts';
import { AgentError } from '../errors.ts';
import { certReceivedAt, renewalTimeFor, renewCredentials, serialFraction } from '../renew/index.ts';
import { backoffDelay, jitter } from '../transport/backoff.ts';
import { HubClient, runningConnectTimeoutMs, type TrustMaterial } from '../transport/client.ts';
import { errorCode, isHubError } from '../transport/errors.ts';
import { fetchCaBundle, sendHeartbeat } from '../transport/hub-api.ts';
import { type Clock, systemClock } from '../transport/retry.ts';
import { agentVersion } from '../version.ts';

export type AgentEvent =
  | { type: 'heartbeat'; renewNow: boolean }
  | { type: 'renewed'; serial: string; notAfter: Date; reason: string }
  | { type: 'ca-bundle-updated'; hash: string }
  | { type: 'credentials-reloaded'; serial: string }
  | { type: 'error'; code: string; message: string; retryInMs: number };

export interface RunDeps {
  store: CredentialStore;
  log: Logger;
  heartbeatIntervalMs: number;
  signal: AbortSignal;
  clock?: Clock;
  /** The renewal draw per certificate serial (default: derived from the serial). */
  renewalDraw?: (serial: string) => number;
  onEvent?: (event: AgentEvent) => void;
  /** How long the hub may hold a poll (work delivery's --poll-wait): a poll answer is recent
   *  for at least that long (+10 %, +15 s), whatever the heartbeat interval. */
  pollWaitMs?: number;
  /** Told to the hub with every heartbeat: whether this agent applies works (false: heartbeat-only). */
  workDelivery?: boolean;
  /** The claims collected from the cluster (kube/claims.ts), undefined until known. */
  reportedClaims?: () => Record<string, string> | undefined;
  /** How long definitive revocations must last before the agent stops (default 30 s). */
  revokedGraceMs?: number;
  /** Told just before run() throws AGENT_REVOKED (work delivery stops first). */
  onRevoked?: () => void;
}

/** A heartbeat a poll carries (WorkSyncer's HeartbeatCarrier), with what the runtime needs back. */
export interface CarriedHeartbeat {
  readonly body: HeartbeatRequest;
  /** The certificate in use when it was made: a renewNow for an older one is stale. */
  readonly serial: string;
  readonly claimsText: string | undefined;
}

/** Reported claims go with a heartbeat when they changed, and at least this often. */
const claimsResendMs = 10 * 60_000;

/** Refusals that mean these credentials will not work until something changes. */
const credentialRefusals = new Set([
  'AGENT_CERT_REQUIRED',
  'AGENT_CERT_EXPIRED',
  'AGENT_CERT_REVOKED',
  'AGENT_NOT_ACCEPTED',
  'AGENT_IDENTITY_MISMATCH',
  'CLUSTER_NOT_FOUND',
  'AGENT_HUB_UNTRUSTED',
]);

/**
 * Revocations the hub's own records hold (details.reason of AGENT_CERT_REVOKED): the cluster
 * was denied or removed, or re-joined elsewhere with `join --recover`. When they last
 * revokedGraceMs (at least two answers) with nothing newer in the store, the agent stops
 * (AGENT_REVOKED) instead of retrying for ever; the grace lets a `join --recover` of this very
 * agent store its new credentials first. Never on a certificate the hub has no record of (a
 * replaced or restored database, where the agent keeps enforcing and waits for an admin), nor
 * on one superseded by a renewal.
 */
const definitiveRevocations = new Set(['denied', 'removed', 'recovered']);

/** The CAs of both bundles, each once: trust must not gap while the hub switches CA. */
export function unionBundle(a: string, b: string): string {
  const seen = new Set<string>();
  const out: string[] = [];
  for (const pem of [...splitPemCertificates(b), ...splitPemCertificates(a)]) {
    const key = pem.replace(/\s+/g, '');
    if (seen.has(key)) continue;
    seen.add(key);
    out.push(pem);
  }
  return out.join('');
}

function trustOf(creds: Credentials, extraCa: string | undefined): TrustMaterial {
  return {
    ca: extraCa ? unionBundle(extraCa, creds.caBundlePem) : creds.caBundlePem,
    identity: { keyPem: creds.keyPem, certPem: creds.certPem },
  };
}

/**
 * How old a poll's answer may be and still stand for a heartbeat: two heartbeat intervals,
 * and never less than a held poll may take (the poll wait + 10 %, + 15 s).
 */
export function recentAnswerMs(heartbeatIntervalMs: number, pollWaitMs = 0): number {
  return Math.max(2 * heartbeatIntervalMs, pollWaitMs * 1.1 + 15_000);
}

/**
 * How long the hub may stay silent before the agent counts it unreachable (its listener's
 * /readyz, outpost_agent_connected): past recentAnswerMs the runtime heartbeats on its own,
 * but only at its next step (a heartbeat interval, +20 % jitter) and within a request's
 * 30 s; a pause in polling while applies run must not read as an outage.
 */
export function hubSilenceMs(heartbeatIntervalMs: number, pollWaitMs = 0): number {
  return recentAnswerMs(heartbeatIntervalMs, pollWaitMs) + heartbeatIntervalMs * 1.2 + 30_000;
}

export async function loadCredentials(store: CredentialStore): Promise<Credentials> {
  const { credentials } = await store.load();
  if (!credentials) {
    throw new AgentError(
      'AGENT_NOT_JOINED',
      `no credentials in ${store.description}: run \`outpost-agent join\` first (with the same --kubeconfig/--namespace or --credentials-dir)`,
    );
  }
  return credentials;
}

export class AgentRuntime {
  readonly #d: RunDeps;
  readonly #clock: Clock;
  readonly #log: Logger;
  readonly #draw: (serial: string) => number;
  #creds: Credentials;
  #client: HubClient;
  /** The bundle before the latest change, trusted alongside the new one (this process only). */
  #previousBundle: string | undefined;
  #renewAt: number;
  #renewReason: string | undefined;
  #failures = 0;
  /** Definitive revocations heard in a row (definitiveRevocations), and since when. */
  #revocations = { count: 0, since: 0 };
  /** The reported claims last sent with a heartbeat the hub answered, and when. */
  #claimsSent: { text: string; at: number } | undefined;
  /** The newest heartbeat answer a poll brought, and whether a step has acted on it. */
  #polled: { at: number; answer: HeartbeatResponse; serial: string; acted: boolean } | undefined;
  /** Ends the loop's current sleep early (a poll's answer asks for something). */
  #wake: AbortController | undefined;
  /** An answer asked for something since the loop last slept (a wake during a step is kept). */
  #asked = false;

  constructor(deps: RunDeps, creds: Credentials) {
    this.#d = deps;
    this.#clock = deps.clock ?? systemClock;
    this.#draw = deps.renewalDraw ?? serialFraction;
    this.#creds = creds;
    this.#log = deps.log.child({ cluster: creds.hub.clusterName });
    this.#client = new HubClient(creds.hub.hubUrl, trustOf(creds, undefined), {
      connectTimeoutMs: runningConnectTimeoutMs,
      onCloseError: (err) => this.#log.debug({ err }, 'closing the previous hub connection failed'),
    });
    this.#renewAt = renewalTimeFor(creds.certPem, { draw: this.#draw, receivedAt: certReceivedAt(creds) });
  }

  get credentials(): Credentials {
    return this.#creds;
  }

  /** The live hub client; its credentials change under renewal, so callers ask each time. */
  get client(): HubClient {
    return this.#client;
  }

  get renewAt(): Date {
    return new Date(this.#renewAt);
  }

  #emit(event: AgentEvent): void {
    this.#d.onEvent?.(event);
  }

  /**
   * Runs until the signal aborts; never throws for hub or store failures, except
   * AGENT_REVOKED: the hub's records revoked this cluster (definitiveRevocations).
   */
  async run(): Promise<void> {
    const { signal } = this.#d;
    const info = certificateInfo(this.#creds.certPem);
    this.#log.info(
      { hub: this.#creds.hub.hubUrl, serial: info.serial, notAfter: info.notAfter, renewAt: this.renewAt },
      'agent running',
    );
    try {
      while (!signal.aborted) {
        let wait: number;
        // The step acts on what was asked so far; an ask during it keeps the next sleep short.
        this.#asked = false;
        try {
          wait = await this.#step();
          this.#failures = 0;
          this.#revocations.count = 0;
        } catch (err) {
          if (signal.aborted) break;
          wait = await this.#failed(err);
        }
        const wake = new AbortController();
        this.#wake = wake;
        if (this.#asked) {
          this.#asked = false;
          wait = 0;
        }
        try {
          await this.#clock.sleep(wait, AbortSignal.any([signal, wake.signal]));
        } catch {
          if (signal.aborted) break;
        }
      }
    } finally {
      await this.#client.close();
      this.#log.info('agent stopped');
    }
  }

  /** The heartbeat the next poll carries: version, delivery, and the claims when they changed. */
  heartbeatForPoll(): CarriedHeartbeat {
    const { body, claimsText } = this.#heartbeatBody();
    return { body, claimsText, serial: certificateInfo(this.#creds.certPem).serial };
  }

  /**
   * The hub answered a poll that carried `sent` (`answer` undefined: a hub that does not
   * answer heartbeats on polls; the runtime keeps sending its own). An answer that asks for
   * something (a new certificate, a new CA bundle) wakes the loop.
   */
  pollAnswered(sent: CarriedHeartbeat, answer: HeartbeatResponse | undefined): void {
    if (!answer) return;
    this.#heartbeatSent(sent.claimsText);
    this.#polled = { at: this.#clock.now(), answer, serial: sent.serial, acted: false };
    if (this.#asks(answer, sent.serial)) {
      this.#asked = true;
      this.#wake?.abort();
    }
  }

  /**
   * A poll failed. A refusal of this agent's credentials is the runtime's to handle (stop on a
   * revocation, adopt credentials a `join --recover` stored): the next step heartbeats on its
   * own, at once, and meets the refusal itself.
   */
  pollFailed(err: unknown): void {
    if (!credentialRefusals.has(errorCode(err))) return;
    this.#polled = undefined;
    this.#asked = true;
    this.#wake?.abort();
  }

  /** Whether a heartbeat answer for certificate `serial` asks for a renewal or a bundle fetch. */
  #asks(answer: HeartbeatResponse, serial: string): boolean {
    const current = certificateInfo(this.#creds.certPem).serial;
    return (answer.renewNow && serial === current) || answer.caBundleHash !== caBundleHash(this.#creds.caBundlePem);
  }

  #heartbeatBody(): { body: HeartbeatRequest; claimsText: string | undefined } {
    const claims = this.#d.reportedClaims?.();
    const claimsText = claims ? JSON.stringify(claims) : undefined;
    const sendClaims =
      claimsText !== undefined &&
      (claimsText !== this.#claimsSent?.text || this.#clock.now() - this.#claimsSent.at >= claimsResendMs);
    return {
      body: {
        agentVersion,
        ...(this.#d.workDelivery === undefined ? {} : { workDelivery: this.#d.workDelivery }),
        ...(sendClaims && claims ? { reportedClaims: claims } : {}),
      },
      claimsText: sendClaims ? claimsText : undefined,
    };
  }

  #heartbeatSent(claimsText: string | undefined): void {
    if (claimsText !== undefined) this.#claimsSent = { text: claimsText, at: this.#clock.now() };
  }

  /** One round: renew when due, heartbeat, follow the CA bundle. Returns ms until the next. */
  async #step(): Promise<number> {
    let renewed = false;
    if (this.#renewReason !== undefined || this.#clock.now() >= this.#renewAt) {
      await this.#renew(this.#renewReason ?? 'renewal time reached');
      renewed = true;
    }
    let hb: HeartbeatResponse;
    let renewAsked: boolean;
    const polled = this.#polled;
    const recentMs = recentAnswerMs(this.#d.heartbeatIntervalMs, this.#d.pollWaitMs);
    if (polled && this.#clock.now() - polled.at <= recentMs) {
      // A poll carried the heartbeat lately: its answer is acted on once.
      hb = polled.answer;
      renewAsked = !polled.acted && hb.renewNow && polled.serial === certificateInfo(this.#creds.certPem).serial;
      polled.acted = true;
    } else {
      const { body, claimsText } = this.#heartbeatBody();
      hb = await sendHeartbeat(this.#client, this.#creds.hub.clusterName, body, { signal: this.#d.signal });
      this.#heartbeatSent(claimsText);
      renewAsked = hb.renewNow;
      this.#emit({ type: 'heartbeat', renewNow: hb.renewNow });
      this.#log.debug({ renewNow: hb.renewNow }, 'heartbeat');
    }
    if (hb.caBundleHash !== caBundleHash(this.#creds.caBundlePem)) await this.#refreshBundle(hb.caBundleHash);
    // A hub that still says renewNow right after a renewal is not obeyed in a loop.
    if (renewAsked && !renewed) {
      this.#renewReason = 'the hub asked for a new certificate';
      return 0;
    }
    const next = jitter(this.#d.heartbeatIntervalMs, 0.2, () => this.#clock.random());
    return Math.max(0, Math.min(next, this.#renewAt - this.#clock.now()));
  }

  async #renew(reason: string): Promise<void> {
    const renewed = await renewCredentials(this.#client, this.#creds, { signal: this.#d.signal });
    const next = { ...renewed, hub: { ...renewed.hub, certReceivedAt: new Date(this.#clock.now()).toISOString() } };
    // Store first: a process killed right after must restart with the certificate the hub
    // now records as newest, not an older one.
    if (!(await this.#save(next))) return;
    this.#adopt(next);
    const info = certificateInfo(next.certPem);
    this.#log.info(
      { serial: info.serial, notAfter: info.notAfter, renewAt: this.renewAt, reason },
      'certificate renewed',
    );
    this.#emit({ type: 'renewed', serial: info.serial, notAfter: info.notAfter, reason });
  }

  async #refreshBundle(expectedHash: string): Promise<void> {
    const { caBundle } = await fetchCaBundle(this.#client, { signal: this.#d.signal });
    const previous = this.#creds.caBundlePem;
    const next = { ...this.#creds, caBundlePem: caBundle };
    if (!(await this.#save(next))) return;
    this.#previousBundle = previous;
    this.#adopt(next);
    const hash = caBundleHash(caBundle);
    this.#log.info({ hash, expected: expectedHash, cas: splitPemCertificates(caBundle).length }, 'CA bundle updated');
    this.#emit({ type: 'ca-bundle-updated', hash });
  }

  /**
   * Saves `next` unless someone else (a `join --recover`) replaced the stored credentials
   * meanwhile; then theirs are adopted instead and false is returned.
   */
  async #save(next: Credentials): Promise<boolean> {
    const stored = await this.#d.store.load();
    if (stored.credentials && stored.credentials.certPem !== this.#creds.certPem) {
      this.#adoptStored(stored.credentials);
      return false;
    }
    await this.#d.store.save({ ...stored, credentials: next });
    return true;
  }

  #adopt(next: Credentials): void {
    const certChanged = next.certPem !== this.#creds.certPem;
    this.#creds = next;
    this.#client.setTrust(trustOf(next, this.#previousBundle));
    if (certChanged) {
      this.#renewAt = renewalTimeFor(next.certPem, { draw: this.#draw, receivedAt: certReceivedAt(next) });
      this.#renewReason = undefined;
    }
  }

  #adoptStored(stored: Credentials): void {
    this.#revocations.count = 0;
    const serial = certificateInfo(stored.certPem).serial;
    this.#log.info({ serial }, 'the stored credentials were replaced by another process; using them');
    this.#previousBundle = undefined;
    this.#adopt(stored);
    this.#emit({ type: 'credentials-reloaded', serial });
  }

  async #failed(err: unknown): Promise<number> {
    this.#failures++;
    const code = errorCode(err);
    const message = err instanceof Error ? err.message : String(err);
    const retryAfterMs = isHubError(err) ? err.retryAfterMs : undefined;
    const wait = backoffDelay(this.#failures - 1, { retryAfterMs, random: () => this.#clock.random() });
    const expired = certificateInfo(this.#creds.certPem).notAfter.getTime() <= this.#clock.now();
    if (credentialRefusals.has(code) || expired) {
      // Maybe `join --recover` already fixed it in the store.
      const stored = await this.#d.store.load().catch(() => ({}) as { credentials?: Credentials });
      if (stored.credentials && stored.credentials.certPem !== this.#creds.certPem) {
        this.#adoptStored(stored.credentials);
        return 0;
      }
      const name = this.#creds.hub.clusterName;
      const reason = isHubError(err) ? (err.details as { reason?: unknown } | undefined)?.reason : undefined;
      if (code === 'AGENT_CERT_REVOKED' && typeof reason === 'string' && definitiveRevocations.has(reason)) {
        const r = this.#revocations;
        if (r.count++ === 0) r.since = this.#clock.now();
        if (r.count >= 2 && this.#clock.now() - r.since >= (this.#d.revokedGraceMs ?? 30_000)) {
          this.#d.onRevoked?.();
          throw new AgentError(
            'AGENT_REVOKED',
            `the hub revoked this cluster's certificate (${reason}); the agent stops. What it applied stays ` +
              `as it is. To manage ${name} again: on the hub \`outpost-hub cluster recover ${name}\`, then here ` +
              '`outpost-agent join --recover` with that token',
          );
        }
      } else this.#revocations.count = 0;
      // An untrusted hub is this agent refusing the hub (its CA is not the one pinned at join:
      // a hub rebuilt on a new database or PKI), not the hub refusing the agent.
      const what =
        code === 'AGENT_HUB_UNTRUSTED'
          ? `this agent does not trust the hub: ${message}. If the hub's CA changed for good, join again: ` +
            '`outpost-agent join --recover` with a token of that hub and its new --ca-cert-hash'
          : `the hub refuses this agent's credentials: ${message}. If this lasts, recover: on the hub run ` +
            `\`outpost-hub cluster recover ${name}\`, then here \`outpost-agent join --recover\` with that token`;
      this.#log.error({ code, retryInMs: Math.round(wait), expired }, what);
    } else {
      // Revocations must last in a row: any other answer starts the grace over.
      this.#revocations.count = 0;
      this.#log.warn({ code, retryInMs: Math.round(wait), failures: this.#failures }, message);
    }
    this.#emit({ type: 'error', code, message, retryInMs: wait });
    return wait;
  }
}

export async function createAgentRuntime(deps: RunDeps): Promise<AgentRuntime> {
  const creds = await loadCredentials(deps.store);
  return new AgentRuntime(deps, creds);
}
