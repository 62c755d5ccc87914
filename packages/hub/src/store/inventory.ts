// The fleet's inventory: the objects works declare now, searched by kind (and group),
// namespace, name (exact, or a prefix) and cluster, in any combination, a page at a time.
// Read from work_manifests' own columns (migration 19) through one of its four indexes,
// picked by what the search fixes: the cluster's when a cluster is given (a cluster declares
// few objects), else the name's, else the namespace's, else the kind's. The index's leading
// columns the search fixes are sought; its other columns order the page, so a page is one
// seek and a walk in the index's order until `limit + 1` entries match, whatever the fleet's
// size (the other criteria filter the walk). Tombstones are never listed. Works being deleted are:
// their objects are still on their clusters until the agent confirms (the API says so).
//
// Written only where works are written (store/works.ts): status reports do not touch it.
import { inventoryIndexes } from './migration-19.ts';
import type { Sql } from './sql.ts';

export interface InventoryQuery {
  kind?: string;
  /** Only with kind: the API group ('' the core group). */
  group?: string;
  namespace?: string;
  /** Exact, or (prefix) every name that starts with it. */
  name?: string;
  namePrefix?: boolean;
  cluster?: string;
}

export interface InventoryRow {
  cluster: string;
  work: string;
  workUid: string;
  group: string;
  kind: string;
  namespace: string;
  name: string;
}

type Column = 'cluster' | 'work' | 'api_group' | 'kind' | 'namespace' | 'name';
type Index = keyof typeof inventoryIndexes;

/** Where a page ends: every column of its last row, so that any index can continue from it. */
export type InventoryPosition = Record<Column, string>;

const columns: Column[] = ['cluster', 'work', 'api_group', 'kind', 'namespace', 'name'];

/** The index a search reads, by what it fixes. */
export function inventoryIndex(s: InventoryQuery): Index {
  if (s.cluster !== undefined) return 'work_manifests_cluster';
  if (s.name !== undefined) return 'work_manifests_name';
  if (s.namespace !== undefined) return 'work_manifests_namespace';
  return 'work_manifests_kind';
}

/** The statement of a page of search `s` (after `from`, when given) and its parameters. */
export function inventoryStatement(
  dialect: Sql['dialect'],
  s: InventoryQuery,
  from: InventoryPosition | undefined,
  limit: number,
): { text: string; params: unknown[] } {
  const index = inventoryIndex(s);
  const equal: Partial<Record<Column, string>> = {};
  if (s.cluster !== undefined) equal.cluster = s.cluster;
  if (s.kind !== undefined) equal.kind = s.kind;
  if (s.kind !== undefined && s.group !== undefined) equal.api_group = s.group;
  if (s.namespace !== undefined) equal.namespace = s.namespace;
  if (s.name !== undefined && !s.namePrefix) equal.name = s.name;
  // The order: the index's columns after those the search fixes.
  const cols = inventoryIndexes[index] as readonly Column[];
  let fixed = 0;
  while (fixed < cols.length && equal[cols[fixed] as Column] !== undefined) fixed++;
  const order = cols.slice(fixed);
  const where = ["hash <> ''"];
  const params: unknown[] = [];
  for (const [c, v] of Object.entries(equal)) {
    // A fixed column past the sought ones filters the walk. SQLite would take it for a
    // constant of the order and then sort what matched: its unary + says it is only a filter.
    where.push(`${dialect === 'sqlite' && order.includes(c as Column) ? '+' : ''}${c} = ?`);
    params.push(v);
  }
  if (s.name !== undefined && s.namePrefix) {
    // Every name from the prefix up to the prefix with its last character's successor: a
    // range of the index (code point order, which both databases keep: BINARY, COLLATE "C").
    const last = s.name.codePointAt(s.name.length - 1) ?? 0;
    const upper = `${s.name.slice(0, s.name.length - (last > 0xffff ? 2 : 1))}${String.fromCodePoint(last + 1)}`;
    // A next page starts at its position (past the prefix's start): the only lower bound,
    // so that it is sought, not walked to from the prefix's start.
    if (!from) {
      where.push('name >= ?');
      params.push(s.name);
    }
    where.push('name < ?');
    params.push(upper);
  }
  if (from) {
    where.push(`(${order.join(', ')}) > (${order.map(() => '?').join(', ')})`);
    params.push(...order.map((c) => from[c]));
  }
  params.push(limit);
  // SQLite is told the index (a search its planner would read another way fails loudly
  // here instead of scanning); PostgreSQL's planner finds it by the order and the limit.
  const table = dialect === 'sqlite' ? `work_manifests INDEXED BY ${index}` : 'work_manifests';
  return {
    text: `SELECT work_uid, ${columns.join(', ')} FROM ${table} WHERE ${where.join(' AND ')}
      ORDER BY ${order.join(', ')} LIMIT ?`,
    params,
  };
}

