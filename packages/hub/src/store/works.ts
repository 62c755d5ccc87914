// Store operations for ManifestWorks. A work's manifests are rows of their own, each with
// the generation at which it last changed, so a sync can send just what changed since the
// generation an agent holds. A removed manifest leaves a tombstone row (empty hash). The
// texts live apart, once per hash (table texts), and are read as bytes: a work may be
// 16 MiB, and answers carry the texts as they are. So do large statuses, in parts
// (work_status_parts); a small one is kept in the work's row.
import { createHash, randomUUID } from 'node:crypto';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { type Condition, canonicalJson, hashText, type Manifest, manifestKey } from '@outpost/shared';
import type { Row, Sql } from './sql.ts';
import type { Page } from './trust.ts';

type Raw = Row;

export interface WorkRow {
  cluster: string;
  name: string;
  uid: string;
  generation: number;
  resourceVersion: number;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  /** Parsed from specText on first read. */
  readonly spec: Record<string, unknown>;
  specText: string;
  specHash: string;
  contentHash: string;
  manifestCount: number;
  sizeBytes: number;
  /** What the hub keeps beside the agent's last status (that one may be megabytes and is
   *  read, as bytes, only to answer: see statusOf). Null before the first report. */
  statusSummary: StatusSummary | null;
  statusSeq: number;
  createdAt: string;
  updatedAt: string;
  deletionAt: string | null;
}

export interface StatusSummary {
  conditions: Condition[];
  observedGeneration?: number;
  /** The hub's own keys of the status: when the agent saw it, for which generation, and when
   *  the work first showed Complete (work/ttl.ts). */
  observedAt?: string;
  reportedGeneration?: number;
  completedAt?: string;
}

/** How a work's last status is kept (statusOf): in its row, or in parts with its summary. */
export type KeptStatus = 'inline' | { hashes: string[]; summary: StatusSummary | null };

/** Clusters counted per statement by works.counts. */
const countsChunk = 50;

/** Reads of a status in parts given up after this many reports replaced it meanwhile. */
const statusReadAttempts = 20;

export interface ManifestRow {
  key: string;
  ordinal: number;
  /** Hash of the canonical JSON text (see texts); empty for a tombstone. */
  hash: string;
  changedGeneration: number;
}

export interface WorkWrite {
  cluster: string;
  name: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  spec: Record<string, unknown>;
  manifests: Manifest[];
}

/** The UTF-8 size of a text. */
export const utf8Bytes = (text: string | Uint8Array): number =>
  typeof text === 'string' ? Buffer.byteLength(text) : text.byteLength;

/** A text as the table texts keeps it: under the hash of its UTF-8 bytes. */
export interface StoredText {
  hash: string;
  /** The text (UTF-8 bytes when it came from the body thread). */
  content: string | Uint8Array;
}

export interface PreparedManifest extends StoredText {
  key: string;
  ordinal: number;
}

/** A work as the store writes it: canonical JSON texts and their hashes (see prepareWork). */
export interface PreparedWork {
  cluster: string;
  name: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  /** Canonical JSON text of the spec without its manifests. */
  specText: string;
  specHash: string;
  manifests: PreparedManifest[];
  contentHash: string;
  sizeBytes: number;
}

/** A text longer than this (UTF-8 bytes: a large status, a workset's spec) is stored in
 *  parts of about this size. */
export const textPartBytes = 512 * 1024;

/** UTF-8 `bytes` in parts of about `size` bytes, each ending on a whole character. */
export function splitText(bytes: Uint8Array, size: number = textPartBytes): StoredText[] {
  const parts: StoredText[] = [];
  for (let start = 0; start < bytes.length; ) {
    const continues = (i: number) => i < bytes.length && ((bytes[i] as number) & 0xc0) === 0x80;
    let end = Math.min(start + size, bytes.length);
    // Not inside a character (a continuation byte is 10xxxxxx): back to its start, or past
    // its end when the part would otherwise be empty.
    while (end > start && continues(end)) end--;
    if (end === start) for (end = start + 1; continues(end); ) end++;
    const content = bytes.subarray(start, end);
    parts.push({ hash: createHash('sha256').update(content).digest('hex').slice(0, 32), content });
    start = end;
  }
  return parts;
}

/** A prepared work some of whose texts are stored already: a manifest without its content
 *  must be (the workset controller links rendered texts by hash). */
