// The test PostgreSQL server itself: it starts on loopback as the right operating-system
// user, serves databases made per test and replication connections, and leaves nothing
// behind when stopped.

import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { after, before, test } from 'node:test';
import { Client } from 'pg';
import { createDatabase, type PostgresServer, startPostgres, startStandby } from './index.ts';

let server: PostgresServer;

before(async () => {
  server = await startPostgres();
});

after(async () => {
  await server?.stop();
});

async function query<T>(url: string, sql: string): Promise<T[]> {
  const client = new Client({ connectionString: url, connectionTimeoutMillis: 5_000 });
  await client.connect();
  try {
    return (await client.query(sql)).rows as T[];
  } finally {
    await client.end();
  }
}

test('the server listens on 127.0.0.1 with its socket in its own folder, database outpost made', async () => {
  assert.equal(server.url, `postgres://outpost@127.0.0.1:${server.port}/outpost`);
  const [row] = await query<{ db: string; who: string; version: string; socket: string }>(
    server.url,
    `SELECT current_database() AS db, current_user AS who, current_setting('server_version_num') AS version,
            current_setting('unix_socket_directories') AS socket`,
  );
  assert.deepEqual(
    { db: row?.db, who: row?.who, socket: row?.socket },
    { db: 'outpost', who: 'outpost', socket: server.socketDir },
  );
  assert.ok(Number(row?.version) >= 150000, `PostgreSQL 15 or later, not ${row?.version}`);
  assert.ok(server.socketDir.startsWith(server.dir) && server.dataDir.startsWith(server.dir));
  assert.ok(existsSync(`${server.socketDir}/.s.PGSQL.${server.port}`));
});

test('the server runs as outpost-pg under root, else as the caller', () => {
  const uid = Number(/^Uid:\s+(\d+)/m.exec(readFileSync(`/proc/${server.pid}/status`, 'utf8'))?.[1]);
  if (process.getuid?.() === 0) {
    assert.equal(server.osUser, 'outpost-pg');
    assert.notEqual(uid, 0);
  } else {
    assert.equal(uid, process.getuid?.());
  }
});

test('fast, non-durable settings by default, and ready for a streaming standby', async () => {
  const rows = await query<{ name: string; setting: string }>(
    server.url,
    `SELECT name, setting FROM pg_settings WHERE name IN
       ('fsync', 'synchronous_commit', 'full_page_writes', 'wal_level', 'max_wal_senders', 'hot_standby')
     ORDER BY name`,
  );
  assert.deepEqual(Object.fromEntries(rows.map((r) => [r.name, r.setting])), {
    fsync: 'off',
    full_page_writes: 'off',
    hot_standby: 'on',
    max_wal_senders: '10',
    synchronous_commit: 'off',
    wal_level: 'replica',
  });
  // pg_hba.conf lets a replication connection in: what a standby's walreceiver opens.
  const [system] = await query<{ systemid: string; timeline: number }>(
    `${server.url}?replication=database`,
    'IDENTIFY_SYSTEM',
  );
  assert.match(String(system?.systemid), /^\d+$/);
  assert.equal(Number(system?.timeline), 1);
});

test('createDatabase makes an empty database per test on the shared server', async () => {
  const url = await createDatabase(server.url, 'per_test_a');
  assert.equal(url, `postgres://outpost@127.0.0.1:${server.port}/per_test_a`);
  await query(url, 'CREATE TABLE only_here (x INTEGER)');
  const other = await createDatabase(server.url, 'per_test_b');
  const [row] = await query<{ n: number }>(
    other,
    `SELECT count(*)::integer AS n FROM information_schema.tables WHERE table_name = 'only_here'`,
  );
  assert.equal(row?.n, 0);
  await assert.rejects(createDatabase(server.url, 'Robert"; DROP'), /not a plain identifier/);
});

test('a durable server keeps the crash-safe defaults; stop() ends it and removes its folder', async () => {
  const durable = await startPostgres({ durable: true, settings: { max_connections: 20 } });
  try {
    const rows = await query<{ name: string; setting: string }>(
      durable.url,
      `SELECT name, setting FROM pg_settings WHERE name IN ('fsync', 'synchronous_commit', 'full_page_writes',
         'max_connections') ORDER BY name`,
    );
    assert.deepEqual(Object.fromEntries(rows.map((r) => [r.name, r.setting])), {
      fsync: 'on',
      full_page_writes: 'on',
      max_connections: '20',
      synchronous_commit: 'on',
    });
    assert.notEqual(durable.port, server.port);
  } finally {
    await durable.stop();
  }
  assert.equal(existsSync(durable.dir), false);
  assert.equal(existsSync(`/proc/${durable.pid}`), false, 'the postmaster is gone (and reaped)');
  await assert.rejects(query(durable.url, 'SELECT 1'), /ECONNREFUSED/);
  await durable.stop(); // idempotent
});

