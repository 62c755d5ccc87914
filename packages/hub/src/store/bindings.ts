// Store operations for OCM's ManagedClusterSetBindings (migration 14): a binding lets the
// Placements of one namespace select from the set it names. Its name is the set's (OCM
// requires it), so a row is (namespace, name) with labels and annotations and nothing else.
import { randomUUID } from 'node:crypto';
import { canonicalJson } from '@outpost/shared';
import type Database from 'better-sqlite3';

type Raw = Record<string, unknown>;

export interface BindingRow {
  namespace: string;
  name: string;
  uid: string;
  resourceVersion: number;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  createdAt: string;
  updatedAt: string;
}

export interface BindingWrite {
  namespace: string;
  name: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
}

const rowFrom = (r: Raw): BindingRow => ({
  namespace: r.namespace as string,
  name: r.name as string,
  uid: r.uid as string,
  resourceVersion: r.resource_version as number,
  labels: JSON.parse(r.labels as string),
  annotations: JSON.parse(r.annotations as string),
  createdAt: r.created_at as string,
  updatedAt: r.updated_at as string,
});

export function bindingStore(db: Database.Database) {
  const s = {
    get: db.prepare('SELECT * FROM cluster_set_bindings WHERE namespace = ? AND name = ?'),
    all: db.prepare('SELECT * FROM cluster_set_bindings ORDER BY namespace, name'),
    insert: db.prepare(`INSERT INTO cluster_set_bindings
      (namespace, name, uid, resource_version, labels, annotations, created_at, updated_at)
      VALUES (@namespace, @name, @uid, 1, @labels, @annotations, @at, @at)`),
    update: db.prepare(`UPDATE cluster_set_bindings SET resource_version = resource_version + 1,
      labels = @labels, annotations = @annotations, updated_at = @at WHERE namespace = @namespace AND name = @name`),
    delete: db.prepare('DELETE FROM cluster_set_bindings WHERE namespace = ? AND name = ?'),
  };
  const get = (namespace: string, name: string): BindingRow | undefined => {
    const r = s.get.get(namespace, name) as Raw | undefined;
    return r && rowFrom(r);
  };
  return {
    get,
    /** Every binding, by namespace then name (a hub has few). */
    all: (): BindingRow[] => (s.all.all() as Raw[]).map(rowFrom),
    /** Creates or replaces; `changed` is false when labels and annotations were the same. */
    put: (w: BindingWrite, at: string): { row: BindingRow; created: boolean; changed: boolean } => {
      const labels = canonicalJson(w.labels);
      const annotations = canonicalJson(w.annotations);
      const old = s.get.get(w.namespace, w.name) as Raw | undefined;
      if (!old) {
        s.insert.run({ namespace: w.namespace, name: w.name, uid: randomUUID(), labels, annotations, at });
        return { row: get(w.namespace, w.name) as BindingRow, created: true, changed: true };
      }
      const same =
        canonicalJson(JSON.parse(old.labels as string)) === labels &&
        canonicalJson(JSON.parse(old.annotations as string)) === annotations;
      if (same) return { row: rowFrom(old), created: false, changed: false };
      s.update.run({ namespace: w.namespace, name: w.name, labels, annotations, at });
      return { row: get(w.namespace, w.name) as BindingRow, created: false, changed: true };
    },
    delete: (namespace: string, name: string): boolean => s.delete.run(namespace, name).changes > 0,
  };
}

export type BindingStore = ReturnType<typeof bindingStore>;
