// Trust and registration, the domain: bootstrap-token joins, approval, denial, removal,
// recovery, renewal, heartbeats and CA rotation. Routes call this; it calls the store and
// the PKI. Signing is async (WebCrypto), so certificates are made before the store
// transaction that records them, and discarded if that transaction refuses: a transaction
// body awaits nothing but store operations, and may run again (PostgreSQL), so it neither
// signs nor logs nor changes what is kept in memory; that happens after it committed.

import { createHash, randomBytes, randomUUID } from 'node:crypto';
import {
  apiError,
  bootstrapTokenPattern,
  type HeartbeatRequest,
  type HeartbeatResponse,
  isDns1123Label,
  labelErrors,
  limits,
  type RegistrationView,
  type RenewResponse,
} from '@outpost/shared';
import type { Logger } from 'pino';
import { secretMatches } from '../auth/index.ts';
import { type HubPki, type IssuedCertificate, inspectCsr, signAgentCertificate } from '../pki/index.ts';
import { clusterSetLabel } from '../placement/cluster-sets.ts';
import type { BootstrapTokenRow, ClusterRow, RegistrationRow, Store } from '../store/index.ts';
import { createBootstrapToken } from './bootstrap-tokens.ts';
import { FailureThrottle } from './throttle.ts';

export interface TrustDeps {
  store: Store;
  log: Logger;
  /** The current PKI; replaced by the rotation functions below. */
  pki: () => HubPki;
  rotateCa: () => Promise<HubPki>;
  /** Retires the CA `id` (the previous one); false when another hub retired it first. */
  retireCa: (id: string) => Promise<boolean>;
  certValidityMs: number;
  now?: () => Date;
  /** Notes that a cluster's agent was heard from (the hub batches these writes); default: a
   *  store write per heartbeat. */
  seen?: (cluster: string, at: Date) => void;
}

export interface RegisterBody {
  token: string;
  clusterName: string;
  csr: string;
  labels: Record<string, string>;
  claims: Record<string, string>;
  agentVersion: string | null;
}

function claimErrors(claims: unknown): string[] {
  if (claims === undefined) return [];
  if (claims === null || typeof claims !== 'object' || Array.isArray(claims)) return ['claims must be an object'];
  const entries = Object.entries(claims);
  const problems: string[] = [];
  if (entries.length > limits.claimsPerCluster) problems.push(`at most ${limits.claimsPerCluster} claims`);
  for (const [k, v] of entries.slice(0, limits.claimsPerCluster + 1)) {
    if (k.length === 0 || k.length > 253) problems.push('claim names must be 1-253 characters');
    if (typeof v !== 'string' || v.length > limits.claimValueMax) {
      problems.push(
        `claim ${JSON.stringify(k.slice(0, 80))}: value must be a string of at most ${limits.claimValueMax} characters`,
      );
    }
  }
  return problems;
}

/**
 * The claims an agent read from its cluster, in the same bounds as claims set at join; a
 * map that breaks them is dropped (and logged), the heartbeat still counts.
 */
function reportedClaimsOf(
  value: unknown,
  log: { warn(obj: object, msg: string): void },
  cluster: string,
): Record<string, string> | undefined {
  if (value === undefined) return undefined;
  const problems = claimErrors(value);
  if (problems.length === 0) return value as Record<string, string>;
  log.warn({ cluster, problems: problems.slice(0, 5) }, 'reported claims refused');
  return undefined;
}

export function parseRegisterBody(body: unknown): RegisterBody {
  if (!body || typeof body !== 'object' || Array.isArray(body))
    throw apiError('BODY_MALFORMED', 'body must be a JSON object');
  const b = body as Record<string, unknown>;
  if (typeof b.token !== 'string') throw apiError('HUB_TOKEN_MALFORMED', 'token must be a string ID.SECRET');
  if (typeof b.clusterName !== 'string') throw apiError('CLUSTER_NAME_INVALID', 'clusterName must be a string');
  if (typeof b.csr !== 'string') throw apiError('CSR_MALFORMED', 'csr must be a PEM string');
  const problems = [...labelErrors(b.labels, limits.labelsPerObject), ...claimErrors(b.claims)];
  if (b.agentVersion !== undefined && (typeof b.agentVersion !== 'string' || b.agentVersion.length > 64)) {
    problems.push('agentVersion must be a string of at most 64 characters');
  }
  if (problems.length) throw apiError('VALIDATION_FAILED', problems.join('; '), { problems });
  return {
    token: b.token,
    clusterName: b.clusterName,
    csr: b.csr,
    labels: (b.labels as Record<string, string> | undefined) ?? {},
    claims: (b.claims as Record<string, string> | undefined) ?? {},
    agentVersion: (b.agentVersion as string | undefined) ?? null,
  };
}

