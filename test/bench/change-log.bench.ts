// What the change log (store/changes.ts: a row per change of an API object, written by
// triggers, for watches) costs the hub's hot write paths, side by side in one run: each
// backend's store as migrated, against the same store with the log's triggers dropped.
// SQLite: a file as the hub keeps it (WAL). PostgreSQL: a real durable server (test/pg),
// where the log's triggers also take one advisory lock at commit, so its writers commit
// one at a time. Shapes, on 1,000 works in 100 clusters:
//   - status: one transaction per work status, as status intake stores a report; 16 in
//     flight (PostgreSQL's pool serves 10 at once; SQLite's one connection takes them in
//     turn);
//   - writes: a new version of one manifest of a work per transaction (a workset's change
//     fanned out), 16 in flight.
// Each figure is the median of 3 rounds per variant, rounds alternating between variants.
//   ./scripts/bench change-log
// Writes test/bench/results/change-log.json.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import pg from 'pg';
import { openPostgresStore, openStore, type Store } from '../../packages/hub/src/store/index.ts';
import { createDatabase, startPostgres } from '../pg/index.ts';
import { type Metric, rate, report } from './lib.ts';

const works = 1_000;
const clusters = 100;
const inFlight = 16;
const count = 2_000;

const tables = ['clusters', 'works', 'placements', 'worksets', 'cluster_sets', 'cluster_set_bindings'];

/** Drops the log's triggers: the store as it was before the log. */
async function withoutLog(store: Store, dialect: 'sqlite' | 'postgres', exec: (sql: string) => Promise<void>) {
  for (const t of tables) {
    if (dialect === 'sqlite') {
      for (const k of ['added', 'modified', 'deleted']) await exec(`DROP TRIGGER changes_${t}_${k}`);
    } else {
      await exec(`DROP TRIGGER changes_${t}_added_deleted ON ${t}`);
      await exec(`DROP TRIGGER changes_${t}_modified ON ${t}`);
    }
  }
  return store;
}

const cm = (i: number, v: number) => ({
  apiVersion: 'v1',
  kind: 'ConfigMap',
  metadata: { name: `c${i}`, namespace: 'd' },
  data: { v: String(v) },
});

/** 1,000 works of 3 manifests; their uids. */
async function seed(store: Store): Promise<{ uid: string; cluster: string; name: string }[]> {
  const out = [];
  const at = new Date().toISOString();
  for (let i = 0; i < works; i++) {
    const cluster = `c${i % clusters}`;
    const name = `w${i}`;
    const w = await store.works.write(
      { cluster, name, labels: {}, annotations: {}, spec: {}, manifests: [cm(0, 0), cm(1, 0), cm(2, 0)] },
      at,
    );
    out.push({ uid: w.work.uid, cluster, name });
  }
  return out;
}

interface Variant {
  store: Store;
  rows: { uid: string; cluster: string; name: string }[];
  seq: number;
  version: number;
}

const shapes = {
  status: (v: Variant) => (i: number) => {
    const w = v.rows[i % works] as Variant['rows'][number];
    const seq = ++v.seq;
    const summary = { conditions: [{ type: 'Applied', status: 'True' }], observedGeneration: 1 } as never;
    return v.store.transaction(() =>
      v.store.works.setStatus(w.uid, { text: JSON.stringify({ seq, conditions: [] }), summary }, seq),
    );
  },
  writes: (v: Variant) => (i: number) => {
    const w = v.rows[i % works] as Variant['rows'][number];
    const version = ++v.version;
    return v.store.transaction(() =>
      v.store.works.write(
        {
          cluster: w.cluster,
          name: w.name,
          labels: {},
          annotations: {},
          spec: {},
          manifests: [cm(0, version), cm(1, 0), cm(2, 0)],
        },
        new Date().toISOString(),
      ),
    );
  },
};

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;

const metrics: Record<string, Metric> = {};
const dir = await mkdtemp(join(tmpdir(), 'outpost-bench-changes-'));
const server = await startPostgres({ durable: true });
try {
  for (const dialect of ['sqlite', 'postgres'] as const) {
    const open = async (name: string) => {
      if (dialect === 'sqlite') {
        const file = join(dir, `${name}.db`);
        const store = openStore(file);
        return {
          store,
          exec: async (sql: string) => {
            const db = new DatabaseSync(file);
            db.exec(sql);
            db.close();
          },
        };
      }
      const url = await createDatabase(server.url, name);
      const store = await openPostgresStore(url);
      return {
        store,
        exec: async (sql: string) => {
          const c = new pg.Client({ connectionString: url });
          await c.connect();
          await c.query(sql);
          await c.end();
        },
      };
    };
    const a = await open(`with_log_${dialect}`);
    const b = await open(`without_log_${dialect}`);
    await withoutLog(b.store, dialect, b.exec);
    const variants: Record<'with' | 'without', Variant> = {
      with: { store: a.store, rows: await seed(a.store), seq: 0, version: 0 },
      without: { store: b.store, rows: await seed(b.store), seq: 0, version: 0 },
    };
    for (const [shape, make] of Object.entries(shapes)) {
      const got: Record<'with' | 'without', number[]> = { with: [], without: [] };
      for (let round = 0; round < 3; round++) {
        const order: ('with' | 'without')[] = round % 2 ? ['without', 'with'] : ['with', 'without'];
        for (const k of order) got[k].push(await rate(count, inFlight, make(variants[k])));
      }
      const withLog = median(got.with);
      const without = median(got.without);
      metrics[`${dialect}_${shape}_with_log`] = { value: withLog, unit: 'transactions/s' };
      metrics[`${dialect}_${shape}_without_log`] = { value: without, unit: 'transactions/s' };
      metrics[`${dialect}_${shape}_ratio`] = { value: withLog / without, unit: 'with / without the log' };
      process.stdout.write(
        `${dialect} ${shape}: ${withLog.toFixed(0)}/s with the log, ${without.toFixed(0)}/s without (${got.with.map((x) => x.toFixed(0))} | ${got.without.map((x) => x.toFixed(0))})\n`,
      );
    }
    await a.store.close();
    await b.store.close();
  }
} finally {
  await server.stop();
  await rm(dir, { recursive: true, force: true });
}
report('change-log', metrics, {
  shapes: { works, clusters, inFlight, transactionsPerRound: count, rounds: 3 },
});
