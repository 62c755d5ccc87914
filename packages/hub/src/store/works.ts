// Store operations for ManifestWorks. A work's manifests are rows of their own, each with
// the generation at which it last changed, so a sync can send just what changed since the
// generation an agent holds. A removed manifest leaves a tombstone row (content NULL).
import { randomUUID } from 'node:crypto';
import { canonicalJson, hashText, type Manifest, manifestKey } from '@outpost/shared';
import type Database from 'better-sqlite3';
import type { Page } from './trust.ts';

type DB = Database.Database;
type Raw = Record<string, unknown>;

export interface WorkRow {
  cluster: string;
  name: string;
  uid: string;
  generation: number;
  resourceVersion: number;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  spec: Record<string, unknown>;
  specHash: string;
  contentHash: string;
  manifestCount: number;
  sizeBytes: number;
  status: Record<string, unknown> | null;
  statusSeq: number;
  createdAt: string;
  updatedAt: string;
  deletionAt: string | null;
}

export interface ManifestRow {
  key: string;
  ordinal: number;
  /** Canonical JSON text; null for a tombstone. */
  content: string | null;
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

function workFrom(r: Raw): WorkRow {
  return {
    cluster: r.cluster as string,
    name: r.name as string,
    uid: r.uid as string,
    generation: r.generation as number,
    resourceVersion: r.resource_version as number,
    labels: JSON.parse(r.labels as string),
    annotations: JSON.parse(r.annotations as string),
    spec: JSON.parse(r.spec as string),
    specHash: r.spec_hash as string,
    contentHash: r.content_hash as string,
    manifestCount: r.manifest_count as number,
    sizeBytes: r.size_bytes as number,
    status: r.status ? JSON.parse(r.status as string) : null,
    statusSeq: r.status_seq as number,
    createdAt: r.created_at as string,
    updatedAt: r.updated_at as string,
    deletionAt: (r.deletion_at as string | null) ?? null,
  };
}

function manifestFrom(r: Raw): ManifestRow {
  return {
    key: r.key as string,
    ordinal: r.ordinal as number,
    content: (r.content as string | null) ?? null,
    hash: r.hash as string,
    changedGeneration: r.changed_generation as number,
  };
}

export function workStore(db: DB) {
  const s = {
    get: db.prepare('SELECT * FROM works WHERE cluster = ? AND name = ?'),
    getByUid: db.prepare('SELECT * FROM works WHERE uid = ?'),
    pageCluster: db.prepare('SELECT * FROM works WHERE cluster = ? AND name > ? ORDER BY name LIMIT ?'),
    pageAll: db.prepare(
      'SELECT * FROM works WHERE (cluster > ? OR (cluster = ? AND name > ?)) ORDER BY cluster, name LIMIT ?',
    ),
    forCluster: db.prepare('SELECT * FROM works WHERE cluster = ? ORDER BY name'),
    // Only the conditions, extracted by SQLite: the metrics never parse whole statuses.
    metricPage: db.prepare(`SELECT cluster, name,
      CASE WHEN json_valid(status) THEN json_extract(status, '$.conditions') END AS conditions
      FROM works WHERE (cluster > ? OR (cluster = ? AND name > ?)) ORDER BY cluster, name LIMIT ?`),
    insert: db.prepare(`INSERT INTO works (cluster, name, uid, generation, resource_version, labels, annotations, spec,
      spec_hash, content_hash, manifest_count, size_bytes, created_at, updated_at)
      VALUES (@cluster, @name, @uid, 1, 1, @labels, @annotations, @spec, @specHash, @contentHash, @manifestCount,
      @sizeBytes, @at, @at)`),
    update: db.prepare(`UPDATE works SET generation = @generation, resource_version = resource_version + 1,
      labels = @labels, annotations = @annotations, spec = @spec, spec_hash = @specHash, content_hash = @contentHash,
      manifest_count = @manifestCount, size_bytes = @sizeBytes, updated_at = @at WHERE uid = @uid`),
    markDeleted: db.prepare(`UPDATE works SET deletion_at = ?, resource_version = resource_version + 1
      WHERE uid = ? AND deletion_at IS NULL`),
    markAllDeleted: db.prepare(`UPDATE works SET deletion_at = ?, resource_version = resource_version + 1
      WHERE cluster = ? AND deletion_at IS NULL`),
    count: db.prepare('SELECT COUNT(*) AS n FROM works WHERE cluster = ?'),
    uidsOf: db.prepare('SELECT uid FROM works WHERE cluster = ?'),
    dropDesired: db.prepare('DELETE FROM cluster_desired WHERE cluster = ?'),
    setStatus: db.prepare(`UPDATE works SET status = ?, status_seq = ?, resource_version = resource_version + 1
      WHERE uid = ?`),
    delete: db.prepare('DELETE FROM works WHERE uid = ?'),
    manifests: db.prepare('SELECT * FROM work_manifests WHERE work_uid = ? ORDER BY ordinal'),
    live: db.prepare('SELECT * FROM work_manifests WHERE work_uid = ? AND content IS NOT NULL ORDER BY ordinal'),
    changedSince: db.prepare(
      'SELECT * FROM work_manifests WHERE work_uid = ? AND changed_generation > ? ORDER BY ordinal',
    ),
    upsertManifest: db.prepare(`INSERT INTO work_manifests (work_uid, key, ordinal, content, hash, changed_generation)
      VALUES (@uid, @key, @ordinal, @content, @hash, @gen)
      ON CONFLICT (work_uid, key) DO UPDATE SET ordinal = excluded.ordinal, content = excluded.content,
      hash = excluded.hash, changed_generation = excluded.changed_generation`),
    reorder: db.prepare('UPDATE work_manifests SET ordinal = ? WHERE work_uid = ? AND key = ?'),
    deleteManifests: db.prepare('DELETE FROM work_manifests WHERE work_uid = ?'),
    bumpDesired: db.prepare(`INSERT INTO cluster_desired (cluster, revision) VALUES (?, 1)
      ON CONFLICT (cluster) DO UPDATE SET revision = revision + 1`),
    desired: db.prepare('SELECT revision FROM cluster_desired WHERE cluster = ?'),
  };

  const get = (cluster: string, name: string) => {
    const r = s.get.get(cluster, name) as Raw | undefined;
    return r && workFrom(r);
  };

  return {
    get,
    getByUid: (uid: string) => {
      const r = s.getByUid.get(uid) as Raw | undefined;
      return r && workFrom(r);
    },
    forCluster: (cluster: string) => (s.forCluster.all(cluster) as Raw[]).map(workFrom),
    page: (cluster: string | undefined, after: { cluster: string; name: string }, limit: number): Page<WorkRow> => {
      const rows = (
        (cluster === undefined
          ? s.pageAll.all(after.cluster, after.cluster, after.name, limit + 1)
          : s.pageCluster.all(cluster, after.name, limit + 1)) as Raw[]
      ).map(workFrom);
      const more = rows.length > limit;
      const items = more ? rows.slice(0, limit) : rows;
      const last = items.at(-1);
      return { items, continue: more && last ? `${last.cluster}/${last.name}` : undefined };
    },
    /** Cluster, name and the JSON text of status.conditions (null without status), in key order. */
    metricPage: (after: { cluster: string; name: string }, limit: number) =>
      s.metricPage.all(after.cluster, after.cluster, after.name, limit) as {
        cluster: string;
        name: string;
        conditions: string | null;
      }[],
    /** Live manifests in order (canonical JSON text each). */
    manifests: (uid: string) => (s.live.all(uid) as Raw[]).map(manifestFrom),
    /** Every manifest row, tombstones included, changed after `generation`. */
    changedSince: (uid: string, generation: number) => (s.changedSince.all(uid, generation) as Raw[]).map(manifestFrom),
    desiredRevision: (cluster: string) => (s.desired.get(cluster) as { revision: number } | undefined)?.revision ?? 0,

    /**
     * Creates or replaces a work. Returns the row and whether its content (and so its
     * generation) changed. Runs inside the caller's transaction.
     */
    write: (w: WorkWrite, at: string): { work: WorkRow; changed: boolean; created: boolean } => {
      const specText = canonicalJson(w.spec);
      const specHash = hashText(specText);
      const manifests = w.manifests.map((m, ordinal) => {
        const content = canonicalJson(m);
        return { key: manifestKey(m), ordinal, content, hash: hashText(content) };
      });
      const contentHash = hashText(`${specHash}:${manifests.map((m) => m.hash).join(',')}`);
      const sizeBytes = specText.length + manifests.reduce((n, m) => n + m.content.length, 0);
      const base = {
        labels: JSON.stringify(w.labels),
        annotations: JSON.stringify(w.annotations),
        spec: specText,
        specHash,
        contentHash,
        manifestCount: manifests.length,
        sizeBytes,
        at,
      };
      const existing = get(w.cluster, w.name);
      if (!existing) {
        const uid = randomUUID();
        s.insert.run({ ...base, cluster: w.cluster, name: w.name, uid });
        for (const m of manifests) s.upsertManifest.run({ ...m, uid, gen: 1 });
        s.bumpDesired.run(w.cluster);
        return { work: get(w.cluster, w.name) as WorkRow, changed: true, created: true };
      }
      const changed = existing.contentHash !== contentHash;
      const generation = changed ? existing.generation + 1 : existing.generation;
      s.update.run({ ...base, generation, uid: existing.uid });
      if (changed) {
        const old = new Map((s.manifests.all(existing.uid) as Raw[]).map((r) => [r.key as string, manifestFrom(r)]));
        for (const m of manifests) {
          const prev = old.get(m.key);
          if (!prev || prev.content === null || prev.hash !== m.hash) {
            s.upsertManifest.run({ ...m, uid: existing.uid, gen: generation });
          } else if (prev.ordinal !== m.ordinal) {
            s.reorder.run(m.ordinal, existing.uid, m.key);
          }
          old.delete(m.key);
        }
        for (const gone of old.values()) {
          if (gone.content !== null) {
            s.upsertManifest.run({
              uid: existing.uid,
              key: gone.key,
              ordinal: -1,
              content: null,
              hash: '',
              gen: generation,
            });
          }
        }
        s.bumpDesired.run(w.cluster);
      }
      return { work: get(w.cluster, w.name) as WorkRow, changed, created: false };
    },

    /** Asks the agent to delete the work; the row stays until the agent confirms. */
    markDeleted: (uid: string, cluster: string, at: string): boolean => {
      const done = s.markDeleted.run(at, uid).changes > 0;
      if (done) s.bumpDesired.run(cluster);
      return done;
    },
    /** Asks the agent to delete every work of the cluster (cluster removal). */
    markAllDeleted: (cluster: string, at: string): number => {
      const n = s.markAllDeleted.run(at, cluster).changes;
      if (n > 0) s.bumpDesired.run(cluster);
      return n;
    },
    count: (cluster: string) => (s.count.get(cluster) as { n: number }).n,
    /** Forgets every work of a cluster at once (a forced removal). */
    purgeCluster: (cluster: string) => {
      for (const { uid } of s.uidsOf.all(cluster) as { uid: string }[]) {
        s.deleteManifests.run(uid);
        s.delete.run(uid);
      }
      s.dropDesired.run(cluster);
    },
    setStatus: (uid: string, status: unknown, seq: number) => void s.setStatus.run(JSON.stringify(status), seq, uid),
    /** Forgets the work entirely (after the agent confirmed its deletion). */
    purge: (uid: string) => {
      s.deleteManifests.run(uid);
      s.delete.run(uid);
    },
  };
}

export type WorkStore = ReturnType<typeof workStore>;