export function checkClusterName(name: string): void {
  if (!isDns1123Label(name)) {
    throw apiError(
      'CLUSTER_NAME_INVALID',
      `cluster name ${JSON.stringify(name.slice(0, 100))}${name.length > 100 ? '…' : ''} must be a DNS-1123 label: ` +
        'at most 63 characters of a-z, 0-9 and "-", starting and ending with a letter or digit',
    );
  }
}

const pollSeconds = 2;

/** Why a certificate was revoked when a newer one of its cluster took over. */
export const supersededReason = 'superseded';

export class TrustService {
  readonly #d: TrustDeps;
  readonly #now: () => Date;
  /** Per cluster, the newest certificate already seen in use (see certificateUsed). */
  readonly #usedSerials = new Map<string, string>();
  readonly throttle = new FailureThrottle();

  constructor(deps: TrustDeps) {
    this.#d = deps;
    this.#now = deps.now ?? (() => new Date());
  }

  get #store(): Store {
    return this.#d.store;
  }

  caBundle(): string {
    return this.#d.pki().caBundlePem;
  }

  /**
   * The hashes a joiner should pin: the signing CA and, during a rotation, the previous one,
   * which still signs the serving certificate until it is retired.
   */
  pinHashes(): string[] {
    const pki = this.#d.pki();
    return pki.previous ? [pki.signing.hash, pki.previous.hash] : [pki.signing.hash];
  }

  /** Every poll's answer carries it: hashed once per bundle, not per poll. */
  #bundleHash: { bundle: string; hash: string } | undefined;

  caBundleHash(): string {
    const bundle = this.caBundle();
    if (this.#bundleHash?.bundle !== bundle) {
      this.#bundleHash = { bundle, hash: `sha256:${createHash('sha256').update(bundle).digest('hex')}` };
    }
    return this.#bundleHash.hash;
  }

  async #issue(
    cluster: string,
    csrPem: string,
    csrKey?: Awaited<ReturnType<typeof inspectCsr>>,
  ): Promise<IssuedCertificate> {
    const inspected = csrKey ?? (await inspectCsr(csrPem, cluster));
    return signAgentCertificate(
      this.#d.pki().signing,
      cluster,
      inspected.publicKey,
      this.#d.certValidityMs,
      this.#now().getTime(),
    );
  }

  async #recordCertificate(cluster: string, issued: IssuedCertificate, at: string): Promise<void> {
    await this.#store.certificates.insert({
      serial: issued.serial,
      clusterName: cluster,
      caHash: issued.caHash,
      certPem: issued.certPem,
      notBefore: issued.notBefore.toISOString(),
      notAfter: issued.notAfter.toISOString(),
      issuedAt: at,
    });
  }

  /** POST /agent/v1/registrations. `source` is the caller's address, for throttling. */
  async register(body: unknown, source: string): Promise<RegistrationView> {
    const now = this.#now();
    const wait = this.throttle.waitMs(source, now.getTime());
    if (wait > 0) {
      throw apiError('HUB_TOO_MANY_ATTEMPTS', 'too many wrong bootstrap tokens from this address; wait and retry', {
        retryAfterSeconds: Math.ceil(wait / 1000),
      });
    }
    const req = parseRegisterBody(body);
    const m = bootstrapTokenPattern.exec(req.token);
    if (!m) {
      this.throttle.fail(source, now.getTime());
      throw apiError('HUB_TOKEN_MALFORMED', 'token must look like abcdef.0123456789abcdef (ID.SECRET)');
    }
    const [, id, secret] = m as unknown as [string, string, string];
    const token = await this.#store.bootstrapTokens.get(id);
    // Checked again after the read, in the same turn as the comparison and the failure it
    // may note: requests of a burst all pass the first check before any has failed.
    const waitNow = this.throttle.waitMs(source, now.getTime());
    if (waitNow > 0) {
      throw apiError('HUB_TOO_MANY_ATTEMPTS', 'too many wrong bootstrap tokens from this address; wait and retry', {
        retryAfterSeconds: Math.ceil(waitNow / 1000),
      });
    }
    if (!secretMatches(secret, token?.secretHash) || !token) {
      this.throttle.fail(source, now.getTime());
      await this.#store.audit.append({
        at: now.toISOString(),
        actor: `bootstrap-token:${id}`,
        action: 'cluster.register',
        resource: `clusters/${req.clusterName.slice(0, 63)}`,
        result: 'HUB_TOKEN_INVALID',
        details: { source },
      });
      throw apiError('HUB_TOKEN_INVALID', 'the bootstrap token is not valid');
    }
    // Before the name is looked up anywhere: no store reads a name that is not one.
    checkClusterName(req.clusterName);
    // A retried POST whose answer was lost (same token, name and CSR) gets the registration
    // it already made, not HUB_TOKEN_EXHAUSTED or CLUSTER_EXISTS.
    const retried = await this.#store.registrations.same(req.clusterName, id, req.csr);
    if (retried) {
      this.throttle.succeed(source);
      return this.registrationView(retried);
    }
    if (token.revokedAt) throw apiError('HUB_TOKEN_REVOKED', `bootstrap token ${id} was revoked at ${token.revokedAt}`);
    if (Date.parse(token.expiresAt) <= now.getTime()) {
      throw apiError('HUB_TOKEN_EXPIRED', `bootstrap token ${id} expired at ${token.expiresAt}`);
    }
    if (token.usageCount >= token.usageLimit) {
      throw apiError('HUB_TOKEN_EXHAUSTED', `bootstrap token ${id} was already used ${token.usageCount} time(s)`);
    }
    const name = req.clusterName;
    const recovery = token.boundCluster !== null;
    if (recovery && token.boundCluster !== name) {
      throw apiError(
        'HUB_TOKEN_WRONG_CLUSTER',
        `this recovery token is for cluster ${token.boundCluster}, not ${name}`,
      );
    }
    const existing = await this.#store.clusters.get(name);
    if (recovery && !existing) throw apiError('CLUSTER_NOT_FOUND', `cluster ${name} does not exist on this hub`);
    if (!recovery && existing) {
      throw apiError(
        'CLUSTER_EXISTS',
        `a cluster named ${name} is already registered; to re-join it, an admin runs \`outpost-hub cluster recover ${name}\``,
      );
    }
    if (existing?.denied) throw apiError('CLUSTER_DENIED', `cluster ${name} was denied by an admin`);

    const inspected = await inspectCsr(req.csr, name);
    const approve = token.autoApprove || recovery;
    const issued = approve ? await this.#issue(name, req.csr, inspected) : undefined;
    const at = now.toISOString();
    const registrationId = randomBytes(24).toString('base64url');

    // The token's use is counted on its own, just before the join's transaction, and given
    // back when the join does not go through: every join with one token (a rack of
    // machines) writes that one row, and on PostgreSQL a transaction holding the write would
    // lose a serialisation race to every join it overlaps. A hub killed in between, or a
    // database that fails the give-back, leaves one use counted too many (logged).
    const giveBack = () =>
      this.#store.bootstrapTokens.unuse(id).catch((err: unknown) => {
        this.#d.log.warn({ err, token: id }, 'giving back a bootstrap token use failed; it counts one use too many');
      });
    const { registration, again } = await this.#oneAtATime(async () => {
      // The same POST, retried while this one waited its turn, may have gone through: its
      // registration is the answer, and it counts no use.
      const same = await this.#store.registrations.same(name, id, req.csr);
      if (same) return { registration: same, again: true };
      if (!(await this.#store.bootstrapTokens.use(id, at))) {
        // Checked above; used up, revoked or expired while the CSR was signed.
        throw apiError('HUB_TOKEN_EXHAUSTED', `bootstrap token ${id} was used up, revoked or expired`);
      }
      let out: { registration: RegistrationRow; again: boolean };
      try {
        out = await this.#register(req, { name, id, token, recovery, approve, issued, at, registrationId, source });
      } catch (err) {
        await giveBack();
        throw err;
      }
      // Another hub's commit of the same POST came first (its use stands, this one's goes).
      if (out.again) await giveBack();
      return out;
    });
    // Only a join that went through forgives earlier wrong secrets: a leaked revoked or
    // expired token must not reset the throttle.
    this.throttle.succeed(source);
    if (!again) this.#d.log.info({ cluster: name, state: registration.state, recovery }, 'registration');
    return this.registrationView(registration);
  }

  /** The join transaction under way on this hub (the next waits for it). */
  #joining: Promise<unknown> = Promise.resolve();

  /**
   * Runs join transactions one after another on this hub; what comes before them (checks,
   * the CSR's inspection and signing) runs side by side. On PostgreSQL, joins that overlap
   * read and write the same index pages (registrations, clusters, certificates) and lose
   * serialisation races to each other, each loss a rollback and a run again: a burst of
   * joins went faster one at a time. On SQLite they are one at a time anyway.
   */
  #oneAtATime<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.#joining.then(fn, fn);
    this.#joining = run.catch(() => undefined);
    return run;
  }

  /** The join's transaction: the registration, the cluster, the certificate, the audit row. */
  #register(
    req: RegisterBody,
    j: {
      name: string;
      id: string;
      token: BootstrapTokenRow;
      recovery: boolean;
      approve: boolean;
      issued: IssuedCertificate | undefined;
      at: string;
      registrationId: string;
      source: string;
    },
  ): Promise<{ registration: RegistrationRow; again: boolean }> {
    const { name, id, token, recovery, approve, issued, at, registrationId, source } = j;
    return this.#store.transaction(async () => {
      // The same POST, retried while this one signed, may have committed first: its
      // registration is the answer (the certificate signed here is discarded).
      const same = await this.#store.registrations.same(name, id, req.csr);
      if (same) return { registration: same, again: true };
      if (recovery) {
        const cluster = await this.#store.clusters.get(name);
        if (!cluster) throw apiError('CLUSTER_NOT_FOUND', `cluster ${name} does not exist on this hub`);
        // Denied while the CSR was signed: the deny stands.
        if (cluster.denied) throw apiError('CLUSTER_DENIED', `cluster ${name} was denied by an admin`);
        // The old key may be lost or compromised: nothing issued before recovery stays valid.
        await this.#store.certificates.revokeAllFor(name, at, 'recovered');
        for (const r of await this.#store.registrations.pendingFor(name)) {
          await this.#store.registrations.decide({
            id: r.id,
            state: 'Denied',
            message: 'superseded by recovery',
            certificateSerial: null,
            decidedAt: at,
          });
        }
        await this.#store.clusters.update({
          ...cluster,
          hubAcceptsClient: true,
          denied: false,
          joinedAt: at,
          claims: Object.keys(req.claims).length ? req.claims : cluster.claims,
          agentVersion: req.agentVersion ?? cluster.agentVersion,
        });
      } else {
        if (await this.#store.clusters.get(name))
          throw apiError('CLUSTER_EXISTS', `a cluster named ${name} is already registered`);
        // A cluster set is an access boundary (OCM asks for managedclustersets/join to set
        // its label): a spoke may not put itself into one; the token or an admin may.
        if (req.labels[clusterSetLabel] !== undefined && token.labels[clusterSetLabel] === undefined) {
          throw apiError(
            'CLUSTER_SET_LABEL_FORBIDDEN',
            `a joining cluster may not set ${clusterSetLabel} itself: put it in the bootstrap token's labels (token create --labels) or set it with cluster label`,
          );
        }
        // The admin's token labels win over what the spoke asks for.
        await this.#store.clusters.insert({
          name,
          uid: randomUUID(),
          labels: { ...req.labels, ...token.labels },
          hubAcceptsClient: approve,
          claims: req.claims,
          agentVersion: req.agentVersion,
          createdAt: at,
        });
        if (approve) {
          const c = (await this.#store.clusters.get(name)) as ClusterRow;
          await this.#store.clusters.update({ ...c, joinedAt: at });
        }
      }
      await this.#store.registrations.insert({
        id: registrationId,
        clusterName: name,
        tokenId: id,
        csrPem: req.csr,
        state: 'Pending',
        createdAt: at,
      });
      if (issued) {
        await this.#recordCertificate(name, issued, at);
        await this.#store.registrations.decide({
          id: registrationId,
          state: 'Approved',
          message: null,
          certificateSerial: issued.serial,
          decidedAt: at,
        });
      }
      await this.#store.audit.append({
        at,
        actor: `bootstrap-token:${id}`,
        action: recovery ? 'cluster.recover' : 'cluster.register',
        resource: `clusters/${name}`,
        result: issued ? 'Approved' : 'Pending',
        details: { source, registration: registrationId },
      });
      return { registration: (await this.#store.registrations.get(registrationId)) as RegistrationRow, again: false };
    });
  }

  async registrationView(r: RegistrationRow): Promise<RegistrationView> {
    const view: RegistrationView = { id: r.id, clusterName: r.clusterName, state: r.state };
    if (r.state === 'Approved' && r.certificateSerial) {
      const cert = await this.#store.certificates.get(r.certificateSerial);
      if (cert) view.certificate = cert.certPem;
      view.caBundle = this.caBundle();
    }
    if (r.state === 'Pending') {
      view.retryAfterSeconds = pollSeconds;
      view.message = `waiting for an admin: outpost-hub cluster approve ${r.clusterName}`;
    }
    if (r.message) view.message = r.message;
    return view;
  }

  async getRegistration(id: string): Promise<RegistrationView> {
    const r = id.length <= 64 ? await this.#store.registrations.get(id) : undefined;
    if (!r) throw apiError('REGISTRATION_NOT_FOUND', 'no such registration');
    return this.registrationView(r);
  }

  async #cluster(name: string): Promise<ClusterRow> {
    const c = await this.#store.clusters.get(name);
    if (!c) throw apiError('CLUSTER_NOT_FOUND', `cluster ${JSON.stringify(name.slice(0, 100))} not found`);
    return c;
  }

  /** Accepts the cluster and signs its pending registrations (OCM's double opt-in in one step). */
  async approve(name: string): Promise<ClusterRow> {
    await this.#cluster(name);
    const pending = await this.#store.registrations.pendingFor(name);
    // Signed before the transaction (signing is async); what it no longer finds pending
    // (decided meanwhile) is discarded.
    const issued = new Map<string, IssuedCertificate>();
    for (const r of pending) issued.set(r.id, await this.#issue(name, r.csrPem));
    const at = this.#now().toISOString();
    return this.#store.transaction(async () => {
      const c = await this.#cluster(name);
      let joined = c.joinedAt;
      for (const r of await this.#store.registrations.pendingFor(name)) {
        const cert = issued.get(r.id);
        if (!cert) continue; // arrived after we started; the next approve signs it
        await this.#recordCertificate(name, cert, at);
        await this.#store.registrations.decide({
          id: r.id,
          state: 'Approved',
          message: null,
          certificateSerial: cert.serial,
          decidedAt: at,
        });
        joined = at;
      }
      return this.#store.clusters.update({ ...c, hubAcceptsClient: true, denied: false, joinedAt: joined });
    });
  }

  /** Refuses the cluster: pending joins are denied and every certificate is revoked. */
  async deny(name: string): Promise<ClusterRow> {
    const at = this.#now().toISOString();
    return this.#store.transaction(async () => {
      const c = await this.#cluster(name);
      for (const r of await this.#store.registrations.pendingFor(name)) {
        await this.#store.registrations.decide({
          id: r.id,
          state: 'Denied',
          message: 'denied by an admin',
          certificateSerial: null,
          decidedAt: at,
        });
      }
      await this.#store.certificates.revokeAllFor(name, at, 'denied');
      await this.#store.bootstrapTokens.revokeBoundTo(name, at);
      return this.#store.clusters.update({ ...c, hubAcceptsClient: false, denied: true });
    });
  }

  /**
   * Removes the cluster. With works and without `force`, the removal waits for the agent:
   * every work is marked for deletion (each under its own delete policy) and the cluster
   * stays, still trusted, until the agent has reported every work gone; then it is
   * forgotten. An agent that is offline finds the decision waiting when it returns. With
   * `force`, or without works, the cluster is forgotten at once and its certificates are
   * revoked (whatever the agent applied stays on the spoke). A waiting removal answers the
   * cluster as it committed it (it may be gone by the time another read would be made).
   */
  async remove(
    name: string,
    opts: { force?: boolean } = {},
  ): Promise<{ outcome: 'Removed' } | { outcome: 'Removing'; cluster: ClusterRow }> {
    const at = this.#now().toISOString();
    return this.#store.transaction(async () => {
      const c = await this.#cluster(name);
      if (!opts.force && (await this.#store.works.count(name)) > 0) {
        await this.#store.works.markAllDeleted(name, at);
        const cluster = c.removalRequestedAt ? c : await this.#store.clusters.update({ ...c, removalRequestedAt: at });
        return { outcome: 'Removing' as const, cluster };
      }
      await this.#store.works.purgeCluster(name);
      await this.#store.certificates.revokeAllFor(name, at, 'removed');
      await this.#store.bootstrapTokens.revokeBoundTo(name, at);
      await this.#store.registrations.deleteFor(name);
      await this.#store.clusters.delete(name);
      return { outcome: 'Removed' as const };
    });
  }

  /** Finishes a waiting removal once the agent deleted the cluster's last work. */
  async finishRemovalIfDrained(name: string): Promise<boolean> {
    // Checked and done in one transaction: a work added after the check would be purged.
    const done = await this.#store.transaction(async () => {
      const c = await this.#store.clusters.get(name);
      if (!c?.removalRequestedAt || (await this.#store.works.count(name)) > 0) return false;
      await this.remove(name, { force: true });
      return true;
    });
    if (done) this.#d.log.info({ cluster: name }, 'cluster removed: the agent deleted every work');
    return done;
  }

  /** A single-use token bound to `name` that lets its agent re-join with a new key. */
  async recover(name: string, actor: string, ttl?: string): Promise<{ token: string; expiresAt: string }> {
    const now = this.#now();
    // A deny committed between the check and the insert would leave a live recovery token
    // for a denied cluster (deny revokes only the tokens that exist when it runs).
    const { row, token } = await this.#store.transaction(async () => {
      const c = await this.#cluster(name);
      if (c.denied) throw apiError('CLUSTER_DENIED', `cluster ${name} is denied; approve it before recovering it`);
      return createBootstrapToken(
        this.#store,
        { ttl: ttl ?? '24h', usageLimit: 1, autoApprove: true, description: `recovery of cluster ${name}` },
        actor,
        now,
        name,
      );
    });
    return { token, expiresAt: row.expiresAt };
  }

  /** POST /agent/v1/clusters/{name}/certificate: a new certificate for a new key. */
  /**
   * POST …/certificate. A cluster holds at most two valid certificates: the one it renews
   * with and the new one. Any other (say, issued by an earlier renewal whose answer was
   * lost) is revoked here; the one renewed with goes once the new one is used
   * (certificateUsed).
   */
  async renew(name: string, csrPem: unknown, callerSerial?: string): Promise<RenewResponse> {
    const issued = await this.#issue(name, csrPem as string);
    const at = this.#now().toISOString();
    await this.#store.transaction(async () => {
      await this.#cluster(name);
      if (callerSerial) await this.#store.certificates.revokeOthersFor(name, callerSerial, at, supersededReason);
      await this.#recordCertificate(name, issued, at);
      await this.#store.audit.append({
        at,
        actor: `cluster:${name}`,
        action: 'certificate.renew',
        resource: `clusters/${name}`,
        result: 'Issued',
        details: { serial: issued.serial, notAfter: issued.notAfter.toISOString(), caHash: issued.caHash },
      });
    });
    await this.maybeFinishRotation();
    return { certificate: issued.certPem, caBundle: this.caBundle() };
  }

  /**
   * Called on every authenticated agent request. The first use of a cluster's newest
   * certificate retires every older one: a renewal is complete once the agent has used
   * what it got. In memory, one serial per cluster, so the write happens once per renewal.
   */
  async certificateUsed(cluster: string, serial: string): Promise<void> {
    const known = this.#usedSerials.get(cluster);
    if (known === serial) return;
    // Noted before the first await, so that the requests that arrive meanwhile with the same
    // certificate do not check again; taken back below when it was not the newest.
    this.#usedSerials.set(cluster, serial);
    const at = this.#now().toISOString();
    const newest = async () => (await this.#store.certificates.latestFor(cluster))?.serial === serial;
    let retired: number | undefined;
    try {
      // A plain read first: a certificate that is not the newest (the agent has not switched
      // yet) costs no transaction on each of its requests. Then read again and revoke in one
      // transaction: a renewal committed in between must not see its new certificate
      // revoked as "older".
      if (await newest()) {
        retired = await this.#store.transaction(async () =>
          (await newest())
            ? this.#store.certificates.revokeOthersFor(cluster, serial, at, supersededReason)
            : undefined,
        );
      }
    } finally {
      if (retired === undefined && this.#usedSerials.get(cluster) === serial) {
        if (known === undefined) this.#usedSerials.delete(cluster);
        else this.#usedSerials.set(cluster, known);
      }
    }
    if (retired) this.#d.log.info({ cluster, serial, retired }, 'older certificates retired after a renewal');
  }

  async heartbeat(
    cluster: ClusterRow,
    body: HeartbeatRequest | undefined,
    certSerial: string,
  ): Promise<HeartbeatResponse> {
    const at = this.#now();
    await this.noteHeartbeat(cluster, body);
    // A sighting (a poll is one already: the sync service notes it there).
    if (this.#d.seen) this.#d.seen(cluster.name, at);
    else await this.#store.clusters.seen(cluster.name, at.toISOString());
    return this.heartbeatAnswer(cluster.name, certSerial);
  }

  /**
   * What a heartbeat (its own request, or carried by a poll) tells about the agent, stored
   * only when something changed, so an idle fleet writes nothing per heartbeat. The sighting
   * is the caller's: heartbeat() notes it to `seen` (batched in memory by the hub).
   */
  async noteHeartbeat(cluster: ClusterRow, body: HeartbeatRequest | undefined): Promise<void> {
    const at = this.#now();
    const claims = body?.claims && claimErrors(body.claims).length === 0 ? body.claims : undefined;
    const version = typeof body?.agentVersion === 'string' ? body.agentVersion.slice(0, 64) : undefined;
    // An agent of another version that does not say (an older one) no longer tells: unknown.
    const delivery =
      typeof body?.workDelivery === 'boolean'
        ? body.workDelivery
        : version && version !== cluster.agentVersion && cluster.workDelivery !== null
          ? null
          : undefined;
    const reported = reportedClaimsOf(body?.reportedClaims, this.#d.log, cluster.name);
    if (
      (claims && JSON.stringify(claims) !== JSON.stringify(cluster.claims)) ||
      (version && version !== cluster.agentVersion) ||
      (delivery !== undefined && delivery !== cluster.workDelivery) ||
      (reported && JSON.stringify(reported) !== JSON.stringify(cluster.reportedClaims ?? {}))
    ) {
      // Written over the row as it is now, not the request's copy (an admin's label or
      // confirmation made while the request was read must not be undone): read and written
      // in one transaction, so that one made between the two is not undone either.
      await this.#store.transaction(async () => {
        const now = (await this.#store.clusters.get(cluster.name)) ?? cluster;
        await this.#store.clusters.update({
          ...now,
          claims: claims ?? now.claims,
          agentVersion: version ?? now.agentVersion,
          workDelivery: delivery === undefined ? (now.workDelivery ?? null) : delivery,
          reportedClaims: reported ?? now.reportedClaims ?? {},
          lastSeen: at.toISOString(),
        });
      });
    }
  }

  /** The hub's answer to a heartbeat of `clusterName` made with certificate `certSerial`, now. */
  async heartbeatAnswer(clusterName: string, certSerial: string): Promise<HeartbeatResponse> {
    const cert = await this.#store.certificates.get(certSerial);
    return {
      cluster: clusterName,
      caBundleHash: this.caBundleHash(),
      renewNow: cert !== undefined && cert.caHash !== this.#d.pki().signing.hash,
      serverTime: this.#now().toISOString(),
    };
  }

  /**
   * Accepted clusters whose newest valid certificate is not from the signing CA. Read page by
   * page, not in one snapshot: during a rotation a cluster only ever moves onto the signing
   * CA (every certificate issued meanwhile is signed by it), so a page read late misses no
   * cluster that is still behind.
   */
  async clustersNotOnSigningCa(): Promise<string[]> {
    const signing = this.#d.pki().signing.hash;
    const out: string[] = [];
    let after = '';
    for (;;) {
      const page = await this.#store.clusters.page(after, 500);
      const certs = await this.#store.certificates.latestIn(after, page.items.at(-1)?.name ?? after);
      for (const c of page.items) {
        if (!c.hubAcceptsClient || !c.joinedAt) continue;
        const cert = certs.get(c.name);
        if (!cert || cert.caHash !== signing) out.push(c.name);
      }
      if (!page.continue) return out;
      after = page.continue;
    }
  }

  /** The CAs' lifetimes (for /metrics): the signing CA and, during a rotation, the retiring one. */
  caLifetimes(): { role: 'signing' | 'previous'; notBefore: Date; notAfter: Date }[] {
    const pki = this.#d.pki();
    const of = (role: 'signing' | 'previous', ca: { cert: { notBefore: Date; notAfter: Date } }) => ({
      role,
      notBefore: ca.cert.notBefore,
      notAfter: ca.cert.notAfter,
    });
    return pki.previous ? [of('signing', pki.signing), of('previous', pki.previous)] : [of('signing', pki.signing)];
  }

  async caStatus() {
    const pki = this.#d.pki();
    const pending = pki.previous ? await this.clustersNotOnSigningCa() : [];
    return {
      signing: { id: pki.signing.id, hash: pki.signing.hash, notAfter: pki.signing.cert.notAfter.toISOString() },
      previous: pki.previous ? { id: pki.previous.id, hash: pki.previous.hash } : null,
      rotation: pki.previous
        ? { state: 'InProgress', clustersPending: pending }
        : { state: 'None', clustersPending: [] },
      caBundleHash: this.caBundleHash(),
    };
  }

  async rotateCa() {
    await this.#d.rotateCa();
    await this.maybeFinishRotation();
    return this.caStatus();
  }

  /** A check that has not started yet: a caller that comes meanwhile waits for it. */
  #finishQueued: Promise<boolean> | undefined;
  /** The checks, one at a time. */
  #finishChain: Promise<unknown> = Promise.resolve();

  /**
   * Retires the previous CA once every accepted cluster holds a certificate of the new one.
   * One check at a time (two that overlap would both retire it); a caller joins a check that
   * has not begun reading, which then also sees what the caller committed.
   */
  maybeFinishRotation(): Promise<boolean> {
    if (this.#finishQueued) return this.#finishQueued;
    const queued = this.#finishChain.then(() => {
      this.#finishQueued = undefined;
      return this.#finishRotation();
    });
    this.#finishQueued = queued;
    this.#finishChain = queued.catch(() => undefined);
    return queued;
  }

  async #finishRotation(): Promise<boolean> {
    const pki = this.#d.pki();
    if (!pki.previous || (await this.clustersNotOnSigningCa()).length > 0) return false;
    // A rotation started while the clusters were read has another CA to wait for.
    if (this.#d.pki().signing.hash !== pki.signing.hash) return false;
    const retired = pki.previous;
    // Replicas may check at once: the one whose retirement took writes the record.
    if (!(await this.#d.retireCa(retired.id))) return false;
    await this.#store.audit.append({
      at: this.#now().toISOString(),
      actor: 'hub',
      action: 'ca.retire',
      resource: `ca/${retired.id}`,
      result: 'Retired',
      details: { hash: retired.hash, signing: pki.signing.hash },
    });
    this.#d.log.info({ retired: retired.hash }, 'previous CA retired: every cluster renewed');
    return true;
  }
}