export type LinkedWork = Omit<PreparedWork, 'manifests'> & {
  manifests: (Omit<PreparedManifest, 'content'> & { content?: PreparedManifest['content'] })[];
};

/**
 * The canonical texts and hashes of a work. Made where the work is read (the body thread
 * for API writes, see parse/body-worker.ts), so that the event loop never walks a large work.
 */
export function prepareWork(w: WorkWrite): PreparedWork {
  const specText = canonicalJson(w.spec);
  const specHash = hashText(specText);
  const manifests = w.manifests.map((m: Manifest, ordinal) => {
    const content = canonicalJson(m);
    return { key: manifestKey(m), ordinal, content, hash: hashText(content) };
  });
  return {
    cluster: w.cluster,
    name: w.name,
    labels: w.labels,
    annotations: w.annotations,
    specText,
    specHash,
    manifests,
    contentHash: hashText(`${specHash}:${manifests.map((m) => m.hash).join(',')}`),
    sizeBytes: specText.length + manifests.reduce((n, m) => n + m.content.length, 0),
  };
}

function summaryFrom(text: string | null): StatusSummary | null {
  if (!text) return null;
  const s = JSON.parse(text) as Record<string, unknown>;
  // Rows filled by the migration hold nulls for what the old status did not have.
  const out: StatusSummary = { conditions: Array.isArray(s.conditions) ? (s.conditions as Condition[]) : [] };
  if (typeof s.observedGeneration === 'number') out.observedGeneration = s.observedGeneration;
  if (typeof s.observedAt === 'string') out.observedAt = s.observedAt;
  if (typeof s.reportedGeneration === 'number') out.reportedGeneration = s.reportedGeneration;
  if (typeof s.completedAt === 'string') out.completedAt = s.completedAt;
  return out;
}

function workFrom(r: Raw): WorkRow {
  const specText = r.spec as string;
  let spec: Record<string, unknown> | undefined;
  return {
    cluster: r.cluster as string,
    name: r.name as string,
    uid: r.uid as string,
    generation: r.generation as number,
    resourceVersion: r.resource_version as number,
    labels: JSON.parse(r.labels as string),
    annotations: JSON.parse(r.annotations as string),
    get spec() {
      spec ??= JSON.parse(specText) as Record<string, unknown>;
      return spec;
    },
    specText,
    specHash: r.spec_hash as string,
    contentHash: r.content_hash as string,
    manifestCount: r.manifest_count as number,
    sizeBytes: r.size_bytes as number,
    statusSummary: summaryFrom((r.status_summary as string | null) ?? null),
    statusSeq: r.status_seq as number,
    createdAt: r.created_at as string,
    updatedAt: r.updated_at as string,
    deletionAt: (r.deletion_at as string | null) ?? null,
  };
}

/** The parts of a manifest's key (manifestKey: group|Kind|namespace|name; a name has no '|'). */
export function keyParts(key: string): { group: string; kind: string; namespace: string; name: string } {
  const [group = '', kind = '', namespace = '', ...name] = key.split('|');
  return { group, kind, namespace, name: name.join('|') };
}

function manifestFrom(r: Raw): ManifestRow {
  return {
    key: r.key as string,
    ordinal: r.ordinal as number,
    hash: r.hash as string,
    changedGeneration: r.changed_generation as number,
  };
}

/** Every column of a work row but the agent's status (read alone, by statusBytes). */
const row = `SELECT cluster, name, uid, generation, resource_version, labels, annotations, spec, spec_hash,
  content_hash, manifest_count, size_bytes, status_summary, status_seq, created_at, updated_at, deletion_at FROM works`;

/** A cluster's works counted by their conditions, by the rules of fleet/compliance.ts
 *  addWork (its countsOf): Applied=True; Available=True of those applied; Degraded=True;
 *  DeletionsHeld=True. A work with no status yet counts in `total` alone. */
export interface WorkCounts {
  total: number;
  applied: number;
  available: number;
  degraded: number;
  deletionsHeld: number;
}

