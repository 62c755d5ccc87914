// Store operations for the resources Placement and ManifestWorkReplicaSet. Both are one row
// each: spec and status as JSON, keyed by name, with the namespace they were written in
// (migrations 7 and 9; the API refuses a name that lives in another namespace). The store does not interpret spec or status: the API validates and the
// placement scheduler and workset controller own the statuses.
import { randomUUID } from 'node:crypto';
import { canonicalJson } from '@outpost/shared';
import type Database from 'better-sqlite3';
import type { Page } from './trust.ts';

type DB = Database.Database;
type Raw = Record<string, unknown>;

/**
 * One stored object. `generation` counts changes of the spec; `resourceVersion` counts every
 * write (labels, annotations, spec and status), per row and starting at 1 as for clusters
 * and works; `uid` tells a re-created object from the one before.
 */
export interface ObjectRow<Spec = Record<string, unknown>, Status = Record<string, unknown>> {
  name: string;
  /**
   * OCM's metadata.namespace as written ("default" when none was given); null for an object
   * written before namespaces were kept, until its next write adopts one.
   */
  namespace: string | null;
  uid: string;
  generation: number;
  resourceVersion: number;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  spec: Spec;
  status: Status | null;
  createdAt: string;
  updatedAt: string;
  /** Worksets only: when a Foreground deletion began (the row goes once its works are gone). */
  deletionAt: string | null;
}

export type PlacementRow = ObjectRow;
export type WorkSetRow = ObjectRow;

/** What a create or replace writes; status is written only through setStatus. */
export interface ObjectWrite {
  name: string;
  /**
   * Stored at create ("default" when absent); a replace keeps it (the API refuses another),
   * except on a row without one (written before namespaces were kept), which adopts it.
   */
  namespace?: string | null | undefined;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  spec: Record<string, unknown>;
}

function rowFrom(r: Raw): ObjectRow {
  return {
    name: r.name as string,
    namespace: typeof r.namespace === 'string' ? r.namespace : null,
    uid: r.uid as string,
    generation: r.generation as number,
    resourceVersion: r.resource_version as number,
    labels: JSON.parse(r.labels as string),
    annotations: JSON.parse(r.annotations as string),
    spec: JSON.parse(r.spec as string),
    status: typeof r.status === 'string' ? JSON.parse(r.status) : null,
    createdAt: r.created_at as string,
    updatedAt: r.updated_at as string,
    deletionAt: typeof r.deletion_at === 'string' ? r.deletion_at : null,
  };
}

function objectStore(db: DB, table: 'placements' | 'worksets') {
  const s = {
    get: db.prepare(`SELECT * FROM ${table} WHERE name = ?`),
    page: db.prepare(`SELECT * FROM ${table} WHERE name > ? ORDER BY name LIMIT ?`),
    all: db.prepare(`SELECT * FROM ${table} ORDER BY name`),
    insert: db.prepare(`INSERT INTO ${table}
      (name, namespace, uid, generation, resource_version, labels, annotations, spec, created_at, updated_at)
      VALUES (@name, @namespace, @uid, 1, 1, @labels, @annotations, @spec, @at, @at)`),
    update: db.prepare(`UPDATE ${table} SET generation = @generation, resource_version = resource_version + 1,
      labels = @labels, annotations = @annotations, spec = @spec, updated_at = @at,
      namespace = COALESCE(namespace, @namespace) WHERE name = @name`),
    setStatus: db.prepare(`UPDATE ${table} SET status = ?, resource_version = resource_version + 1 WHERE name = ?`),
    delete: db.prepare(`DELETE FROM ${table} WHERE name = ?`),
    markDeleting:
      table === 'worksets'
        ? db.prepare(`UPDATE worksets SET deletion_at = @at, resource_version = resource_version + 1
            WHERE name = @name AND deletion_at IS NULL`)
        : undefined,
  };
  const get = (name: string): ObjectRow | undefined => {
    const r = s.get.get(name) as Raw | undefined;
    return r && rowFrom(r);
  };
  // Canonical JSON, so a re-applied object whose keys come in another order is unchanged.
  const columns = (w: ObjectWrite) => ({
    labels: canonicalJson(w.labels),
    annotations: canonicalJson(w.annotations),
    spec: canonicalJson(w.spec),
  });

  return {
    get,
    page: (after: string, limit: number): Page<ObjectRow> => {
      const rows = (s.page.all(after, limit + 1) as Raw[]).map(rowFrom);
      const more = rows.length > limit;
      const items = more ? rows.slice(0, limit) : rows;
      return { items, continue: more ? items.at(-1)?.name : undefined };
    },
    /** Every object, by name (the scheduler and controller work on all of them). */
    all: () => (s.all.all() as Raw[]).map(rowFrom),
    /** Inserts a new object; undefined when one of that name exists. */
    create: (w: ObjectWrite, at: string): ObjectRow | undefined => {
      if (s.get.get(w.name)) return undefined;
      s.insert.run({ ...columns(w), name: w.name, namespace: w.namespace ?? 'default', uid: randomUUID(), at });
      return get(w.name);
    },
    /**
     * Replaces labels, annotations and spec (status stays). A write that changes nothing
     * bumps nothing (`changed: false`); a changed spec bumps the generation. Undefined when
     * there is no such object.
     */
    replace: (w: ObjectWrite, at: string): { row: ObjectRow; changed: boolean; specChanged: boolean } | undefined => {
      const r = s.get.get(w.name) as Raw | undefined;
      if (!r) return undefined;
      const next = columns(w);
      const specChanged = canonicalJson(JSON.parse(r.spec as string)) !== next.spec;
      // A row from before namespaces were kept adopts the one this write names.
      const adopts = r.namespace === null && typeof w.namespace === 'string';
      const changed =
        specChanged ||
        adopts ||
        canonicalJson(JSON.parse(r.labels as string)) !== next.labels ||
        canonicalJson(JSON.parse(r.annotations as string)) !== next.annotations;
      if (!changed) return { row: rowFrom(r), changed, specChanged };
      const generation = (r.generation as number) + (specChanged ? 1 : 0);
      s.update.run({ ...next, generation, name: w.name, at, namespace: w.namespace ?? null });
      return { row: get(w.name) as ObjectRow, changed, specChanged };
    },
    delete: (name: string): boolean => s.delete.run(name).changes > 0,
    /**
     * Worksets: records that a Foreground deletion began (once; resourceVersion + 1). The
     * row, or undefined when it is gone.
     */
    markDeleting: (name: string, at: string): ObjectRow | undefined => {
      if (!s.markDeleting) throw new Error(`${table} are deleted at once`);
      s.markDeleting.run({ name, at });
      return get(name);
    },
    /** Writes the status (resourceVersion + 1); the row, or undefined when it is gone. */
    setStatus: (name: string, status: unknown): ObjectRow | undefined => {
      if (s.setStatus.run(JSON.stringify(status), name).changes === 0) return undefined;
      return get(name);
    },
  };
}

export type ObjectStore = ReturnType<typeof objectStore>;

export function placementStore(db: DB): ObjectStore {
  return objectStore(db, 'placements');
}

export function workSetStore(db: DB): ObjectStore {
  return objectStore(db, 'worksets');
}
