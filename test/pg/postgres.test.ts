// The test PostgreSQL server itself: it starts on loopback as the right operating-system
// user, serves databases made per test and replication connections, and leaves nothing
// behind when stopped.

import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { after, before, test } from 'node:test';
import { Client } from 'pg';
import { createDatabase, type PostgresServer, startPostgres } from './index.ts';

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