/** The statements of the work store, as SQLite takes them… */
const sqliteQueries = {
  get: `${row} WHERE cluster = ? AND name = ?`,
  getByUid: `${row} WHERE uid = ?`,
  pageCluster: `${row} WHERE cluster = ? AND name > ? ORDER BY name LIMIT ?`,
  pageAll: `${row} WHERE (cluster > ? OR (cluster = ? AND name > ?)) ORDER BY cluster, name LIMIT ?`,
  forCluster: `${row} WHERE cluster = ? ORDER BY name`,
  statusText: 'SELECT CAST(status AS BLOB) AS status, status_summary, status_seq FROM works WHERE uid = ?',
  // NULL or not is in the record's header: a large status in the row is not read.
  // The summary and sequence only for a status in parts: after a status kept in the row (up to
  // 512 KiB), reading them would walk the row's overflow pages for nothing.
  statusKept: `SELECT status IS NOT NULL AS inline, CASE WHEN status IS NULL THEN status_summary END AS status_summary,
    CASE WHEN status IS NULL THEN status_seq END AS status_seq FROM works WHERE uid = ?`,
  statusSeq: 'SELECT status_seq FROM works WHERE uid = ?',
  statusParts: 'SELECT hash FROM work_status_parts WHERE work_uid = ? ORDER BY idx',
  dropStatusParts: 'DELETE FROM work_status_parts WHERE work_uid = ?',
  addStatusPart: 'INSERT INTO work_status_parts (work_uid, idx, hash) VALUES (?, ?, ?)',
  // Only the conditions, from the status summary: the metrics never read whole statuses.
  metricPage: `SELECT cluster, name,
    CASE WHEN json_valid(status_summary) THEN json_extract(status_summary, '$.conditions') END AS conditions
    FROM works WHERE (cluster, name) > (?, ?) ORDER BY cluster, name LIMIT ?`,
  // The named clusters' works counted in one grouped statement (the clusters list's
  // status.works), from the status summary's conditions, each work's list read once (a row
  // per condition, then per work whether one of each type is True): what is not a list of
  // objects counts as no conditions, as the overview's reading of metricPage does.
  counts: `SELECT cluster, COUNT(*) AS total, SUM(applied) AS applied, SUM(applied AND available) AS available,
      SUM(degraded) AS degraded, SUM(held) AS held
    FROM (SELECT w.cluster,
        COALESCE(MAX(CASE WHEN e.type = 'object' THEN e.value ->> '$.type' = 'Applied'
          AND e.value ->> '$.status' = 'True' END), 0) AS applied,
        COALESCE(MAX(CASE WHEN e.type = 'object' THEN e.value ->> '$.type' = 'Available'
          AND e.value ->> '$.status' = 'True' END), 0) AS available,
        COALESCE(MAX(CASE WHEN e.type = 'object' THEN e.value ->> '$.type' = 'Degraded'
          AND e.value ->> '$.status' = 'True' END), 0) AS degraded,
        COALESCE(MAX(CASE WHEN e.type = 'object' THEN e.value ->> '$.type' = 'DeletionsHeld'
          AND e.value ->> '$.status' = 'True' END), 0) AS held
      FROM works w LEFT JOIN json_each(
          CASE WHEN w.status_summary IS NULL OR NOT json_valid(w.status_summary) THEN '[]'
               WHEN json_type(w.status_summary, '$.conditions') = 'array' THEN w.status_summary -> '$.conditions'
               ELSE '[]' END) e
      WHERE w.cluster IN (SELECT value FROM json_each(?))
      GROUP BY w.cluster, w.name)
    GROUP BY cluster`,
  insert: `INSERT INTO works (cluster, name, uid, generation, resource_version, labels, annotations, spec,
    spec_hash, content_hash, manifest_count, size_bytes, created_at, updated_at)
    VALUES (@cluster, @name, @uid, 1, 1, @labels, @annotations, @spec, @specHash, @contentHash, @manifestCount,
    @sizeBytes, @at, @at)`,
  update: `UPDATE works SET generation = @generation, resource_version = resource_version + 1,
    labels = @labels, annotations = @annotations, spec = @spec, spec_hash = @specHash, content_hash = @contentHash,
    manifest_count = @manifestCount, size_bytes = @sizeBytes, updated_at = @at WHERE uid = @uid`,
  markDeleted: `UPDATE works SET deletion_at = ?, resource_version = resource_version + 1
    WHERE uid = ? AND deletion_at IS NULL`,
  markAllDeleted: `UPDATE works SET deletion_at = ?, resource_version = resource_version + 1
    WHERE cluster = ? AND deletion_at IS NULL`,
  count: 'SELECT COUNT(*) AS n FROM works WHERE cluster = ?',
  uidsOf: 'SELECT uid FROM works WHERE cluster = ?',
  dropDesired: 'DELETE FROM cluster_desired WHERE cluster = ?',
  setStatus: `UPDATE works SET status = CAST(? AS TEXT), status_summary = ?, status_seq = ?,
    resource_version = resource_version + 1 WHERE uid = ?`,
  delete: 'DELETE FROM works WHERE uid = ?',
  head: 'SELECT uid, generation, content_hash FROM works WHERE cluster = ? AND name = ?',
  all: 'SELECT * FROM work_manifests WHERE work_uid = ? ORDER BY ordinal',
  live: "SELECT * FROM work_manifests WHERE work_uid = ? AND hash != '' ORDER BY ordinal",
  changedSince: 'SELECT * FROM work_manifests WHERE work_uid = ? AND changed_generation > ? ORDER BY ordinal',
  // The object's and the work's columns are the key's and the uid's, which never change; set
  // again on every write all the same, so a row that a hub of the version before the inventory
  // wrote during an upgrade (the columns left '') is found once its work is written again.
  upsertManifest: `INSERT INTO work_manifests (work_uid, key, ordinal, hash, changed_generation, cluster, work,
    api_group, kind, namespace, name)
    VALUES (@uid, @key, @ordinal, @hash, @gen, @cluster, @work, @group, @kind, @namespace, @name)
    ON CONFLICT (work_uid, key) DO UPDATE SET ordinal = excluded.ordinal, hash = excluded.hash,
    changed_generation = excluded.changed_generation, cluster = excluded.cluster, work = excluded.work,
    api_group = excluded.api_group, kind = excluded.kind, namespace = excluded.namespace, name = excluded.name`,
  text: 'SELECT CAST(content AS BLOB) AS content FROM texts WHERE hash = ?',
  // Hashes as one JSON list: a statement per hash would cost more than the lookup.
  present: 'SELECT hash FROM texts WHERE hash IN (SELECT value FROM json_each(?))',
  putText: 'INSERT OR IGNORE INTO texts (hash, size, content) VALUES (?, ?, CAST(? AS TEXT))',
  textSize: 'SELECT size FROM texts WHERE hash = ?',
  orphan: 'INSERT INTO text_orphans (hash, at) VALUES (?, ?)',
  orphanManifests: `INSERT INTO text_orphans (hash, at)
    SELECT hash, ? FROM work_manifests WHERE work_uid = ? AND hash != ''`,
  orphanStatusParts: 'INSERT INTO text_orphans (hash, at) SELECT hash, ? FROM work_status_parts WHERE work_uid = ?',
  orphans: 'SELECT rowid AS id, hash FROM text_orphans WHERE at < ? ORDER BY at LIMIT ?',
  forgetOrphan: 'DELETE FROM text_orphans WHERE rowid = ?',
  // Kept while a row names it, or while a younger candidate (a later unlinking) waits.
  dropText: `DELETE FROM texts WHERE hash = @hash
    AND NOT EXISTS (SELECT 1 FROM work_manifests m WHERE m.hash = texts.hash)
    AND NOT EXISTS (SELECT 1 FROM work_status_parts p WHERE p.hash = texts.hash)
    AND NOT EXISTS (SELECT 1 FROM workset_spec_parts w WHERE w.hash = texts.hash)
    AND NOT EXISTS (SELECT 1 FROM text_orphans o WHERE o.hash = texts.hash AND o.at >= @before)`,
  reorder: 'UPDATE work_manifests SET ordinal = ? WHERE work_uid = ? AND key = ?',
  deleteManifests: 'DELETE FROM work_manifests WHERE work_uid = ?',
  bumpDesired: `INSERT INTO cluster_desired (cluster, revision) VALUES (?, 1)
    ON CONFLICT (cluster) DO UPDATE SET revision = cluster_desired.revision + 1`,
  desired: 'SELECT revision FROM cluster_desired WHERE cluster = ?',
};

