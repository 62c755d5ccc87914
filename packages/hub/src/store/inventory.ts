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
/** The least string greater than every string that starts with `prefix` (by code points);
 *  undefined when there is none (a prefix of U+10FFFF only). */
export function prefixEnd(prefix: string): string | undefined {
  const points = [...prefix];
  while (points.length) {
    const last = (points.pop() as string).codePointAt(0) as number;
    // The next code point, past the surrogates (no string holds them alone).
    if (last < 0x10ffff) return `${points.join('')}${String.fromCodePoint(last === 0xd7ff ? 0xe000 : last + 1)}`;
  }
  return undefined;
}

export function inventoryStatement(
  dialect: Sql['dialect'],
  s: InventoryQuery,
  from: InventoryPosition | undefined,
  limit: number,
): { text: string; params: unknown[]; windowed: boolean } {
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
  /** Criteria on columns past the sought ones: they filter the walk, they do not bound it. */
  const filters: string[] = [];
  const filterParams: unknown[] = [];
  for (const [c, v] of Object.entries(equal)) {
    if (order.includes(c as Column)) {
      filters.push(`${c} = ?`);
      filterParams.push(v);
    } else {
      where.push(`${c} = ?`);
      params.push(v);
    }
  }
  if (s.name !== undefined && s.namePrefix) {
    // Every name from the prefix up to the first string past all that start with it: a range
    // of the index (code point order, which both databases keep: BINARY, COLLATE "C").
    // A next page's position implies the lower bound only where name leads the order and the
    // position is inside the range (a continue of another search may not be): only then is
    // it left out, so that the page is sought from its position, not walked to.
    if (!(from && order[0] === 'name' && from.name >= s.name)) {
      where.push('name >= ?');
      params.push(s.name);
    }
    const upper = prefixEnd(s.name);
    if (upper !== undefined) {
      where.push('name < ?');
      params.push(upper);
    }
  }
  if (from) {
    where.push(`(${order.join(', ')}) > (${order.map(() => '?').join(', ')})`);
    params.push(...order.map((c) => from[c]));
  }
  // SQLite is told the index (a search its planner would read another way fails loudly
  // here instead of scanning); PostgreSQL's planner finds it by the order and the limit.
  const table = dialect === 'sqlite' ? `work_manifests INDEXED BY ${index}` : 'work_manifests';
  if (filters.length === 0) {
    return {
      text: `SELECT work_uid, ${columns.join(', ')} FROM ${table} WHERE ${where.join(' AND ')}
      ORDER BY ${order.join(', ')} LIMIT ?`,
      params: [...params, limit],
      windowed: false,
    };
  }
  // With filters, a page walks at most `inventoryWindow` entries of the index (a common
  // name in a kind nobody declares would otherwise walk that name's every entry in one
  // statement): each entry says whether it matches, and the caller ends a short page at the
  // window's last entry.
  return {
    text: `SELECT work_uid, ${columns.join(', ')}, CASE WHEN ${filters.join(' AND ')} THEN 1 ELSE 0 END AS hit
      FROM ${table} WHERE ${where.join(' AND ')} ORDER BY ${order.join(', ')} LIMIT ?`,
    params: [...filterParams, ...params, inventoryWindow],
    windowed: true,
  };
}

/** The most index entries one page of a search with filters walks (inventoryStatement). */
export const inventoryWindow = 5_000;

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
      const { text, params, windowed } = inventoryStatement(sql.dialect, s, from, limit + 1);
      const rows = await asSearch(() => sql.all<Record<Column | 'work_uid' | 'hit', string>>(text, params));
      const hits = windowed ? rows.filter((r) => Number(r.hit) === 1) : rows;
      const more = hits.length > limit;
      const page = more ? hits.slice(0, limit) : hits;
      // A window walked through without a full page: the next page starts after its end.
      const last = more ? page.at(-1) : windowed && rows.length === inventoryWindow ? rows.at(-1) : undefined;
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
        next: last ? (Object.fromEntries(columns.map((c) => [c, last[c]])) as InventoryPosition) : undefined,
      };
    },
  };
}

export type InventoryStore = ReturnType<typeof inventoryStore>;
