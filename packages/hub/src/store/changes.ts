// The log of changes to the API objects that watches read (api/watch.ts): one row per
// insert, delete, and update that moved an object's resourceVersion, numbered by `seq` in
// the order the changes committed. Triggers in the database write it, so no write path of
// the store can forget to. A watch's resourceVersion is a `seq`; old rows are trimmed
// (trim), and a watch from before the trimmed horizon is answered 410 (WATCH_EXPIRED).
//
// The table and its triggers are migration 17 (migration-17.ts), which says how the numbers
// follow commit order on both backends.
import { setImmediate as nextTurn } from 'node:timers/promises';
import { changeOrderLock } from './migration-17.ts';
import type { Sql } from './sql.ts';

/** The API objects whose changes are logged (migration-17.ts), as the API's plural names them. */
export type WatchedResource =
  | 'clusters'
  | 'works'
  | 'placements'
  | 'manifestworkreplicasets'
  | 'managedclustersets'
  | 'managedclustersetbindings'
  | 'gitrepos';

export interface ChangeRow {
  seq: number;
  resource: WatchedResource;
  scope: string;
  name: string;
  uid: string;
  type: 'ADDED' | 'MODIFIED' | 'DELETED';
  labels: Record<string, string>;
  /** The labels before an update or a delete (none for an insert). */
  labelsBefore: Record<string, string> | undefined;
}

export interface ChangeStore {
  /** The number of the last change committed (0: none yet): where a watch from now starts. */
  latest(): Promise<number>;
  /** Changes up to this number were trimmed: a watch from before it has lost history. */
  horizon(): Promise<number>;
  /** Up to `limit` changes of every resource after `after`, oldest first. */
  all(after: number, limit: number): Promise<ChangeRow[]>;
  /** Up to `limit` changes of `resource` after `after`, oldest first; `scope` narrows them
   *  to one namespace (or a work's cluster). */
  since(after: number, resource: WatchedResource, scope: string | undefined, limit: number): Promise<ChangeRow[]>;
  /**
   * One MODIFIED change for each named cluster that exists: its shown state changed without
   * a write of its row (its liveness: Available went Unknown, or back), so watches hear of
   * it. One statement for all of them. Call inside a short transaction of its own: on
   * PostgreSQL it takes the log's order lock at once and holds it until that commits.
   */
  clustersShownChanged(names: readonly string[]): Promise<void>;
  /** Drops changes older than `keepMs` (by the database's clock, unless `nowMs` says), and
   *  all but the last `keepRows` (never the last one); returns how many. */
  trim(nowMs: number | undefined, keepMs: number, keepRows: number): Promise<number>;
}

const horizonKey = 'changes.trimmed';

/** The row at or after `seq`, in number order. */
const rowFrom = 'SELECT seq, at_ms FROM changes WHERE seq >= ? ORDER BY seq LIMIT 1';
/** Rows deleted per statement when trimming. */
const trimSlice = 5_000;

const changeFrom = (r: Record<string, unknown>): ChangeRow => ({
  seq: Number(r.seq),
  resource: r.resource as WatchedResource,
  scope: r.scope as string,
  name: r.name as string,
  uid: r.uid as string,
  type: r.type as ChangeRow['type'],
  labels: JSON.parse(r.labels as string) as Record<string, string>,
  labelsBefore:
    r.labels_before === null ? undefined : (JSON.parse(r.labels_before as string) as Record<string, string>),
});