/** …and those PostgreSQL takes otherwise: texts as bytes (convert_to), a list of hashes as
 *  an array, the conditions by jsonb, the orphans by their id column (SQLite's rowid). */
const postgresQueries: Partial<typeof sqliteQueries> = {
  statusText: "SELECT convert_to(status, 'UTF8') AS status, status_summary, status_seq FROM works WHERE uid = ?",
  metricPage: `SELECT cluster, name, (status_summary::jsonb -> 'conditions')::text AS conditions
    FROM works WHERE (cluster, name) > (?, ?) ORDER BY cluster, name LIMIT ?`,
  // Containment finds a condition of that type and status among the list's objects.
  counts: `SELECT cluster, COUNT(*) AS total,
      COUNT(*) FILTER (WHERE conds @> '[{"type":"Applied","status":"True"}]') AS applied,
      COUNT(*) FILTER (WHERE conds @> '[{"type":"Applied","status":"True"},{"type":"Available","status":"True"}]')
        AS available,
      COUNT(*) FILTER (WHERE conds @> '[{"type":"Degraded","status":"True"}]') AS degraded,
      COUNT(*) FILTER (WHERE conds @> '[{"type":"DeletionsHeld","status":"True"}]') AS held
    FROM (SELECT cluster,
        CASE WHEN jsonb_typeof(status_summary::jsonb -> 'conditions') = 'array'
             THEN status_summary::jsonb -> 'conditions' ELSE '[]'::jsonb END AS conds
      FROM works WHERE cluster = ANY(?)) w
    GROUP BY cluster`,
  setStatus: `UPDATE works SET status = ?, status_summary = ?, status_seq = ?,
    resource_version = resource_version + 1 WHERE uid = ?`,
  text: "SELECT convert_to(content, 'UTF8') AS content FROM texts WHERE hash = ?",
  present: 'SELECT hash FROM texts WHERE hash = ANY(?)',
  putText: 'INSERT INTO texts (hash, size, content) VALUES (?, ?, ?) ON CONFLICT (hash) DO NOTHING',
  orphans: 'SELECT id, hash FROM text_orphans WHERE at < ? ORDER BY at LIMIT ?',
  forgetOrphan: 'DELETE FROM text_orphans WHERE id = ?',
};

