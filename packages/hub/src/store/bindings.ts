// Store operations for OCM's ManagedClusterSetBindings (migration 14): a binding lets the
// Placements of one namespace select from the set it names. Its name is the set's (OCM
// requires it), so a row is (namespace, name) with labels and annotations and nothing else.
import { randomUUID } from 'node:crypto';
import { canonicalJson } from '@outpost/shared';
import type { Row, Sql } from './sql.ts';

type Raw = Row;

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
  resourceVersion: Number(r.resource_version),
  labels: JSON.parse(r.labels as string),
  annotations: JSON.parse(r.annotations as string),
  createdAt: r.created_at as string,
  updatedAt: r.updated_at as string,
});

const q = {
  get: 'SELECT * FROM cluster_set_bindings WHERE namespace = ? AND name = ?',
  all: 'SELECT * FROM cluster_set_bindings ORDER BY namespace, name',
  insert: `INSERT INTO cluster_set_bindings
    (namespace, name, uid, resource_version, labels, annotations, created_at, updated_at)
    VALUES (@namespace, @name, @uid, 1, @labels, @annotations, @at, @at)`,
  update: `UPDATE cluster_set_bindings SET resource_version = resource_version + 1,
    labels = @labels, annotations = @annotations, updated_at = @at WHERE namespace = @namespace AND name = @name`,
  delete: 'DELETE FROM cluster_set_bindings WHERE namespace = ? AND name = ?',
};

export function bindingStore(sql: Sql) {
  const get = async (namespace: string, name: string): Promise<BindingRow | undefined> => {
    const r = await sql.get(q.get, [namespace, name]);
    return r && rowFrom(r);
  };
  return {
    get,
    /** Every binding, by namespace then name (a hub has few). */
    all: async (): Promise<BindingRow[]> => (await sql.all(q.all)).map(rowFrom),
    /** Creates or replaces; `changed` is false when labels and annotations were the same. */
    put: async (w: BindingWrite, at: string): Promise<{ row: BindingRow; created: boolean; changed: boolean }> => {
      const labels = canonicalJson(w.labels);
      const annotations = canonicalJson(w.annotations);
      const old = await sql.get(q.get, [w.namespace, w.name]);
      if (!old) {
        await sql.run(q.insert, { namespace: w.namespace, name: w.name, uid: randomUUID(), labels, annotations, at });
        return { row: (await get(w.namespace, w.name)) as BindingRow, created: true, changed: true };
      }
      const same =
        canonicalJson(JSON.parse(old.labels as string)) === labels &&
        canonicalJson(JSON.parse(old.annotations as string)) === annotations;
      if (same) return { row: rowFrom(old), created: false, changed: false };
      await sql.run(q.update, { namespace: w.namespace, name: w.name, labels, annotations, at });
      return { row: (await get(w.namespace, w.name)) as BindingRow, created: false, changed: true };
    },
    delete: async (namespace: string, name: string): Promise<boolean> =>
      (await sql.run(q.delete, [namespace, name])) > 0,
  };
}

export type BindingStore = ReturnType<typeof bindingStore>;