export function changeStore(sql: Sql): ChangeStore {
  /**
   * The first change at or after `cutoff` (ms), by halving the numbers between the oldest
   * and the newest: their times rise with them, and the log has no index on time (every row
   * is written by a hot path), so a scan would read every row older than the cutoff.
   */
  const firstYoung = async (cutoff: number): Promise<number | undefined> => {
    const rowAt = (seq: number) => sql.get<{ seq: number; at_ms: number }>(rowFrom, [seq]);
    let lo = Number((await sql.get<{ m: number | null }>('SELECT MIN(seq) AS m FROM changes'))?.m ?? 0);
    let hi = Number((await sql.get<{ m: number | null }>('SELECT MAX(seq) AS m FROM changes'))?.m ?? 0);
    const young = async (seq: number) => Number((await rowAt(seq))?.at_ms ?? -1) >= cutoff;
    if (!(await young(hi))) return undefined;
    // The smallest number whose next row is young: that row is the first young one.
    while (lo < hi) {
      const mid = Math.floor((lo + hi) / 2);
      if (await young(mid)) hi = mid;
      else lo = mid + 1;
    }
    return Number((await rowAt(lo))?.seq);
  };
  const horizon = async () =>
    Number((await sql.get<{ value: string }>('SELECT value FROM hub_meta WHERE key = ?', [horizonKey]))?.value ?? 0);
  return {
    async latest() {
      const m = (await sql.get<{ m: number | null }>('SELECT MAX(seq) AS m FROM changes'))?.m;
      return Math.max(m ?? 0, await horizon());
    },
    horizon,
    async all(after, limit) {
      return (
        await sql.all<Record<string, unknown>>(
          'SELECT seq, resource, scope, name, uid, type, labels, labels_before FROM changes WHERE seq > ? ORDER BY seq LIMIT ?',
          [after, limit],
        )
      ).map(changeFrom);
    },
    async since(after, resource, scope, limit) {
      const rows = await sql.all<Record<string, unknown>>(
        `SELECT seq, resource, scope, name, uid, type, labels, labels_before FROM changes
          WHERE seq > ? AND resource = ?${scope === undefined ? '' : ' AND scope = ?'}
          ORDER BY seq LIMIT ?`,
        scope === undefined ? [after, resource, limit] : [after, resource, scope, limit],
      );
      return rows.map(changeFrom);
    },
    async clustersShownChanged(names) {
      if (names.length === 0) return;
      const list = JSON.stringify(names);
      if (sql.dialect === 'postgres') {
        // The triggers' own order (migration-17.ts): one committing transaction at a time
        // holds the lock, so numbers stay in commit order. The transaction's snapshot was
        // taken as it began waiting for the lock: FOR SHARE makes a cluster written by a
        // writer that committed meanwhile a serialization failure, and the run again (a new
        // snapshot) logs its labels as they are, never older ones after newer.
        await sql.get('SELECT pg_advisory_xact_lock(?) AS locked', [changeOrderLock]);
        await sql.run(
          `INSERT INTO changes (resource, scope, name, uid, type, labels, labels_before, at_ms)
             SELECT 'clusters', '', c.name, c.uid, 'MODIFIED', c.labels, c.labels,
                    (extract(epoch FROM clock_timestamp()) * 1000)::bigint
               FROM clusters c WHERE c.name IN (SELECT jsonb_array_elements_text(?::jsonb))
               ORDER BY c.name FOR SHARE OF c`,
          [list],
        );
        return;
      }
      await sql.run(
        `INSERT INTO changes (resource, scope, name, uid, type, labels, labels_before, at_ms)
           SELECT 'clusters', '', name, uid, 'MODIFIED', labels, labels, CAST(unixepoch('subsec') * 1000 AS INTEGER)
             FROM clusters WHERE name IN (SELECT value FROM json_each(?)) ORDER BY name`,
        [list],
      );
    },
    // Outside a transaction: on PostgreSQL a serializable read of the log's end would
    // conflict with every commit that appends to it. The horizon moves first (and only
    // forward, whoever trims at once), so a stop in between costs a watch its history a
    // little early, never a change it did not see.
    async trim(nowMs, keepMs, keepRows) {
      const last = Number((await sql.get<{ m: number | null }>('SELECT MAX(seq) AS m FROM changes'))?.m ?? 0);
      // The database's clock, as the triggers' (replicas' clocks never matter).
      const now =
        nowMs ??
        Number(
          (
            await sql.get<{ now: number }>(
              sql.dialect === 'postgres'
                ? 'SELECT (extract(epoch FROM clock_timestamp()) * 1000)::bigint AS now'
                : `SELECT CAST(unixepoch('subsec') * 1000 AS INTEGER) AS now`,
            )
          )?.now,
        );
      const young = await firstYoung(now - keepMs);
      const cut = Math.min(last - 1, Math.max(young === undefined ? last : young - 1, last - keepRows));
      if (cut <= (await horizon())) return 0;
      await sql.run(
        sql.dialect === 'postgres'
          ? `INSERT INTO hub_meta (key, value) VALUES (?, ?) ON CONFLICT (key)
               DO UPDATE SET value = GREATEST(hub_meta.value::bigint, excluded.value::bigint)::text`
          : `INSERT INTO hub_meta (key, value) VALUES (?, ?) ON CONFLICT (key)
               DO UPDATE SET value = CAST(MAX(CAST(value AS INTEGER), CAST(excluded.value AS INTEGER)) AS TEXT)`,
        [horizonKey, String(cut)],
      );
      // In slices, the event loop free between them (SQLite answers on it).
      let deleted = 0;
      for (;;) {
        const n = await sql.run(
          'DELETE FROM changes WHERE seq IN (SELECT seq FROM changes WHERE seq <= ? ORDER BY seq LIMIT ?)',
          [cut, trimSlice],
        );
        deleted += n;
        if (n < trimSlice) return deleted;
        await nextTurn();
      }
    },
  };
}