export function workStore(sql: Sql) {
  const postgres = sql.dialect === 'postgres';
  const q = postgres ? { ...sqliteQueries, ...postgresQueries } : sqliteQueries;
  // SQLite takes text as UTF-8 bytes (CAST(? AS TEXT)) and a list as JSON text; PostgreSQL
  // takes a string and an array.
  const textParam = (t: string | Uint8Array | null) =>
    !postgres || t === null || typeof t === 'string'
      ? t
      : Buffer.from(t.buffer, t.byteOffset, t.byteLength).toString('utf8');
  const listParam = (items: string[]) => (postgres ? items : JSON.stringify(items));
  const get = async (cluster: string, name: string) => {
    const r = await sql.get(q.get, [cluster, name]);
    return r && workFrom(r);
  };
  const orphan = (hash: string, at: string) => sql.run(q.orphan, [hash, at]);
  /**
   * Whether the status of `uid` is still the report `seq` after reading its parts in
   * statements of their own (outside a transaction each sees its own moment). A report
   * replaced meanwhile is read again; statuses change a few times a second at most.
   */
  const sameReport = async (uid: string, seq: number, attempt: number): Promise<boolean> => {
    const now = (await sql.get<{ status_seq: number }>(q.statusSeq, [uid]))?.status_seq;
    if (now === undefined || Number(now) === Number(seq)) return true;
    if (attempt >= statusReadAttempts) {
      throw new Error(`the status of work ${uid} changed ${attempt + 1} times while it was read`);
    }
    return false;
  };
  const upsertManifest = (
    uid: string,
    work: { cluster: string; name: string },
    m: { key: string; ordinal: number; hash: string },
    gen: number,
  ) =>
    sql.run(q.upsertManifest, {
      uid,
      key: m.key,
      ordinal: m.ordinal,
      hash: m.hash,
      gen,
      cluster: work.cluster,
      work: work.name,
      ...keyParts(m.key),
    });

  const store = {
    get,
    getByUid: async (uid: string) => {
      const r = await sql.get(q.getByUid, [uid]);
      return r && workFrom(r);
    },
    forCluster: async (cluster: string) => (await sql.all(q.forCluster, [cluster])).map(workFrom),
    page: async (
      cluster: string | undefined,
      after: { cluster: string; name: string },
      limit: number,
    ): Promise<Page<WorkRow>> => {
      const rows = (
        cluster === undefined
          ? await sql.all(q.pageAll, [after.cluster, after.cluster, after.name, limit + 1])
          : await sql.all(q.pageCluster, [cluster, after.name, limit + 1])
      ).map(workFrom);
      const more = rows.length > limit;
      const items = more ? rows.slice(0, limit) : rows;
      const last = items.at(-1);
      return { items, continue: more && last ? `${last.cluster}/${last.name}` : undefined };
    },
    /** Cluster, name and the JSON text of status.conditions (null without status), in key order. */
    metricPage: (after: { cluster: string; name: string }, limit: number) =>
      // A row value, not `cluster > ? OR (cluster = ? AND name > ?)`: both databases seek the
      // primary key with it, where the OR form scans from the start (a 50,000-work pass: 380
      // ms against 100 ms on SQLite).
      sql.all<{ cluster: string; name: string; conditions: string | null }>(q.metricPage, [
        after.cluster,
        after.name,
        limit,
      ]),
    /** The works of each named cluster counted by their conditions (WorkCounts), in one
     *  statement; a cluster without works has zeros. */
    counts: async (clusters: readonly string[]): Promise<Map<string, WorkCounts>> => {
      const out = new Map<string, WorkCounts>();
      for (const c of clusters) out.set(c, { total: 0, applied: 0, available: 0, degraded: 0, deletionsHeld: 0 });
      // A statement per countsChunk clusters, the event loop free in between: a page may name
      // up to 1,000 clusters, and a statement runs on the loop on SQLite.
      const rows: Record<string, number | string | null>[] = [];
      for (let i = 0; i < clusters.length; i += countsChunk) {
        if (i) await nextTurn();
        const chunk = clusters.slice(i, i + countsChunk);
        rows.push(...(await sql.all<Record<string, number | string | null>>(q.counts, [listParam([...chunk])])));
      }
      // PostgreSQL's counts are bigints (strings here), SQLite's SUM of no rows is NULL.
      for (const r of rows) {
        out.set(r.cluster as string, {
          total: Number(r.total ?? 0),
          applied: Number(r.applied ?? 0),
          available: Number(r.available ?? 0),
          degraded: Number(r.degraded ?? 0),
          deletionsHeld: Number(r.held ?? 0),
        });
      }
      return out;
    },
    /** Live manifests in order (their texts: texts). */
    manifests: async (uid: string) => (await sql.all(q.live, [uid])).map(manifestFrom),
    /** The UTF-8 bytes of the text stored under `hash`. */
    textSize: async (hash: string): Promise<number | undefined> =>
      (await sql.get<{ size: number }>(q.textSize, [hash]))?.size,
    /** The UTF-8 text stored under `hash`. */
    text: async (hash: string): Promise<Buffer | undefined> =>
      (await sql.get<{ content: Buffer }>(q.text, [hash]))?.content,
    /** Which of `hashes` have no stored text. */
    missingTexts: async (hashes: string[]): Promise<string[]> => {
      if (hashes.length === 0) return [];
      const have = new Set((await sql.all<{ hash: string }>(q.present, [listParam(hashes)])).map((r) => r.hash));
      return hashes.filter((h) => !have.has(h));
    },
    /**
     * Stores texts (kept once per hash; see work/texts.ts). A text stored here is an orphan
     * candidate from `at` until a row names it: the write it is for may never link it.
     */
    putTexts: async (items: StoredText[], at: string) => {
      for (const m of items) {
        if ((await sql.run(q.putText, [m.hash, utf8Bytes(m.content), textParam(m.content)])) > 0)
          await orphan(m.hash, at);
      }
    },
    /** Up to `limit` orphan candidates noted before `before`, oldest first. */
    orphans: (before: string, limit: number) => sql.all<{ id: number; hash: string }>(q.orphans, [before, limit]),
    /**
     * Settles an orphan candidate noted before `before`: its text is removed unless a row
     * names it (again) or it lost a row again since `before`. Returns whether it was removed.
     */
    dropOrphan: async (o: { id: number; hash: string }, before: string): Promise<boolean> => {
      await sql.run(q.forgetOrphan, [o.id]);
      return (await sql.run(q.dropText, { hash: o.hash, before })) > 0;
    },
    /**
     * The agent's last status of work `uid` as it is kept: 'inline' (in the row: read it,
     * with its summary, by statusRead when it is written out), the hashes of its parts in
     * order (their texts: text) with the summary of that same report, or null before the
     * first report. Never the parts of one report with the summary of another.
     */
    statusOf: async (uid: string): Promise<KeptStatus | null> => {
      for (let attempt = 0; ; attempt++) {
        const r = await sql.get<{
          inline: number | boolean;
          status_summary: string | null;
          status_seq: number | string | null;
        }>(q.statusKept, [uid]);
        if (!r) return null;
        if (r.inline) return 'inline';
        // Never reported: no parts either.
        if (!Number(r.status_seq)) return null;
        const hashes = (await sql.all<{ hash: string }>(q.statusParts, [uid])).map((p) => p.hash);
        if (await sameReport(uid, Number(r.status_seq), attempt)) {
          return hashes.length ? { hashes, summary: summaryFrom(r.status_summary) } : null;
        }
      }
    },
    /**
     * The agent's last status of work `uid` as UTF-8 JSON text, however it is kept now (its
     * parts joined: a status that turned large since statusOf was asked), with the summary
     * of the same report; undefined when there is none. The text and the summary are of one
     * report even while the agent reports again.
     */
    statusRead: async (uid: string): Promise<{ bytes: Buffer; summary: StatusSummary | null } | undefined> => {
      for (let attempt = 0; ; attempt++) {
        const r = await sql.get<{ status: Buffer | null; status_summary: string | null; status_seq: number }>(
          q.statusText,
          [uid],
        );
        if (!r) return undefined;
        const summary = summaryFrom(r.status_summary);
        if (r.status) return { bytes: r.status, summary };
        const hashes = (await sql.all<{ hash: string }>(q.statusParts, [uid])).map((p) => p.hash);
        // The list of parts is what may change; their texts, stored by hash, do not.
        if (!(await sameReport(uid, Number(r.status_seq), attempt))) continue;
        const parts: (Buffer | undefined)[] = [];
        for (const h of hashes) parts.push(await store.text(h));
        return parts.length && parts.every((p) => p) ? { bytes: Buffer.concat(parts as Buffer[]), summary } : undefined;
      }
    },
    /** The agent's last status of work `uid` as UTF-8 JSON text (statusRead), or undefined. */
    statusBytes: async (uid: string): Promise<Buffer | undefined> => (await store.statusRead(uid))?.bytes,
    /** Every manifest row, tombstones included, changed after `generation`. */
    changedSince: async (uid: string, generation: number) =>
      (await sql.all(q.changedSince, [uid, generation])).map(manifestFrom),
    desiredRevision: async (cluster: string) =>
      (await sql.get<{ revision: number }>(q.desired, [cluster]))?.revision ?? 0,

    /**
     * Creates or replaces a work (prepared already, or prepared here). Returns the row and
     * whether its content (and so its generation) changed. Runs inside the caller's
     * transaction. Texts not stored before (work/texts.ts writes them ahead, in small
     * transactions) are stored here.
     */
    write: async (
      input: WorkWrite | PreparedWork | LinkedWork,
      at: string,
    ): Promise<{ work: WorkRow; changed: boolean; created: boolean }> => {
      const w = 'specText' in input ? input : prepareWork(input);
      const { manifests, contentHash } = w;
      const base = {
        labels: JSON.stringify(w.labels),
        annotations: JSON.stringify(w.annotations),
        spec: w.specText,
        specHash: w.specHash,
        contentHash,
        manifestCount: manifests.length,
        sizeBytes: w.sizeBytes,
        at,
      };
      const existing = await sql.get<{ uid: string; generation: number; content_hash: string }>(q.head, [
        w.cluster,
        w.name,
      ]);
      const changed = existing?.content_hash !== contentHash;
      // The work's rows as they are (keys and hashes only: the old content is never needed
      // to tell what changed). A text one of them names cannot have been swept: only the
      // others are looked up.
      const old =
        existing && changed
          ? new Map((await sql.all(q.all, [existing.uid])).map((r) => [r.key as string, manifestFrom(r)]))
          : new Map<string, ManifestRow>();
      const held = new Set([...old.values()].map((r) => r.hash));
      const missing = new Set(
        changed ? await store.missingTexts(manifests.filter((m) => !held.has(m.hash)).map((m) => m.hash)) : [],
      );
      const lost = manifests.find((m) => missing.has(m.hash) && m.content === undefined);
      if (lost) throw new Error(`work ${w.name}: manifest ${lost.key} names text ${lost.hash}, which is not stored`);
      await store.putTexts(manifests.filter((m) => missing.has(m.hash)) as StoredText[], at);
      if (!existing) {
        const uid = randomUUID();
        await sql.run(q.insert, { ...base, cluster: w.cluster, name: w.name, uid });
        for (const m of manifests) await upsertManifest(uid, w, m, 1);
        await sql.run(q.bumpDesired, [w.cluster]);
        return { work: (await get(w.cluster, w.name)) as WorkRow, changed: true, created: true };
      }
      const generation = changed ? existing.generation + 1 : existing.generation;
      await sql.run(q.update, { ...base, generation, uid: existing.uid });
      if (changed) {
        for (const m of manifests) {
          const prev = old.get(m.key);
          if (!prev || prev.hash !== m.hash) {
            if (prev?.hash) await orphan(prev.hash, at);
            await upsertManifest(existing.uid, w, m, generation);
          } else if (prev.ordinal !== m.ordinal) {
            await sql.run(q.reorder, [m.ordinal, existing.uid, m.key]);
          }
          old.delete(m.key);
        }
        for (const gone of old.values()) {
          if (gone.hash !== '') {
            await orphan(gone.hash, at);
            await upsertManifest(existing.uid, w, { key: gone.key, ordinal: -1, hash: '' }, generation);
          }
        }
        await sql.run(q.bumpDesired, [w.cluster]);
      }
      return { work: (await get(w.cluster, w.name)) as WorkRow, changed, created: false };
    },

    /** Asks the agent to delete the work; the row stays until the agent confirms. */
    markDeleted: async (uid: string, cluster: string, at: string): Promise<boolean> => {
      const done = (await sql.run(q.markDeleted, [at, uid])) > 0;
      if (done) await sql.run(q.bumpDesired, [cluster]);
      return done;
    },
    /** Asks the agent to delete every work of the cluster (cluster removal). */
    markAllDeleted: async (cluster: string, at: string): Promise<number> => {
      const n = await sql.run(q.markAllDeleted, [at, cluster]);
      if (n > 0) await sql.run(q.bumpDesired, [cluster]);
      return n;
    },
    count: async (cluster: string) => Number((await sql.get<{ n: number }>(q.count, [cluster]))?.n ?? 0),
    /** Forgets every work of a cluster at once (a forced removal). */
    purgeCluster: async (cluster: string) => {
      for (const { uid } of await sql.all<{ uid: string }>(q.uidsOf, [cluster])) await store.purge(uid);
      await sql.run(q.dropDesired, [cluster]);
    },
    /**
     * Stores the agent's status with the hub's summary: its JSON text, or (a large one) its
     * parts, whose texts work/texts.ts stored ahead (what is missing is stored here).
     */
    setStatus: async (
      uid: string,
      status: { text: string | Uint8Array; summary: StatusSummary } | { parts: StoredText[]; summary: StatusSummary },
      seq: number,
    ) => {
      const at = new Date().toISOString();
      await sql.run(q.orphanStatusParts, [at, uid]);
      await sql.run(q.dropStatusParts, [uid]);
      if ('parts' in status) {
        const missing = new Set(await store.missingTexts(status.parts.map((p) => p.hash)));
        await store.putTexts(
          status.parts.filter((p) => missing.has(p.hash)),
          at,
        );
        for (const [i, p] of status.parts.entries()) await sql.run(q.addStatusPart, [uid, i, p.hash]);
      }
      await sql.run(q.setStatus, [
        textParam('text' in status ? status.text : null),
        JSON.stringify(status.summary),
        seq,
        uid,
      ]);
    },
    /** Forgets the work entirely (after the agent confirmed its deletion). */
    purge: async (uid: string) => {
      const at = new Date().toISOString();
      await sql.run(q.orphanManifests, [at, uid]);
      await sql.run(q.orphanStatusParts, [at, uid]);
      await sql.run(q.deleteManifests, [uid]);
      await sql.run(q.dropStatusParts, [uid]);
      await sql.run(q.delete, [uid]);
    },
  };
  return store;
}

export type WorkStore = ReturnType<typeof workStore>;
