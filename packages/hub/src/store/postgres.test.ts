// The store on PostgreSQL as several hub replicas use it: two stores (two pools, as two hub
// processes have) on one database of a real server, writing the same rows at once.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import pg from 'pg';
import { createDatabase, startPostgres } from '../../../../test/pg/index.ts';
import { toOutpostError } from '../app.ts';
import { postgresDatabase, postgresServer, storeBackends } from './backends.testing.ts';
import { StoreError } from './errors.ts';
import { openPostgresStore, type Store } from './index.ts';
import { numberParameters } from './postgres.ts';

storeBackends(); // registers the stop of the shared server after this file

const postgresServerUrl = async () => (await postgresServer()).url;

describe('numberParameters', () => {
  test('? in order, @name by first appearance (a name used twice is one parameter)', () => {
    assert.deepEqual(numberParameters('SELECT * FROM t WHERE a = ? AND b > ? LIMIT ?'), {
      text: 'SELECT * FROM t WHERE a = $1 AND b > $2 LIMIT $3',
      names: undefined,
    });
    assert.deepEqual(numberParameters('INSERT INTO t (a, b, c) VALUES (@a, @b, @a)'), {
      text: 'INSERT INTO t (a, b, c) VALUES ($1, $2, $1)',
      names: ['a', 'b'],
    });
  });

  test('quoted strings and identifiers are left as they are', () => {
    assert.deepEqual(numberParameters(`SELECT '?@x', "a?b" FROM t WHERE s = 'Pending' AND k = ?`), {
      text: `SELECT '?@x', "a?b" FROM t WHERE s = 'Pending' AND k = $1`,
      names: undefined,
    });
  });

  test('both kinds in one statement, or an unterminated quote, are refused', () => {
    assert.throws(() => numberParameters('SELECT ? , @a'), /not both/);
    assert.throws(() => numberParameters("SELECT 'open"), /unterminated/);
  });
});

