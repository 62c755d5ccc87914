// Store operations for trust and registration: API tokens, bootstrap tokens, clusters,
// registrations, certificates and the audit log. Callers compose them inside
// `store.transaction` when several must commit together.
import type {
  ApiTokenRow,
  AuditEvent,
  BootstrapTokenRow,
  CertificateRow,
  ClusterRow,
  RegistrationRow,
  RegistrationStateRow,
} from './rows.ts';
import type { Row, Sql } from './sql.ts';

type Raw = Row;

const json = (v: unknown) => JSON.stringify(v);
const noNul = (text: string) => text.replaceAll('\u0000', '\uFFFD');
const parse = <T>(v: unknown, fallback: T): T => (typeof v === 'string' ? (JSON.parse(v) as T) : fallback);

/** What the audit log can be filtered by: the actor exactly, the others by prefix, `since` an ISO time. */
export interface AuditFilter {
  actor?: string;
  action?: string;
  resource?: string;
  result?: string;
  since?: string;
}
/** The most audit rows one page reads (trust.audit.page). */
export const auditScanRows = 20_000;

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
 * taints, removal …), `seen` (last_seen only: a heartbeat or a batch of polls), `deleted`;
 * or to its agent: `dropped` (the connection of its waiting poll closed before the answer;
 * nothing is written).
 */
export type ClusterChangeKind = 'changed' | 'seen' | 'deleted' | 'dropped';
/**
 * Told of every write to a cluster row, synchronously and possibly inside a transaction that
 * may still roll back: a listener only notes the name and acts later (after the commit).
 * Hubs sharing a database tell each other (after the commit): a listener is told of the
 * changes every hub made. `at` is the time of a `seen` or `dropped`.
 */
export type ClusterChangeListener = (name: string, kind: ClusterChangeKind, at?: string) => void;

/** How cluster changes reach the other hubs on the database (one text per change or batch). */
export interface ClusterRelay {
  /** Sends a text to the other hubs when the caller's transaction commits (at once outside one). */
  send(text: string): Promise<void>;
}

/** Largest text sent at once (PostgreSQL's NOTIFY takes up to 8000 bytes, with the sender's id). */
const relayChunk = 7_000;

/** A page of a list: `continue` is the key to pass back for the next page. */
export interface Page<T> {
  items: T[];
  continue: string | undefined;
}

