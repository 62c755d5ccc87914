// Store operations for trust and registration: API tokens, bootstrap tokens, clusters,
// registrations, certificates and the audit log. Synchronous (better-sqlite3): callers
// compose them inside `store.transaction` when several must commit together.
import type Database from 'better-sqlite3';
import type {
  ApiTokenRow,
  AuditEvent,
  BootstrapTokenRow,
  CertificateRow,
  ClusterRow,
  RegistrationRow,
  RegistrationStateRow,
} from './rows.ts';

type DB = Database.Database;
type Raw = Record<string, unknown>;

const json = (v: unknown) => JSON.stringify(v);
const parse = <T>(v: unknown, fallback: T): T => (typeof v === 'string' ? (JSON.parse(v) as T) : fallback);

function apiTokenFrom(r: Raw): ApiTokenRow {
  return {
    id: r.id as string,
    name: r.name as string,
    scope: r.scope as ApiTokenRow['scope'],
    secretHash: r.secret_hash as Buffer,
    createdAt: r.created_at as string,
    createdBy: r.created_by as string,
    expiresAt: (r.expires_at as string | null) ?? null,
    revokedAt: (r.revoked_at as string | null) ?? null,
    lastUsedAt: (r.last_used_at as string | null) ?? null,
  };
}

function bootstrapTokenFrom(r: Raw): BootstrapTokenRow {
  return {
    id: r.id as string,
    secretHash: r.secret_hash as Buffer,
    description: r.description as string,
    labels: parse(r.labels, {}),
    autoApprove: r.auto_approve === 1,
    usageLimit: r.usage_limit as number,
    usageCount: r.usage_count as number,
    boundCluster: (r.bound_cluster as string | null) ?? null,
    createdAt: r.created_at as string,
    createdBy: r.created_by as string,
    expiresAt: r.expires_at as string,
    lastUsedAt: (r.last_used_at as string | null) ?? null,
    revokedAt: (r.revoked_at as string | null) ?? null,
  };
}

function clusterFrom(r: Raw): ClusterRow {
  return {
    name: r.name as string,
    uid: r.uid as string,
    resourceVersion: r.resource_version as number,
    labels: parse(r.labels, {}),
    hubAcceptsClient: r.hub_accepts_client === 1,
    denied: r.denied === 1,
    taints: parse(r.taints, []),
    claims: parse(r.claims, {}),
    agentVersion: (r.agent_version as string | null) ?? null,
    createdAt: r.created_at as string,
    joinedAt: (r.joined_at as string | null) ?? null,
    lastSeen: (r.last_seen as string | null) ?? null,
    adoptEpoch: r.adopt_epoch === 1,
    removalRequestedAt: (r.removal_requested_at as string | null) ?? null,
    releaseHeldDeletions: r.release_held_deletions === 1,
    workDelivery: r.work_delivery === null || r.work_delivery === undefined ? null : r.work_delivery === 1,
    reportedClaims: parse(r.reported_claims, {}),
  };
}

function registrationFrom(r: Raw): RegistrationRow {
  return {
    id: r.id as string,
    clusterName: r.cluster_name as string,
    tokenId: r.token_id as string,
    csrPem: r.csr_pem as string,
    state: r.state as RegistrationStateRow,
    message: (r.message as string | null) ?? null,
    certificateSerial: (r.certificate_serial as string | null) ?? null,
    createdAt: r.created_at as string,
    decidedAt: (r.decided_at as string | null) ?? null,
  };
}

function certificateFrom(r: Raw): CertificateRow {
  return {
    serial: r.serial as string,
    clusterName: r.cluster_name as string,
    caHash: r.ca_hash as string,
    certPem: r.cert_pem as string,
    notBefore: r.not_before as string,
    notAfter: r.not_after as string,
    issuedAt: r.issued_at as string,
    revokedAt: (r.revoked_at as string | null) ?? null,
    revokeReason: (r.revoke_reason as string | null) ?? null,
  };
}

