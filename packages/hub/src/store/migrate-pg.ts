// The migration runner for PostgreSQL: migrate() of index.ts for a database that several hub
// replicas share and may start on at once. Every step holds one transaction-scoped advisory
// lock, so one replica migrates while the others wait, then find the work done.

import type { ClientBase } from 'pg';
import { StoreError } from './errors.ts';
import type { Migration } from './migrations.ts';
import { pgMigrations } from './migrations-pg.ts';

/**
 * The pg_advisory_xact_lock key of the schema: the first 8 bytes of
 * SHA-256("outpost-hub schema_migrations") as a signed 64-bit integer. Fixed forever: hubs of
 * different versions must exclude each other.
 */
const MIGRATION_LOCK_KEY = '-3995883546094850379';

/**
 * Brings the database of `client` (connected, in no transaction) to the last of `migrations`
 * and returns its schema version; refuses (STORE_SCHEMA_TOO_NEW) a database a newer hub
 * migrated. Each migration runs in its own transaction with its version row.
 */
export async function migratePg(client: ClientBase, migrations: readonly Migration[] = pgMigrations): Promise<number> {
  const latest = migrations.at(-1)?.version ?? 0;
  let version = await underLock(client, async () => {
    // Under the lock: of two sessions creating one table at once, one may fail on a catalog
    // unique index, IF NOT EXISTS notwithstanding.
    await client.query(`CREATE TABLE IF NOT EXISTS schema_migrations (
      version    BIGINT PRIMARY KEY,
      name       TEXT COLLATE "C" NOT NULL,
      applied_at TEXT COLLATE "C" NOT NULL
    )`);
    return currentVersion(client, latest);
  });
  for (const m of migrations) {
    if (m.version <= version) continue;
    version = await underLock(client, async () => {
      // Read again: another replica may have migrated while this one waited for the lock.
      const now = await currentVersion(client, latest);
      if (now >= m.version) return now;
      // Versions PostgreSQL's schema starts above are recorded with no SQL.
      if (m.sql.trim()) await client.query(m.sql);
      await client.query('INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)', [
        m.version,
        m.name,
        new Date().toISOString(),
      ]);
      return m.version;
    });
  }
  return version;
}

async function currentVersion(client: ClientBase, latest: number): Promise<number> {
  // Cast: pg hands BIGINT over as a string.
  const { rows } = await client.query<{ v: number }>(
    'SELECT COALESCE(MAX(version), 0)::integer AS v FROM schema_migrations',
  );
  const version = rows[0]?.v ?? 0;
  if (version > latest) {
    throw new StoreError(
      'STORE_SCHEMA_TOO_NEW',
      `database schema is version ${version}, this hub knows up to ${latest}; run a newer hub`,
    );
  }
  return version;
}

/**
 * Runs `fn` in a transaction holding the schema lock. READ COMMITTED (the default) matters:
 * each statement after the lock sees what the replica that held it before committed.
 */
async function underLock<T>(client: ClientBase, fn: () => Promise<T>): Promise<T> {
  await client.query('BEGIN ISOLATION LEVEL READ COMMITTED');
  try {
    await client.query(`SELECT pg_advisory_xact_lock(${MIGRATION_LOCK_KEY})`);
    const result = await fn();
    await client.query('COMMIT');
    return result;
  } catch (err) {
    // The transaction's error is the one worth reporting; a failed rollback (connection
    // gone) ends the transaction as well.
    await client.query('ROLLBACK').catch(() => undefined);
    throw err;
  }
}
