// Store operations that hub replicas sharing one database need (migration 16): the hub PKI
// kept in the database (every replica signs with the same CA) and leases of the duties one
// hub at a time may do. What the PKI rows hold is sealed by pki/ before it gets here: the
// store never sees a private key in the clear.
import type { Sql } from './sql.ts';

/** Which CA signs and which one is being retired (pki/): one hub_meta row, changed whole. */
export interface PkiStateRow {
  signing: string;
  previous: string | null;
}

export interface CaRow {
  id: string;
  certPem: string;
  /** The sealed private key; null once the CA is retired. */
  keySealed: string | null;
}

/** The serving certificate every replica presents, its key sealed. */
export interface ServingRow {
  certPem: string;
  keySealed: string;
}

const stateKey = 'pki.state';
const servingKey = 'pki.serving';

/** The database's clock in milliseconds since 1970 (a lease never depends on a replica's). */
const nowMs = {
  sqlite: `CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)`,
  postgres: '(extract(epoch from clock_timestamp()) * 1000)::bigint',
};

export function replicaStore(sql: Sql) {
  const now = nowMs[sql.dialect];
  const meta = async (key: string) =>
    (await sql.get<{ value: string }>('SELECT value FROM hub_meta WHERE key = ?', [key]))?.value;
  /** Sets `key` to `next` when it holds `expected` (undefined: absent); whether it did. */
  const swapMeta = async (key: string, expected: string | undefined, next: string) =>
    expected === undefined
      ? (await sql.run(
          sql.dialect === 'sqlite'
            ? 'INSERT OR IGNORE INTO hub_meta (key, value) VALUES (?, ?)'
            : 'INSERT INTO hub_meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO NOTHING',
          [key, next],
        )) === 1
      : (await sql.run('UPDATE hub_meta SET value = ? WHERE key = ? AND value = ?', [next, key, expected])) === 1;

  return {
    pki: {
      async state(): Promise<PkiStateRow | undefined> {
        const v = await meta(stateKey);
        return v === undefined ? undefined : (JSON.parse(v) as PkiStateRow);
      },
      /**
       * Makes `next` the state when the state is still `expected` (undefined: none yet), and
       * stores `ca` with it when given (and destroys the key of `dropKeyOf`), in one
       * transaction: of two replicas that read the same state, one changes it and the other
       * learns it lost (false).
       */
      swapState(
        expected: PkiStateRow | undefined,
        next: PkiStateRow,
        ca?: CaRow,
        dropKeyOf?: string,
      ): Promise<boolean> {
        return sql.transaction(async () => {
          const ok = await swapMeta(stateKey, expected && JSON.stringify(expected), JSON.stringify(next));
          if (!ok) return false;
          if (ca) {
            await sql.run('INSERT INTO pki_cas (id, cert_pem, key_sealed, created_at) VALUES (?, ?, ?, ?)', [
              ca.id,
              ca.certPem,
              ca.keySealed,
              new Date().toISOString(),
            ]);
          }
          // A retired CA's key goes with the swap that retires it.
          if (dropKeyOf) await sql.run('UPDATE pki_cas SET key_sealed = NULL WHERE id = ?', [dropKeyOf]);
          return true;
        });
      },
      async ca(id: string): Promise<CaRow | undefined> {
        const r = await sql.get<{ id: string; cert_pem: string; key_sealed: string | null }>(
          'SELECT id, cert_pem, key_sealed FROM pki_cas WHERE id = ?',
          [id],
        );
        return r && { id: r.id, certPem: r.cert_pem, keySealed: r.key_sealed };
      },
      /** Any CA's sealed key, to check a key-encryption key against (the oldest first). */
      async anySealed(): Promise<string | undefined> {
        return (
          await sql.get<{ key_sealed: string }>(
            'SELECT key_sealed FROM pki_cas WHERE key_sealed IS NOT NULL ORDER BY created_at, id LIMIT 1',
          )
        )?.key_sealed;
      },
      async serving(): Promise<ServingRow | undefined> {
        const v = await meta(servingKey);
        return v === undefined ? undefined : (JSON.parse(v) as ServingRow);
      },
      /** Stores a serving certificate when the stored one is still `expected`; whether it did. */
      swapServing(expected: ServingRow | undefined, next: ServingRow): Promise<boolean> {
        return swapMeta(servingKey, expected && JSON.stringify(expected), JSON.stringify(next));
      },
    },
    leases: {
      /**
       * Takes or renews the lease `name` for `holder` until `ttlMs` from now by the
       * database's clock: when nobody holds it, `holder` holds it, or its holder let it
       * lapse. Whether `holder` holds it now.
       */
      async claim(name: string, holder: string, ttlMs: number): Promise<boolean> {
        const at = new Date().toISOString();
        return sql.transaction(async () => {
          const row = await sql.get<{ holder: string; expires_ms: number | string; live: number | boolean }>(
            `SELECT holder, expires_ms, expires_ms > ${now} AS live FROM hub_leases WHERE name = ?`,
            [name],
          );
          if (!row) {
            // Another replica may insert it first: then this one does not hold it.
            const n = await sql.run(
              `INSERT INTO hub_leases (name, holder, expires_ms, acquired_at) VALUES (?, ?, ${now} + ?, ?)
                 ON CONFLICT (name) DO NOTHING`,
              [name, holder, ttlMs, at],
            );
            return n === 1;
          }
          const mine = row.holder === holder;
          // SQLite answers the comparison 0/1, PostgreSQL false/true.
          if (!mine && (row.live === true || Number(row.live) === 1)) return false;
          await sql.run(
            mine
              ? `UPDATE hub_leases SET expires_ms = ${now} + ? WHERE name = ?`
              : `UPDATE hub_leases SET holder = ?, expires_ms = ${now} + ?, acquired_at = ? WHERE name = ?`,
            mine ? [ttlMs, name] : [holder, ttlMs, at, name],
          );
          return true;
        });
      },
      /** Gives the lease up at once when `holder` holds it (a stopping hub). */
      async release(name: string, holder: string): Promise<void> {
        await sql.run('DELETE FROM hub_leases WHERE name = ? AND holder = ?', [name, holder]);
      },
      /** Who holds `name` now (a lapsed lease has no holder). */
      async holder(name: string): Promise<string | undefined> {
        return (
          await sql.get<{ holder: string }>(`SELECT holder FROM hub_leases WHERE name = ? AND expires_ms > ${now}`, [
            name,
          ])
        )?.holder;
      },
    },
  };
}

export type ReplicaStore = ReturnType<typeof replicaStore>;