/** The statements of the trust store. */
const q = {
  apiTokenInsert: `INSERT INTO api_tokens
    (id, name, scope, secret_hash, created_at, created_by, expires_at)
    VALUES (@id, @name, @scope, @secretHash, @createdAt, @createdBy, @expiresAt)`,
  apiTokenGet: 'SELECT * FROM api_tokens WHERE id = ?',
  apiTokenList: 'SELECT * FROM api_tokens ORDER BY created_at, id',
  apiTokenRevoke: 'UPDATE api_tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL',
  apiTokenTouch: 'UPDATE api_tokens SET last_used_at = ? WHERE id = ?',

  btInsert: `INSERT INTO bootstrap_tokens
    (id, secret_hash, description, labels, auto_approve, usage_limit, bound_cluster, created_at, created_by, expires_at)
    VALUES (@id, @secretHash, @description, @labels, @autoApprove, @usageLimit, @boundCluster, @createdAt,
            @createdBy, @expiresAt)`,
  btGet: 'SELECT * FROM bootstrap_tokens WHERE id = ?',
  btList: 'SELECT * FROM bootstrap_tokens ORDER BY created_at, id',
  btRevoke: 'UPDATE bootstrap_tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL',
  btUse: `UPDATE bootstrap_tokens SET usage_count = usage_count + 1, last_used_at = @at
    WHERE id = @id AND usage_count < usage_limit AND revoked_at IS NULL AND expires_at > @at`,
  btUnuse: 'UPDATE bootstrap_tokens SET usage_count = usage_count - 1 WHERE id = ? AND usage_count > 0',
  btRevokeBound: 'UPDATE bootstrap_tokens SET revoked_at = ? WHERE bound_cluster = ? AND revoked_at IS NULL',

  clusterInsert: `INSERT INTO clusters
    (name, uid, resource_version, labels, hub_accepts_client, claims, agent_version, created_at)
    VALUES (@name, @uid, @resourceVersion, @labels, @hubAcceptsClient, @claims, @agentVersion, @createdAt)`,
  clusterGet: 'SELECT * FROM clusters WHERE name = ?',
  clusterPage: 'SELECT * FROM clusters WHERE name > ? ORDER BY name LIMIT ?',
  clusterAll: 'SELECT * FROM clusters ORDER BY name',
  clusterCount: 'SELECT COUNT(*) AS n FROM clusters WHERE hub_accepts_client = 1',
  clusterRelease: 'SELECT release_held_deletions AS r FROM clusters WHERE name = ?',
  clusterUpdate: `UPDATE clusters SET resource_version = @resourceVersion, labels = @labels,
    hub_accepts_client = @hubAcceptsClient, denied = @denied, taints = @taints, claims = @claims,
    agent_version = @agentVersion, joined_at = @joinedAt, last_seen = @lastSeen, adopt_epoch = @adoptEpoch,
    removal_requested_at = @removalRequestedAt, release_held_deletions = @releaseHeldDeletions,
    work_delivery = @workDelivery, reported_claims = @reportedClaims WHERE name = @name`,
  // Never back: two hubs may write one cluster's sightings in either order.
  clusterSeen: 'UPDATE clusters SET last_seen = @at WHERE name = @name AND (last_seen IS NULL OR last_seen < @at)',
  clusterDelete: 'DELETE FROM clusters WHERE name = ?',

  regInsert: `INSERT INTO registrations (id, cluster_name, token_id, csr_pem, state, created_at)
    VALUES (@id, @clusterName, @tokenId, @csrPem, @state, @createdAt)`,
  regGet: 'SELECT * FROM registrations WHERE id = ?',
  regPending: "SELECT * FROM registrations WHERE cluster_name = ? AND state = 'Pending' ORDER BY created_at",
  regDecide: `UPDATE registrations SET state = @state, message = @message,
    certificate_serial = @certificateSerial, decided_at = @decidedAt WHERE id = @id`,
  regDeleteFor: 'DELETE FROM registrations WHERE cluster_name = ?',
  regSame: 'SELECT * FROM registrations WHERE cluster_name = ? AND token_id = ? AND csr_pem = ?',

  certInsert: `INSERT INTO certificates
    (serial, cluster_name, ca_hash, cert_pem, not_before, not_after, issued_at)
    VALUES (@serial, @clusterName, @caHash, @certPem, @notBefore, @notAfter, @issuedAt)`,
  certGet: 'SELECT * FROM certificates WHERE serial = ?',
  certListFor: 'SELECT * FROM certificates WHERE cluster_name = ? ORDER BY issued_at, serial',
  certLatestFor:
    'SELECT * FROM certificates WHERE cluster_name = ? AND revoked_at IS NULL ORDER BY issued_at DESC, serial LIMIT 1',
  // Every cluster's newest first, in one pass over the index (certLatestFor per cluster
  // costs a search each: ten times as much for a page of clusters).
  certLatestIn: `SELECT * FROM certificates WHERE cluster_name > ? AND cluster_name <= ? AND revoked_at IS NULL
     ORDER BY cluster_name, issued_at DESC, serial`,
  certRevokeFor: `UPDATE certificates SET revoked_at = ?, revoke_reason = ?
    WHERE cluster_name = ? AND revoked_at IS NULL`,
  certRevokeOthers: `UPDATE certificates SET revoked_at = ?, revoke_reason = ?
    WHERE cluster_name = ? AND serial != ? AND revoked_at IS NULL`,

  auditInsert: `INSERT INTO audit_log (at, actor, action, resource, result, details)
    VALUES (@at, @actor, @action, @resource, @result, @details)`,
  auditNewest: 'SELECT max(id) AS id FROM audit_log',
  auditOldest: 'SELECT min(id) AS id FROM audit_log',
  auditAtOrAfter: 'SELECT at FROM audit_log WHERE id >= ? ORDER BY id LIMIT 1',
  // Oldest rows first, a batch at a time: ids grow with time, so the scan stops early.
  auditPruneOlder: `DELETE FROM audit_log WHERE id IN
    (SELECT id FROM audit_log WHERE at < ? ORDER BY id LIMIT ?)`,
  auditNthNewest: 'SELECT id FROM audit_log ORDER BY id DESC LIMIT 1 OFFSET ?',
  auditPruneUpTo: `DELETE FROM audit_log WHERE id IN
    (SELECT id FROM audit_log WHERE id <= ? ORDER BY id LIMIT ?)`,
};