/**
 * What happened to a cluster row: `changed` (inserted or rewritten: labels, acceptance, claims,
 * taints, removal …), `seen` (last_seen only: a heartbeat or a batch of polls), `deleted`.
 */
export type ClusterChangeKind = 'changed' | 'seen' | 'deleted';
/**
 * Told of every write to a cluster row, synchronously and possibly inside a transaction that
 * may still roll back: a listener only notes the name and acts later (after the commit).
 */
export type ClusterChangeListener = (name: string, kind: ClusterChangeKind) => void;

/** A page of a list: `continue` is the key to pass back for the next page. */
export interface Page<T> {
  items: T[];
  continue: string | undefined;
}

export function trustStore(db: DB) {
  // Every cluster write goes through clusters.* below, so a listener here cannot be bypassed
  // by a route or service added later (the placement scheduler depends on that).
  const clusterListeners = new Set<ClusterChangeListener>();
  const clusterChanged = (name: string, kind: ClusterChangeKind) => {
    for (const l of clusterListeners) l(name, kind);
  };
  const s = {
    apiTokenInsert: db.prepare(`INSERT INTO api_tokens
      (id, name, scope, secret_hash, created_at, created_by, expires_at)
      VALUES (@id, @name, @scope, @secretHash, @createdAt, @createdBy, @expiresAt)`),
    apiTokenGet: db.prepare('SELECT * FROM api_tokens WHERE id = ?'),
    apiTokenList: db.prepare('SELECT * FROM api_tokens ORDER BY created_at, id'),
    apiTokenRevoke: db.prepare('UPDATE api_tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL'),
    apiTokenTouch: db.prepare('UPDATE api_tokens SET last_used_at = ? WHERE id = ?'),

    btInsert: db.prepare(`INSERT INTO bootstrap_tokens
      (id, secret_hash, description, labels, auto_approve, usage_limit, bound_cluster, created_at, created_by, expires_at)
      VALUES (@id, @secretHash, @description, @labels, @autoApprove, @usageLimit, @boundCluster, @createdAt,
              @createdBy, @expiresAt)`),
    btGet: db.prepare('SELECT * FROM bootstrap_tokens WHERE id = ?'),
    btList: db.prepare('SELECT * FROM bootstrap_tokens ORDER BY created_at, id'),
    btRevoke: db.prepare('UPDATE bootstrap_tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL'),
    btUse: db.prepare(`UPDATE bootstrap_tokens SET usage_count = usage_count + 1, last_used_at = ?
      WHERE id = ? AND usage_count < usage_limit`),
    btRevokeBound: db.prepare(
      'UPDATE bootstrap_tokens SET revoked_at = ? WHERE bound_cluster = ? AND revoked_at IS NULL',
    ),

    clusterInsert: db.prepare(`INSERT INTO clusters
      (name, uid, resource_version, labels, hub_accepts_client, claims, agent_version, created_at)
      VALUES (@name, @uid, @resourceVersion, @labels, @hubAcceptsClient, @claims, @agentVersion, @createdAt)`),
    clusterGet: db.prepare('SELECT * FROM clusters WHERE name = ?'),
    clusterPage: db.prepare('SELECT * FROM clusters WHERE name > ? ORDER BY name LIMIT ?'),
    clusterAll: db.prepare('SELECT * FROM clusters ORDER BY name'),
    clusterCount: db.prepare('SELECT COUNT(*) AS n FROM clusters WHERE hub_accepts_client = 1'),
    clusterRelease: db.prepare('SELECT release_held_deletions AS r FROM clusters WHERE name = ?'),
    clusterUpdate: db.prepare(`UPDATE clusters SET resource_version = @resourceVersion, labels = @labels,
      hub_accepts_client = @hubAcceptsClient, denied = @denied, taints = @taints, claims = @claims,
      agent_version = @agentVersion, joined_at = @joinedAt, last_seen = @lastSeen, adopt_epoch = @adoptEpoch,
      removal_requested_at = @removalRequestedAt, release_held_deletions = @releaseHeldDeletions,
      work_delivery = @workDelivery, reported_claims = @reportedClaims WHERE name = @name`),
    clusterSeen: db.prepare('UPDATE clusters SET last_seen = ? WHERE name = ?'),
    clusterDelete: db.prepare('DELETE FROM clusters WHERE name = ?'),

    regInsert: db.prepare(`INSERT INTO registrations (id, cluster_name, token_id, csr_pem, state, created_at)
      VALUES (@id, @clusterName, @tokenId, @csrPem, @state, @createdAt)`),
    regGet: db.prepare('SELECT * FROM registrations WHERE id = ?'),
    regPending: db.prepare(
      "SELECT * FROM registrations WHERE cluster_name = ? AND state = 'Pending' ORDER BY created_at",
    ),
    regDecide: db.prepare(`UPDATE registrations SET state = @state, message = @message,
      certificate_serial = @certificateSerial, decided_at = @decidedAt WHERE id = @id`),
    regDeleteFor: db.prepare('DELETE FROM registrations WHERE cluster_name = ?'),
    regSame: db.prepare('SELECT * FROM registrations WHERE cluster_name = ? AND token_id = ? AND csr_pem = ?'),

    certInsert: db.prepare(`INSERT INTO certificates
      (serial, cluster_name, ca_hash, cert_pem, not_before, not_after, issued_at)
      VALUES (@serial, @clusterName, @caHash, @certPem, @notBefore, @notAfter, @issuedAt)`),
    certGet: db.prepare('SELECT * FROM certificates WHERE serial = ?'),
    certListFor: db.prepare('SELECT * FROM certificates WHERE cluster_name = ? ORDER BY issued_at, serial'),
    certLatestFor: db.prepare(
      'SELECT * FROM certificates WHERE cluster_name = ? AND revoked_at IS NULL ORDER BY issued_at DESC, serial LIMIT 1',
    ),
    // Every cluster's newest first, in one pass over the index (certLatestFor per cluster
    // costs a search each: ten times as much for a page of clusters).
    certLatestIn: db.prepare(
      `SELECT * FROM certificates WHERE cluster_name > ? AND cluster_name <= ? AND revoked_at IS NULL
       ORDER BY cluster_name, issued_at DESC, serial`,
    ),
    certRevokeFor: db.prepare(`UPDATE certificates SET revoked_at = ?, revoke_reason = ?
      WHERE cluster_name = ? AND revoked_at IS NULL`),
    certRevokeOthers: db.prepare(`UPDATE certificates SET revoked_at = ?, revoke_reason = ?
      WHERE cluster_name = ? AND serial != ? AND revoked_at IS NULL`),

    auditInsert: db.prepare(`INSERT INTO audit_log (at, actor, action, resource, result, details)
      VALUES (@at, @actor, @action, @resource, @result, @details)`),
    auditPage: db.prepare('SELECT * FROM audit_log WHERE id < ? ORDER BY id DESC LIMIT ?'),
    // Oldest rows first, a batch at a time: ids grow with time, so the scan stops early.
    auditPruneOlder: db.prepare(`DELETE FROM audit_log WHERE id IN
      (SELECT id FROM audit_log WHERE at < ? ORDER BY id LIMIT ?)`),
    auditNthNewest: db.prepare('SELECT id FROM audit_log ORDER BY id DESC LIMIT 1 OFFSET ?'),
    auditPruneUpTo: db.prepare(`DELETE FROM audit_log WHERE id IN
      (SELECT id FROM audit_log WHERE id <= ? ORDER BY id LIMIT ?)`),
  };

  return {
    apiTokens: {
      insert: (t: Omit<ApiTokenRow, 'revokedAt' | 'lastUsedAt'>) => void s.apiTokenInsert.run(t),
      get: (id: string) => {
        const r = s.apiTokenGet.get(id) as Raw | undefined;
        return r && apiTokenFrom(r);
      },
      list: () => (s.apiTokenList.all() as Raw[]).map(apiTokenFrom),
      revoke: (id: string, at: string) => s.apiTokenRevoke.run(at, id).changes > 0,
      touch: (id: string, at: string) => void s.apiTokenTouch.run(at, id),
    },

    bootstrapTokens: {
      insert: (t: Omit<BootstrapTokenRow, 'usageCount' | 'lastUsedAt' | 'revokedAt'>) =>
        void s.btInsert.run({ ...t, labels: json(t.labels), autoApprove: t.autoApprove ? 1 : 0 }),
      get: (id: string) => {
        const r = s.btGet.get(id) as Raw | undefined;
        return r && bootstrapTokenFrom(r);
      },
      list: () => (s.btList.all() as Raw[]).map(bootstrapTokenFrom),
      revoke: (id: string, at: string) => s.btRevoke.run(at, id).changes > 0,
      /** Counts one use; false when the limit was already reached (checked atomically). */
      use: (id: string, at: string) => s.btUse.run(at, id).changes > 0,
      revokeBoundTo: (cluster: string, at: string) => s.btRevokeBound.run(at, cluster).changes,
    },

    clusters: {
      insert: (
        c: Pick<ClusterRow, 'name' | 'uid' | 'labels' | 'hubAcceptsClient' | 'claims' | 'agentVersion' | 'createdAt'>,
      ) => {
        s.clusterInsert.run({
          ...c,
          resourceVersion: 1,
          labels: json(c.labels),
          claims: json(c.claims),
          hubAcceptsClient: c.hubAcceptsClient ? 1 : 0,
        });
        clusterChanged(c.name, 'changed');
      },
      get: (name: string) => {
        const r = s.clusterGet.get(name) as Raw | undefined;
        return r && clusterFrom(r);
      },
      page: (after: string, limit: number): Page<ClusterRow> => {
        const rows = (s.clusterPage.all(after, limit + 1) as Raw[]).map(clusterFrom);
        const more = rows.length > limit;
        const items = more ? rows.slice(0, limit) : rows;
        return { items, continue: more ? items.at(-1)?.name : undefined };
      },
      /** Whether an admin confirmed held deletions for `name` (read on every poll: one column). */
      releasePending: (name: string) => (s.clusterRelease.get(name) as { r: number } | undefined)?.r === 1,
      /** Clusters the hub accepts: the fleet that may connect. */
      accepted: () => (s.clusterCount.get() as { n: number }).n,
      /** Every cluster, by name (the placement scheduler looks at all of them at once). */
      all: () => (s.clusterAll.all() as Raw[]).map(clusterFrom),
      /** Writes the whole row with resourceVersion + 1; returns the new row. */
      update: (c: ClusterRow): ClusterRow => {
        const next = { ...c, resourceVersion: c.resourceVersion + 1 };
        s.clusterUpdate.run({
          ...next,
          labels: json(next.labels),
          taints: json(next.taints),
          claims: json(next.claims),
          hubAcceptsClient: next.hubAcceptsClient ? 1 : 0,
          denied: next.denied ? 1 : 0,
          adoptEpoch: next.adoptEpoch ? 1 : 0,
          releaseHeldDeletions: next.releaseHeldDeletions ? 1 : 0,
          workDelivery:
            next.workDelivery === undefined || next.workDelivery === null ? null : next.workDelivery ? 1 : 0,
          reportedClaims: json(next.reportedClaims ?? {}),
        });
        clusterChanged(next.name, 'changed');
        return next;
      },
      /** last_seen only: no resourceVersion bump, so heartbeats do not conflict with edits. */
      seen: (name: string, at: string) => {
        s.clusterSeen.run(at, name);
        clusterChanged(name, 'seen');
      },
      delete: (name: string) => {
        const done = s.clusterDelete.run(name).changes > 0;
        if (done) clusterChanged(name, 'deleted');
        return done;
      },
      /** Subscribes to cluster row writes; returns the unsubscribe function. */
      onChange: (listener: ClusterChangeListener): (() => void) => {
        clusterListeners.add(listener);
        return () => void clusterListeners.delete(listener);
      },
    },

    registrations: {
      insert: (r: Pick<RegistrationRow, 'id' | 'clusterName' | 'tokenId' | 'csrPem' | 'state' | 'createdAt'>) =>
        void s.regInsert.run(r),
      get: (id: string) => {
        const r = s.regGet.get(id) as Raw | undefined;
        return r && registrationFrom(r);
      },
      pendingFor: (cluster: string) => (s.regPending.all(cluster) as Raw[]).map(registrationFrom),
      decide: (d: Pick<RegistrationRow, 'id' | 'state' | 'message' | 'certificateSerial' | 'decidedAt'>) =>
        void s.regDecide.run(d),
      deleteFor: (cluster: string) => void s.regDeleteFor.run(cluster),
      /** The registration made with exactly this token, name and CSR, if any (a retried POST). */
      same: (cluster: string, tokenId: string, csrPem: string) => {
        const r = s.regSame.get(cluster, tokenId, csrPem) as Raw | undefined;
        return r && registrationFrom(r);
      },
    },

    certificates: {
      insert: (c: Omit<CertificateRow, 'revokedAt' | 'revokeReason'>) => void s.certInsert.run(c),
      get: (serial: string) => {
        const r = s.certGet.get(serial) as Raw | undefined;
        return r && certificateFrom(r);
      },
      listFor: (cluster: string) => (s.certListFor.all(cluster) as Raw[]).map(certificateFrom),
      latestFor: (cluster: string) => {
        const r = s.certLatestFor.get(cluster) as Raw | undefined;
        return r && certificateFrom(r);
      },
      /** latestFor of every cluster named after `after` up to `last` (a page of clusters). */
      latestIn: (after: string, last: string): Map<string, CertificateRow> => {
        const out = new Map<string, CertificateRow>();
        for (const r of s.certLatestIn.iterate(after, last) as Iterable<Raw>) {
          const name = r.cluster_name as string;
          if (!out.has(name)) out.set(name, certificateFrom(r));
        }
        return out;
      },
      revokeAllFor: (cluster: string, at: string, reason: string) => s.certRevokeFor.run(at, reason, cluster).changes,
      revokeOthersFor: (cluster: string, keepSerial: string, at: string, reason: string) =>
        s.certRevokeOthers.run(at, reason, cluster, keepSerial).changes,
    },

    audit: {
      /**
       * Deletes at most `batch` rows that are older than `before` or beyond the newest
       * `keepRows`; returns how many went (the caller repeats while it is `batch`).
       */
      prune: (before: string, keepRows: number, batch: number): number => {
        let n = s.auditPruneOlder.run(before, batch).changes;
        const nth = s.auditNthNewest.get(keepRows) as { id: number } | undefined;
        if (nth && n < batch) n += s.auditPruneUpTo.run(nth.id, batch - n).changes;
        return n;
      },
      append: (e: Omit<AuditEvent, 'id'>) =>
        void s.auditInsert.run({ ...e, details: e.details === undefined ? null : json(e.details) }),
      /** Newest first; `before` is an id from a previous page. */
      page: (before: number, limit: number): Page<AuditEvent> => {
        const rows = (s.auditPage.all(before, limit + 1) as Raw[]).map(
          (r): AuditEvent => ({
            id: r.id as number,
            at: r.at as string,
            actor: r.actor as string,
            action: r.action as string,
            resource: r.resource as string,
            result: r.result as string,
            details: parse(r.details, undefined),
          }),
        );
        const more = rows.length > limit;
        const items = more ? rows.slice(0, limit) : rows;
        return { items, continue: more ? String(items.at(-1)?.id) : undefined };
      },
    },
  };
}

export type TrustStore = ReturnType<typeof trustStore>;