describe('two replicas on one database', () => {
  const cluster = {
    name: 'c1',
    uid: 'u-c1',
    labels: {},
    hubAcceptsClient: true,
    claims: {},
    agentVersion: null,
    createdAt: '2026-01-01T00:00:00.000Z',
  };

  async function replicas(): Promise<[Store, Store]> {
    const url = await postgresDatabase();
    // Opened at once: both migrate, one waits for the other.
    return Promise.all([openPostgresStore(url, { poolSize: 4 }), openPostgresStore(url, { poolSize: 4 })]);
  }

  test('both open the same database at once: one schema, one epoch', async () => {
    const [a, b] = await replicas();
    assert.equal(a.epoch, b.epoch);
    assert.equal(a.schemaVersion, b.schemaVersion);
    assert.equal(await a.ping(), true);
    await Promise.all([a.close(), b.close()]);
  });

  test('read-modify-write transactions from both, interleaved, lose no update', async () => {
    const [a, b] = await replicas();
    await a.clusters.insert(cluster);
    const label = (store: Store, key: string) =>
      store.transaction(async () => {
        const c = await store.clusters.get('c1');
        assert.ok(c);
        await store.clusters.update({ ...c, labels: { ...c.labels, [key]: 'set' } });
      });
    const writes: Promise<void>[] = [];
    for (let i = 0; i < 15; i++) writes.push(label(a, `a${i}`), label(b, `b${i}`));
    await Promise.all(writes);
    const after = await b.clusters.get('c1');
    assert.equal(Object.keys(after?.labels ?? {}).length, 30, 'every label written is there');
    assert.equal(after?.resourceVersion, 31, 'one resourceVersion per write');
    await Promise.all([a.close(), b.close()]);
  });

  test('a work written through both at once keeps one row and counts every change', async () => {
    const [a, b] = await replicas();
    const write = (store: Store, v: string) =>
      store.transaction(() =>
        store.works.write(
          {
            cluster: 'c1',
            name: 'w',
            labels: {},
            annotations: {},
            spec: {},
            manifests: [{ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'cm', namespace: 'd' }, data: { v } }],
          },
          new Date().toISOString(),
        ),
      );
    const results = await Promise.all(Array.from({ length: 10 }, (_, i) => write(i % 2 ? a : b, String(i))));
    assert.equal(results.filter((r) => r.created).length, 1, 'created once');
    const rows = await a.works.forCluster('c1');
    assert.equal(rows.length, 1);
    assert.equal(rows[0]?.generation, 10, 'each of the ten contents is a generation');
    assert.equal(await a.works.desiredRevision('c1'), 10, 'and a revision');
    await Promise.all([a.close(), b.close()]);
  });

  test('a transaction that loses every retry is STORE_CONTENDED (the API answers 503 HUB_DATABASE_BUSY), having written nothing', async () => {
    const [a, b] = await replicas();
    let runs = 0;
    const lost = Object.assign(new Error('could not serialize access'), { code: '40001' });
    await assert.rejects(
      a.transaction(async () => {
        runs++;
        await a.clusters.insert({ ...cluster, name: `c-run-${runs}`, uid: `u-run-${runs}` });
        throw lost;
      }),
      (err: unknown) => err instanceof StoreError && err.code === 'STORE_CONTENDED' && /40001/.test(err.message),
    );
    assert.equal(runs, 20, 'run 20 times in all');
    assert.deepEqual(await b.clusters.all(), [], 'nothing of any run is kept');
    const answer = toOutpostError(new StoreError('STORE_CONTENDED', 'lost'));
    assert.equal(answer.statusCode, 503);
    assert.equal(answer.code, 'HUB_DATABASE_BUSY');
    assert.deepEqual(answer.details, { retryAfterSeconds: 1 });
    await Promise.all([a.close(), b.close()]);
  });

  test('a transaction inside another is a savepoint on PostgreSQL too', async () => {
    const [a, b] = await replicas();
    await a.transaction(async () => {
      await a.clusters.insert(cluster);
      await assert.rejects(
        a.transaction(async () => {
          await a.clusters.insert({ ...cluster, name: 'c2', uid: 'u-c2' });
          throw new Error('inner fails');
        }),
        /inner fails/,
      );
      assert.equal(await b.clusters.get('c1'), undefined, 'the other replica sees nothing before the commit');
    });
    assert.deepEqual(
      (await b.clusters.all()).map((c) => c.name),
      ['c1'],
    );
    await Promise.all([a.close(), b.close()]);
  });

  test('a wake-up through one replica reaches the other, when its transaction commits, and never when it rolls back', async () => {
    const [a, b] = await replicas();
    const heard: string[] = [];
    const waiters: (() => void)[] = [];
    const stop = a.onWake(
      (cluster) => {
        heard.push(cluster);
        for (const w of waiters.splice(0)) w();
      },
      () => heard.push('(reset)'),
    );
    const next = () => new Promise<void>((resolve) => waiters.push(resolve));
    // The listener connects in the background: wake until it hears (bounded).
    for (let i = 0; i < 100 && heard.length === 0; i++) {
      await b.wake('first');
      await new Promise((r) => setTimeout(r, 50));
    }
    assert.equal(heard[0], 'first');
    heard.length = 0;

    await assert.rejects(
      b.transaction(async () => {
        await b.wake('rolled-back');
        throw new Error('undo');
      }),
    );
    const committed = next();
    await b.transaction(async () => {
      await b.wake('committed');
      await new Promise((r) => setTimeout(r, 100));
      assert.deepEqual(heard, [], 'nothing is heard before the commit');
    });
    await committed;
    assert.deepEqual(heard, ['committed']);
    await stop();
    await Promise.all([a.close(), b.close()]);
  });

  test('a listener whose connection is cut connects again and asks for a look at everything', async () => {
    const [a, b] = await replicas();
    const heard: string[] = [];
    let reset = () => {};
    const resetDone = new Promise<void>((resolve) => {
      reset = resolve;
    });
    const stop = a.onWake(
      (cluster) => heard.push(cluster),
      () => {
        heard.push('(reset)');
        reset();
      },
    );
    for (let i = 0; i < 100 && heard.length === 0; i++) {
      await b.wake('before');
      await new Promise((r) => setTimeout(r, 50));
    }
    assert.equal(heard[0], 'before');
    // What a failover or a server restart does to it.
    const server = await postgresServerUrl();
    const admin = new pg.Client({ connectionString: server });
    await admin.connect();
    const killed = await admin.query(
      "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'outpost-hub outpost_wake'",
    );
    await admin.end();
    assert.ok((killed.rowCount ?? 0) >= 1, 'the listening connection was found and cut');
    await resetDone;
    heard.length = 0;
    for (let i = 0; i < 100 && heard.length === 0; i++) {
      await b.wake('after');
      await new Promise((r) => setTimeout(r, 50));
    }
    assert.equal(heard[0], 'after', 'heard again once connected again');
    await stop();
    await Promise.all([a.close(), b.close()]);
  });

  test('a database that stops answering fails statements and transactions with STORE_UNAVAILABLE', async () => {
    // A server of its own: the shared one stays up for the other tests.
    const own = await startPostgres();
    const store = await openPostgresStore(await createDatabase(own.url, 'going'), { poolSize: 2 });
    await store.clusters.insert(cluster);
    await own.stop();
    await assert.rejects(store.clusters.get('c1'), { code: 'STORE_UNAVAILABLE' });
    await assert.rejects(
      store.transaction(() => store.clusters.get('c1')),
      { code: 'STORE_UNAVAILABLE' },
    );
    await assert.rejects(store.ping(), { code: 'STORE_UNAVAILABLE' });
    await store.close();
  });
});