export function trustStore(sql: Sql, relay?: ClusterRelay) {
  // Every cluster write goes through clusters.* below, so a listener here cannot be bypassed
  // by a route or service added later (the placement scheduler depends on that).
  const clusterListeners = new Set<ClusterChangeListener>();
  // Outside the writer's transaction: a listener that arms a timer there would otherwise
  // make its statements in that transaction while it is open (and a savepoint of it).
  const clusterChanged = (name: string, kind: ClusterChangeKind, at?: string) =>
    sql.outside(() => {
      for (const l of clusterListeners) l(name, kind, at);
    });
  /** Tells the other hubs (with the write's transaction: only what commits is told). */
  const tell = async (kind: ClusterChangeKind, entries: readonly (readonly [string, string])[]) => {
    if (!relay) return;
    let text = kind;
    for (const [name, at] of entries) {
      const entry = ` ${name} ${at}`;
      if (text.length + entry.length > relayChunk && text !== kind) {
        await relay.send(text);
        text = kind;
      }
      text += entry;
    }
    if (text !== kind) await relay.send(text);
  };

  const one = async <T>(text: string, params: unknown[], from: (r: Raw) => T): Promise<T | undefined> => {
    const r = await sql.get(text, params);
    return r && from(r);
  };
  const many = async <T>(text: string, params: unknown[], from: (r: Raw) => T): Promise<T[]> =>
    (await sql.all(text, params)).map(from);

  return {
    apiTokens: {
      insert: async (t: Omit<ApiTokenRow, 'revokedAt' | 'lastUsedAt'>) => void (await sql.run(q.apiTokenInsert, t)),
      get: (id: string) => one(q.apiTokenGet, [id], apiTokenFrom),
      list: () => many(q.apiTokenList, [], apiTokenFrom),
      revoke: async (id: string, at: string) => (await sql.run(q.apiTokenRevoke, [at, id])) > 0,
      touch: async (id: string, at: string) => void (await sql.run(q.apiTokenTouch, [at, id])),
    },

    bootstrapTokens: {
      insert: async (t: Omit<BootstrapTokenRow, 'usageCount' | 'lastUsedAt' | 'revokedAt'>) =>
        void (await sql.run(q.btInsert, { ...t, labels: json(t.labels), autoApprove: t.autoApprove ? 1 : 0 })),
      get: (id: string) => one(q.btGet, [id], bootstrapTokenFrom),
      list: () => many(q.btList, [], bootstrapTokenFrom),
      revoke: async (id: string, at: string) => (await sql.run(q.btRevoke, [at, id])) > 0,
      /** Counts one use; false when the limit was already reached, or the token was revoked or
       *  expired meanwhile (checked atomically with the count). */
      use: async (id: string, at: string) => (await sql.run(q.btUse, { at, id })) > 0,
      /** Gives back a use that did not end in a join (registration/service.ts). */
      unuse: async (id: string) => void (await sql.run(q.btUnuse, [id])),
      revokeBoundTo: (cluster: string, at: string) => sql.run(q.btRevokeBound, [at, cluster]),
    },

    clusters: {
      insert: async (
        c: Pick<ClusterRow, 'name' | 'uid' | 'labels' | 'hubAcceptsClient' | 'claims' | 'agentVersion' | 'createdAt'>,
      ) => {
        await sql.run(q.clusterInsert, {
          ...c,
          resourceVersion: 1,
          labels: json(c.labels),
          claims: json(c.claims),
          hubAcceptsClient: c.hubAcceptsClient ? 1 : 0,
        });
        clusterChanged(c.name, 'changed');
        await tell('changed', [[c.name, '-']]);
      },
      get: (name: string) => one(q.clusterGet, [name], clusterFrom),
      page: async (after: string, limit: number): Promise<Page<ClusterRow>> => {
        const rows = await many(q.clusterPage, [after, limit + 1], clusterFrom);
        const more = rows.length > limit;
        const items = more ? rows.slice(0, limit) : rows;
        return { items, continue: more ? items.at(-1)?.name : undefined };
      },
      /** Whether an admin confirmed held deletions for `name` (read on every poll: one column). */
      releasePending: async (name: string) =>
        Number((await sql.get<{ r: number }>(q.clusterRelease, [name]))?.r ?? 0) === 1,
      /** Clusters the hub accepts: the fleet that may connect. */
      accepted: async () => Number((await sql.get<{ n: number }>(q.clusterCount))?.n ?? 0),
      /** Every cluster, by name (the placement scheduler looks at all of them at once). */
      all: () => many(q.clusterAll, [], clusterFrom),
      /** Writes the whole row with resourceVersion + 1; returns the new row. */
      update: async (c: ClusterRow): Promise<ClusterRow> => {
        const next = { ...c, resourceVersion: c.resourceVersion + 1 };
        await sql.run(q.clusterUpdate, {
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
        await tell('changed', [[next.name, '-']]);
        return next;
      },
      /** last_seen only: no resourceVersion bump, so heartbeats do not conflict with edits. */
      seen: async (name: string, at: string) => {
        await sql.run(q.clusterSeen, { at, name });
        clusterChanged(name, 'seen', at);
        await tell('seen', [[name, at]]);
      },
      /** Many `seen` at once (a batch of polls): the other hubs are told in a few texts. */
      seenMany: async (batch: readonly (readonly [string, string])[]) => {
        for (const [name, at] of batch) {
          await sql.run(q.clusterSeen, { at, name });
          clusterChanged(name, 'seen', at);
        }
        await tell('seen', batch);
      },
      /** The agent's waiting poll lost its connection at `at` (nothing is stored). */
      dropped: async (name: string, at: string) => {
        clusterChanged(name, 'dropped', at);
        await tell('dropped', [[name, at]]);
      },
      delete: async (name: string) => {
        const done = (await sql.run(q.clusterDelete, [name])) > 0;
        if (done) {
          clusterChanged(name, 'deleted');
          await tell('deleted', [[name, '-']]);
        }
        return done;
      },
      /** A text another hub's relay sent: its listeners here are told. */
      heard: (text: string) => {
        const [kind, ...rest] = text.split(' ');
        if (kind !== 'changed' && kind !== 'seen' && kind !== 'deleted' && kind !== 'dropped') return;
        for (let i = 0; i + 1 < rest.length; i += 2) {
          const name = rest[i] as string;
          const at = rest[i + 1] as string;
          clusterChanged(name, kind, at === '-' ? undefined : at);
        }
      },
      /** Subscribes to cluster row writes; returns the unsubscribe function. */
      onChange: (listener: ClusterChangeListener): (() => void) => {
        clusterListeners.add(listener);
        return () => void clusterListeners.delete(listener);
      },
    },

    registrations: {
      insert: async (r: Pick<RegistrationRow, 'id' | 'clusterName' | 'tokenId' | 'csrPem' | 'state' | 'createdAt'>) =>
        void (await sql.run(q.regInsert, r)),
      get: (id: string) => one(q.regGet, [id], registrationFrom),
      pendingFor: (cluster: string) => many(q.regPending, [cluster], registrationFrom),
      decide: async (d: Pick<RegistrationRow, 'id' | 'state' | 'message' | 'certificateSerial' | 'decidedAt'>) =>
        void (await sql.run(q.regDecide, d)),
      deleteFor: async (cluster: string) => void (await sql.run(q.regDeleteFor, [cluster])),
      /** The registration made with exactly this token, name and CSR, if any (a retried POST). */
      same: (cluster: string, tokenId: string, csrPem: string) =>
        one(q.regSame, [cluster, tokenId, csrPem], registrationFrom),
    },

    certificates: {
      insert: async (c: Omit<CertificateRow, 'revokedAt' | 'revokeReason'>) => void (await sql.run(q.certInsert, c)),
      get: (serial: string) => one(q.certGet, [serial], certificateFrom),
      listFor: (cluster: string) => many(q.certListFor, [cluster], certificateFrom),
      latestFor: (cluster: string) => one(q.certLatestFor, [cluster], certificateFrom),
      /** latestFor of every cluster named after `after` up to `last` (a page of clusters). */
      latestIn: async (after: string, last: string): Promise<Map<string, CertificateRow>> => {
        const out = new Map<string, CertificateRow>();
        for (const r of await sql.all(q.certLatestIn, [after, last])) {
          const name = r.cluster_name as string;
          if (!out.has(name)) out.set(name, certificateFrom(r));
        }
        return out;
      },
      revokeAllFor: (cluster: string, at: string, reason: string) => sql.run(q.certRevokeFor, [at, reason, cluster]),
      revokeOthersFor: (cluster: string, keepSerial: string, at: string, reason: string) =>
        sql.run(q.certRevokeOthers, [at, reason, cluster, keepSerial]),
    },

    audit: {
      /**
       * Deletes at most `batch` rows that are older than `before` or beyond the newest
       * `keepRows`; returns how many went (the caller repeats while it is `batch`).
       */
      prune: async (before: string, keepRows: number, batch: number): Promise<number> => {
        let n = await sql.run(q.auditPruneOlder, [before, batch]);
        const nth = await sql.get<{ id: number }>(q.auditNthNewest, [keepRows]);
        if (nth && n < batch) n += await sql.run(q.auditPruneUpTo, [nth.id, batch - n]);
        return n;
      },
      /** The actor, action, resource and result as they came, but a NUL character (a hostile
       *  name, a database's text cannot hold it) as U+FFFD: the attempt is recorded all the same. */
      append: async (e: Omit<AuditEvent, 'id'>) =>
        void (await sql.run(q.auditInsert, {
          at: e.at,
          actor: noNul(e.actor),
          action: noNul(e.action),
          resource: noNul(e.resource),
          result: noNul(e.result),
          details: e.details === undefined ? null : json(e.details),
        })),
      /**
       * Newest first, matching `filter`; `before` is an id from a previous page. One call
       * reads at most `auditScanRows` ids below `before`, so a filter that matches little
       * never scans a million rows in one request: a page may then hold fewer than `limit`
       * items (even none) and still carry `continue`, where the next call goes on.
       */
      page: async (before: number, limit: number, filter: AuditFilter = {}): Promise<Page<AuditEvent>> => {
        const newest = (await sql.get<{ id: number | string | null }>(q.auditNewest, []))?.id;
        if (newest === null || newest === undefined) return { items: [], continue: undefined };
        const top = Math.min(before, Number(newest) + 1);
        const floor = top - auditScanRows;
        const where = ['id < ?', 'id >= ?'];
        const params: unknown[] = [top, floor];
        if (filter.actor !== undefined) {
          where.push('actor = ?');
          params.push(filter.actor);
        }
        for (const col of ['action', 'resource', 'result'] as const) {
          const prefix = filter[col];
          if (prefix === undefined) continue;
          // A prefix by characters (substr counts characters on both backends): no LIKE
          // pattern to escape.
          where.push(`substr(${col}, 1, ?) = ?`);
          params.push([...prefix].length, prefix);
        }
        if (filter.since !== undefined) {
          where.push('at >= ?');
          params.push(filter.since);
        }
        const rows = await many(
          `SELECT * FROM audit_log WHERE ${where.join(' AND ')} ORDER BY id DESC LIMIT ?`,
          [...params, limit + 1],
          (r): AuditEvent => ({
            id: Number(r.id),
            at: r.at as string,
            actor: r.actor as string,
            action: r.action as string,
            resource: r.resource as string,
            result: r.result as string,
            details: parse(r.details, undefined),
          }),
        );
        if (rows.length > limit) {
          const items = rows.slice(0, limit);
          return { items, continue: String(items.at(-1)?.id) };
        }
        // The window is read through: older rows, if any, go on below it; with `since`, not
        // once the window reached events older than it (ids rise with time; a minute's slack
        // for the clocks of replicas that append side by side).
        const oldest = Number((await sql.get<{ id: number | string | null }>(q.auditOldest, []))?.id ?? floor);
        if (oldest >= floor) return { items: rows, continue: undefined };
        if (filter.since !== undefined) {
          const edge = await sql.get<{ at: string }>(q.auditAtOrAfter, [floor]);
          if (edge && Date.parse(edge.at) < Date.parse(filter.since) - 60_000)
            return { items: rows, continue: undefined };
        }
        return { items: rows, continue: String(floor) };
      },
    },
  };
}

export type TrustStore = ReturnType<typeof trustStore>;