export function inventoryStore(sql: Sql) {
  /**
   * Runs `fn`'s statement as a search is read. PostgreSQL is told not to sort: it would
   * otherwise guess a next page's row comparison to match a few rows (from the statistics
   * of its first column, which a kind's objects mostly share) and read every match of the
   * search through a bitmap to sort them (a kind's 10th page at 50,000 works: 36 ms; read
   * in the index's order, 1.7 ms). SQLite is told its index in the statement (INDEXED BY).
   * `small`: PostgreSQL plans as for a fleet's table (no scan of the whole table), not as
   * for the few rows a test holds.
   */
  const asSearch = <T>(fn: () => Promise<T>, small = false): Promise<T> =>
    sql.dialect === 'sqlite'
      ? fn()
      : sql.transaction(async () => {
          await sql.run('SET LOCAL enable_sort = off');
          if (small) await sql.run('SET LOCAL enable_seqscan = off');
          return fn();
        });
  return {
    /**
     * The database's plan of a page of search `s`, as text (EXPLAIN QUERY PLAN, EXPLAIN):
     * what tests and the benchmark check. `small`: see asSearch.
     */
    plan: (s: InventoryQuery, from: InventoryPosition | undefined, limit: number, small = false) =>
      asSearch(async () => {
        const { text, params } = inventoryStatement(sql.dialect, s, from, limit + 1);
        if (sql.dialect === 'sqlite') {
          const rows = await sql.all<{ detail: string }>(`EXPLAIN QUERY PLAN ${text}`, params);
          return rows.map((r) => r.detail).join('\n');
        }
        const rows = await sql.all<{ 'QUERY PLAN': string }>(`EXPLAIN ${text}`, params);
        return rows.map((r) => r['QUERY PLAN']).join('\n');
      }, small),
    /**
     * Up to `limit` objects of search `s` after position `from`, in the order of the index
     * it reads, and the position after which the next page starts (undefined: no more).
     */
    page: async (
      s: InventoryQuery,
      from: InventoryPosition | undefined,
      limit: number,
    ): Promise<{ items: InventoryRow[]; next: InventoryPosition | undefined }> => {
      const { text, params } = inventoryStatement(sql.dialect, s, from, limit + 1);
      const rows = await asSearch(() => sql.all<Record<Column | 'work_uid', string>>(text, params));
      const more = rows.length > limit;
      const page = more ? rows.slice(0, limit) : rows;
      const last = page.at(-1);
      return {
        items: page.map((r) => ({
          cluster: r.cluster,
          work: r.work,
          workUid: r.work_uid,
          group: r.api_group,
          kind: r.kind,
          namespace: r.namespace,
          name: r.name,
        })),
        next: more && last ? (Object.fromEntries(columns.map((c) => [c, last[c]])) as InventoryPosition) : undefined,
      };
    },
  };
}

export type InventoryStore = ReturnType<typeof inventoryStore>;
