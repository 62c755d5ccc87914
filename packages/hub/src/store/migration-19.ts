// Migration 19: the declared objects of works, searchable (store/inventory.ts). A manifest's
// row says by column what its key says in one text (group|Kind|namespace|name, manifestKey
// of @outpost/shared) and which work it is of (cluster, work: a work's uid never changes its
// cluster or name), so that "which clusters have Deployment X", "what is in namespace Y" are
// answered from an index, never by reading every work. Tombstones (hash '') are in no
// index: each index holds only the objects works declare now. Its text is this migration's
// and never changes once released.
//
// One index per way in (kind, namespace, name, cluster), each the search's equal columns
// first and then the others in one order, so that a page of any search is a seek and a walk
// in index order, never a sort of what matched.

/** The columns of each index, in order (store/inventory.ts picks one by the same names). */
export const inventoryIndexes = {
  work_manifests_kind: ['kind', 'api_group', 'namespace', 'name', 'cluster', 'work'],
  work_manifests_namespace: ['namespace', 'kind', 'api_group', 'name', 'cluster', 'work'],
  work_manifests_name: ['name', 'kind', 'api_group', 'namespace', 'cluster', 'work'],
  work_manifests_cluster: ['cluster', 'kind', 'api_group', 'namespace', 'name', 'work'],
} as const;

/** Migration 19 in either dialect. */
export function inventorySql(dialect: 'sqlite' | 'postgres'): string {
  const text = dialect === 'sqlite' ? 'TEXT' : 'TEXT COLLATE "C"';
  const columns = ['cluster', 'work', 'api_group', 'kind', 'namespace', 'name']
    .map((c) => `ALTER TABLE work_manifests ADD COLUMN ${c} ${text} NOT NULL DEFAULT '';`)
    .join('\n      ');
  // The key's four parts: SQLite has no split function, so each is cut after the previous '|'.
  const head = (e: string) => `substr(${e}, 1, instr(${e}, '|') - 1)`;
  const rest = (e: string) => `substr(${e}, instr(${e}, '|') + 1)`;
  const parts =
    dialect === 'sqlite'
      ? [head('key'), head(rest('key')), head(rest(rest('key'))), rest(rest(rest('key')))]
      : [...[1, 2, 3].map((i) => `split_part(key, '|', ${i})`), `substring(key from '^[^|]*[|][^|]*[|][^|]*[|](.*)$')`];
  const indexes = Object.entries(inventoryIndexes)
    .map(([name, cols]) => `CREATE INDEX ${name} ON work_manifests (${cols.join(', ')}) WHERE hash <> '';`)
    .join('\n      ');
  // One join with works (UPDATE … FROM), not a lookup per column and row: on PostgreSQL the
  // lookups took 33 s for 500,000 manifests. A row whose work is gone (none should be) keeps
  // the defaults and is found by no search of a cluster.
  return `
      -- The work a manifest is of, and its object (the parts of its key), by column.
      ${columns}
      UPDATE work_manifests SET
        cluster = w.cluster,
        work = w.name,
        api_group = ${parts[0]},
        kind = ${parts[1]},
        namespace = ${parts[2]},
        name = ${parts[3]}
        FROM works w WHERE w.uid = work_manifests.work_uid;
      -- Live objects only (a tombstone has the empty hash).
      ${indexes}
    `;
}
