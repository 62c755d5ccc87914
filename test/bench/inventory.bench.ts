// The inventory search at fleet size, on the store of either backend: 10,000 clusters with
// 5 works each (50,000 works) declaring 10 objects each (500,000 manifests: a Namespace, a
// Deployment, a Service, a ServiceAccount, four ConfigMaps, two Secrets; 1 % of works a
// CronJob in namespace ops instead of the second Secret; 0.1 % of works their ConfigMaps in
// namespace rare-ns), written straight into a migrated database. Timed: a page of 100 of
// the store's search (store.inventory.page) by kind, kind and group, namespace, namespace
// and kind, exact name, name prefix, cluster, a rare kind, a rare namespace, the 10th page
// of a kind's search (continue), and the worst combination the indexes serve (a common
// name in a rare namespace: the name's index is walked, the namespace filters). Each
// search's plan on the full table is recorded (EXPLAIN QUERY PLAN / EXPLAIN): no full scan.
// The API's answer on SQLite (a hub on that database; every work has a status to read). And
// migration 19 on such a database of version 18 (the upgrade's start).
//   ./scripts/bench inventory
// Writes test/bench/results/inventory.json.
import { mkdtemp, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { migrate, openPostgresStore, openStore, type Store } from '../../packages/hub/src/store/index.ts';
import type { InventoryPosition, InventoryQuery } from '../../packages/hub/src/store/inventory.ts';
import { migratePg } from '../../packages/hub/src/store/migrate-pg.ts';
import { migrations } from '../../packages/hub/src/store/migrations.ts';
import { pgMigrations } from '../../packages/hub/src/store/migrations-pg.ts';
import { adminClient } from '../e2e/hub-client.ts';
import { repoRoot, startHub } from '../e2e/hub-process.ts';
import { createDatabase, startPostgres } from '../pg/index.ts';
import { type Metric, quantile, report } from './lib.ts';

const clusters = Number(process.env.OUTPOST_BENCH_CLUSTERS ?? 10_000);
const worksPerCluster = 5;
const works = clusters * worksPerCluster;
const rounds = 20;
/** The hub's own better-sqlite3 (the test package does not depend on it), as far as used here. */
interface Db {
  prepare(sql: string): { run(...params: unknown[]): unknown };
  transaction(fn: () => void): () => void;
  close(): void;
}
const Sqlite = createRequire(join(repoRoot, 'packages/hub/package.json'))('better-sqlite3') as new (file: string) => Db;

/** The statements that fill the database (recursive CTEs: both dialects have them). */
function fillSql(dialect: 'sqlite' | 'postgres', before19 = false): string[] {
  const pad = (e: string) => (dialect === 'sqlite' ? `substr('0000' || (${e}), -5, 5)` : `lpad((${e})::text, 5, '0')`);
  const series = `WITH RECURSIVE g(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM g WHERE i < ${works - 1})`;
  const cluster = `'edge-' || ${pad('i / 5')}`;
  const work = `'app-' || (i % 5)`;
  const now = `'2026-01-01T00:00:00.000Z'`;
  // What an agent reports of each work: its conditions and two of its manifests' (the
  // Deployment's and the Service's), about 900 bytes.
  const ok = (t: string) => `{"type":"${t}","status":"True","reason":"${t}","message":""}`;
  const entry = (group: string, kind: string, resource: string) =>
    `{"resourceMeta":{"ordinal":1,"group":"${group}","version":"v1","kind":"${kind}","resource":"${resource}","namespace":"' || ${work} || '","name":"web"},"conditions":[${ok('Applied')},${ok('Available')}]}`;
  const status = `'{"conditions":[${ok('Applied')},${ok('Available')}],"resourceStatus":{"manifests":[${entry('apps', 'Deployment', 'deployments')},${entry('', 'Service', 'services')}]},"observedGeneration":1}'`;
  const templates = `t(m, grp, kind, name) AS (VALUES (0, '', 'Namespace', ''), (1, 'apps', 'Deployment', 'web'),
      (2, '', 'Service', 'web'), (3, '', 'ServiceAccount', 'web'), (4, '', 'ConfigMap', 'cfg-0'),
      (5, '', 'ConfigMap', 'cfg-1'), (6, '', 'ConfigMap', 'cfg-2'), (7, '', 'ConfigMap', 'cfg-3'),
      (8, '', 'Secret', 'web-tls'), (9, '', 'Secret', 'web-env'))`;
  const object = `SELECT g.i, t.m,
        CASE WHEN t.m = 9 AND g.i % 100 = 0 THEN 'batch' ELSE t.grp END AS grp,
        CASE WHEN t.m = 9 AND g.i % 100 = 0 THEN 'CronJob' ELSE t.kind END AS kind,
        CASE WHEN t.m = 0 THEN ''
             WHEN t.m = 9 AND g.i % 100 = 0 THEN 'ops'
             WHEN t.m BETWEEN 4 AND 7 AND g.i % 1000 = 7 THEN 'rare-ns'
             ELSE 'app-' || (g.i % 5) END AS ns,
        CASE WHEN t.m = 0 THEN 'app-' || (g.i % 5) WHEN t.m = 9 AND g.i % 100 = 0 THEN 'backup' ELSE t.name END AS name
      FROM g, t`;
  return [
    `INSERT INTO works (cluster, name, uid, generation, resource_version, labels, annotations, spec, spec_hash,
      content_hash, manifest_count, size_bytes, status, status_seq, created_at, updated_at)
      ${series} SELECT ${cluster}, ${work}, 'u' || i, 1, 1, '{}', '{}', '{}', 'x', 'x', 10, 1000, ${status}, 1, ${now},
        ${now} FROM g`,
    before19
      ? `INSERT INTO work_manifests (work_uid, key, ordinal, hash, changed_generation)
      ${series}, ${templates}, o AS (${object})
      SELECT 'u' || i, grp || '|' || kind || '|' || ns || '|' || name, m, 'h' || m, 1 FROM o`
      : `INSERT INTO work_manifests (work_uid, key, ordinal, hash, changed_generation, cluster, work, api_group, kind,
      namespace, name)
      ${series}, ${templates}, o AS (${object})
      SELECT 'u' || i, grp || '|' || kind || '|' || ns || '|' || name, m, 'h' || m, 1,
        'edge-' || ${pad('i / 5')}, 'app-' || (i % 5), grp, kind, ns, name FROM o`,
  ];
}

const searches: Record<string, InventoryQuery> = {
  kind: { kind: 'Deployment' },
  kind_group: { kind: 'Deployment', group: 'apps' },
  namespace: { namespace: 'app-3' },
  namespace_kind: { namespace: 'app-3', kind: 'ConfigMap' },
  name: { name: 'web' },
  name_prefix: { name: 'cfg-', namePrefix: true },
  cluster: { cluster: 'edge-05000' },
  rare_kind: { kind: 'CronJob' },
  rare_namespace: { namespace: 'rare-ns' },
  worst_name_in_rare_namespace: { name: 'cfg-0', namespace: 'rare-ns' },
};

async function timed(fn: () => Promise<unknown>): Promise<number> {
  const start = performance.now();
  await fn();
  return performance.now() - start;
}

async function measure(backend: 'sqlite' | 'postgres', store: Store, fillSeconds: number) {
  const metrics: Record<string, Metric> = { [`${backend}_fill_s`]: { value: fillSeconds, unit: 's' } };
  const plans: Record<string, string> = {};
  for (const [name, s] of Object.entries(searches)) {
    const first = await store.inventory.page(s, undefined, 100);
    const times: number[] = [];
    for (let i = 0; i < rounds; i++) times.push(await timed(() => store.inventory.page(s, undefined, 100)));
    metrics[`${backend}_${name}_p50_ms`] = { value: quantile(times, 0.5), unit: 'ms' };
    plans[`${backend} ${name}`] = await store.inventory.plan(s, first.next, 100);
  }
  // The 10th page of a kind's search: a seek from its continue, not a walk from the start.
  let from: InventoryPosition | undefined;
  for (let i = 0; i < 9; i++) from = (await store.inventory.page(searches.kind as InventoryQuery, from, 100)).next;
  const tenth: number[] = [];
  for (let i = 0; i < rounds; i++)
    tenth.push(await timed(() => store.inventory.page({ kind: 'Deployment' }, from, 100)));
  metrics[`${backend}_kind_10th_page_p50_ms`] = { value: quantile(tenth, 0.5), unit: 'ms' };
  // Every object of a rare kind, 500 a page.
  let all = 0;
  let at: InventoryPosition | undefined;
  const walk = await timed(async () => {
    do {
      const p = await store.inventory.page({ kind: 'CronJob' }, at, 500);
      all += p.items.length;
      at = p.next;
    } while (at);
  });
  metrics[`${backend}_rare_kind_all_${all}_ms`] = { value: walk, unit: 'ms' };
  // A full scan of the table would be SQLite's SCAN without an index, PostgreSQL's Seq Scan.
  // (PostgreSQL sorts the few rows of a rare search after a bitmap scan of its index: a
  // sort of what matched, chosen because it is small.)
  const scans = Object.entries(plans).filter(([, p]) => /SCAN work_manifests(?! USING)|Seq Scan/.test(p));
  const sorts = Object.entries(plans).filter(([, p]) => /TEMP B-TREE|\bSort\b/.test(p));
  return { metrics, plans, scans: scans.map(([k]) => k), sorts: sorts.map(([k]) => k) };
}

const dir = await mkdtemp(join(tmpdir(), 'outpost-bench-inventory-'));
const server = await startPostgres();
try {
  // SQLite: migrated by the store, filled by the hub's own better-sqlite3, read by the store.
  const file = join(dir, 'outpost.db');
  await openStore(file).close();
  const db = new Sqlite(file);
  let t0 = performance.now();
  db.transaction(() => {
    for (const text of fillSql('sqlite')) db.prepare(text).run();
  })();
  db.prepare('ANALYZE').run();
  db.close();
  const sqlite = openStore(file);
  const a = await measure('sqlite', sqlite, (performance.now() - t0) / 1000);
  await sqlite.close();
  // The API on that database: a hub started on it, each object with its agent's report
  // (every work of a page read once: 100 works for a page of 100 Deployments).
  const hub = await startHub({ dataDir: dir, timeoutMs: 60_000 });
  const admin = await adminClient(hub);
  try {
    for (const [name, path, n] of [
      ['kind_100', '/api/v1/inventory?kind=Deployment&limit=100', rounds],
      ['kind_500', '/api/v1/inventory?kind=Deployment&limit=500', 5],
      ['namespace_100', '/api/v1/inventory?namespace=app-3&limit=100', rounds],
    ] as const) {
      const res = await admin.get<{ items: { kind: string; conditions?: unknown[] }[] }>(path);
      const reported = res.body.items?.filter((i) => i.kind === 'Deployment').every((i) => i.conditions);
      if (res.status !== 200 || !reported) throw new Error(`${path}: ${res.text.slice(0, 300)}`);
      const times: number[] = [];
      for (let i = 0; i < n; i++) times.push(await timed(() => admin.get(path)));
      a.metrics[`sqlite_api_${name}_p50_ms`] = { value: quantile(times, 0.5), unit: 'ms' };
    }
  } finally {
    await admin.close();
    await hub.stop();
  }

  const url = await createDatabase(server.url, 'inventory');
  const pgStore = await openPostgresStore(url);
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  t0 = performance.now();
  for (const text of fillSql('postgres')) await client.query(text);
  await client.query('ANALYZE');
  const sizes = (
    await client.query<{ name: string; mb: number }>(
      `SELECT relname AS name, round(pg_relation_size(oid) / 1048576.0, 1)::float AS mb FROM pg_class
        WHERE relname LIKE 'work_manifests%' ORDER BY relname`,
    )
  ).rows;
  await client.end();
  const b = await measure('postgres', pgStore, (performance.now() - t0) / 1000);
  await pgStore.close();

  // Migration 19 on a fleet's database of version 18: what the upgrade's start costs.
  const old = new Sqlite(join(dir, 'before-19.db'));
  migrate(old as never, migrations.slice(0, 18));
  old.transaction(() => {
    for (const text of fillSql('sqlite', true)) old.prepare(text).run();
  })();
  t0 = performance.now();
  migrate(old as never);
  const sqliteMigrationS = (performance.now() - t0) / 1000;
  old.close();
  const pgOld = new pg.Client({ connectionString: await createDatabase(server.url, 'before_19') });
  await pgOld.connect();
  await migratePg(pgOld, pgMigrations.slice(0, 18));
  for (const text of fillSql('postgres', true)) await pgOld.query(text);
  t0 = performance.now();
  await migratePg(pgOld);
  const pgMigrationS = (performance.now() - t0) / 1000;
  await pgOld.end();
  a.metrics.sqlite_migration_19_s = { value: sqliteMigrationS, unit: 's' };
  b.metrics.postgres_migration_19_s = { value: pgMigrationS, unit: 's' };
  for (const [k, p] of Object.entries({ ...a.plans, ...b.plans })) {
    process.stdout.write(`${k}:\n  ${p.replaceAll('\n', '\n  ')}\n`);
  }
  report(
    'inventory',
    { ...a.metrics, ...b.metrics },
    {
      clusters,
      works,
      manifests: works * 10,
      page: 100,
      rounds,
      fullScans: [...a.scans, ...b.scans],
      sortsOfWhatMatched: [...a.sorts, ...b.sorts],
      postgresSizesMiB: Object.fromEntries(sizes.map((r) => [r.name, r.mb])),
      plans: { ...a.plans, ...b.plans },
    },
  );
} finally {
  await server.stop();
  await rm(dir, { recursive: true, force: true });
}