test('stop({ keep: true }) and restart(): the same data dir and port, the data still there', async () => {
  const own = await startPostgres();
  try {
    await query(own.url, 'CREATE TABLE kept (x INTEGER); INSERT INTO kept VALUES (1)');
    const firstPid = own.pid;
    await own.stop({ keep: true });
    assert.equal(own.running(), false);
    assert.ok(existsSync(own.dataDir), 'the data dir stays');
    await assert.rejects(query(own.url, 'SELECT 1'), /ECONNREFUSED/);
    await own.restart();
    assert.equal(own.running(), true);
    assert.notEqual(own.pid, firstPid);
    assert.deepEqual(await query(own.url, 'SELECT x FROM kept'), [{ x: 1 }]);

    // A crash (SIGKILL to the postmaster): every process of it goes; restart() recovers.
    const pid = own.pid;
    await own.crash();
    assert.equal(own.running(), false);
    assert.equal(existsSync(`/proc/${pid}`), false);
    await assert.rejects(query(own.url, 'SELECT 1'), /ECONNREFUSED/);
    await own.restart();
    assert.deepEqual(await query(own.url, 'SELECT x FROM kept'), [{ x: 1 }]);
  } finally {
    await own.stop();
  }
  assert.equal(existsSync(own.dir), false);
});

test('freeze(): connections are accepted by the kernel and then nothing answers; thaw() goes on', async () => {
  const own = await startPostgres();
  try {
    await own.freeze();
    const client = new Client({ connectionString: own.url, connectionTimeoutMillis: 1_000 });
    client.on('error', () => undefined);
    await assert.rejects(client.connect(), /timeout/);
    own.thaw();
    assert.deepEqual(await query(own.url, 'SELECT 1 AS one'), [{ one: 1 }]);
  } finally {
    await own.stop();
  }
});

test('a synchronous warm standby streams every acknowledged commit and takes writes once promoted', async () => {
  const primary = await startPostgres({ settings: { synchronous_commit: 'on' } });
  // A non-durable primary does not wait for standbys: refused with a reason.
  await assert.rejects(startStandby(server, { synchronous: true }), /synchronous_commit is off/);
  const standby = await startStandby(primary, { synchronous: true, hotStandby: false });
  try {
    const [sync] = await query<{ state: string; sync: string }>(
      primary.url,
      `SELECT state, sync_state AS sync FROM pg_stat_replication WHERE application_name = '${standby.name}'`,
    );
    assert.deepEqual(sync, { state: 'streaming', sync: 'sync' });
    // A warm standby takes no clients until promoted.
    await assert.rejects(query(standby.url, 'SELECT 1'), /not accepting connections|Hot standby mode is disabled/);
    await query(primary.url, 'CREATE TABLE acked (x INTEGER)');
    for (let i = 0; i < 20; i++) await query(primary.url, `INSERT INTO acked VALUES (${i})`);
    await primary.crash();
    await standby.promote();
    const [row] = await query<{ n: number }>(standby.url, 'SELECT count(*)::integer AS n FROM acked');
    assert.equal(row?.n, 20);
    await query(standby.url, 'INSERT INTO acked VALUES (20)');
  } finally {
    await standby.stop();
    await primary.stop();
  }
  assert.equal(existsSync(standby.dir), false);
});

test('a hot standby serves reads while streaming; stopped, its primary commits alone again', async () => {
  const primary = await startPostgres({ settings: { synchronous_commit: 'on' } });
  try {
    const standby = await startStandby(primary, { synchronous: true });
    await query(primary.url, 'CREATE TABLE seen (x INTEGER); INSERT INTO seen VALUES (7)');
    await waitForRows(standby.url, 'SELECT x FROM seen', [{ x: 7 }]);
    await standby.stop();
    // Without the reset a commit would wait for the standby for ever.
    await query(primary.url, 'INSERT INTO seen VALUES (8)');
    const slots = await query(primary.url, 'SELECT slot_name FROM pg_replication_slots');
    assert.deepEqual(slots, []);
  } finally {
    await primary.stop();
  }
});

async function waitForRows(url: string, sql: string, want: unknown[]): Promise<void> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    const rows = await query(url, sql).catch(() => undefined);
    if (rows && JSON.stringify(rows) === JSON.stringify(want)) return;
    if (Date.now() > deadline) assert.deepEqual(rows, want);
    await new Promise((r) => setTimeout(r, 100));
  }
}
