// Browser sessions of the dashboard (migration 18): a session is bound to the API token it
// was made with, and is read together with that token's row, so that a revoked or expired
// token ends its sessions on the next request without any sweep.
import type { ApiScope } from './rows.ts';
import type { Sql } from './sql.ts';

export interface SessionRow {
  id: string;
  tokenId: string;
  secretHash: Buffer;
  createdAt: string;
  expiresAt: string;
}

/** A session with what its token says now. */
export interface SessionWithToken extends SessionRow {
  tokenName: string;
  scope: ApiScope;
  tokenExpiresAt: string | null;
  tokenRevokedAt: string | null;
}

const q = {
  insert: `INSERT INTO ui_sessions (id, token_id, secret_hash, created_at, expires_at)
    VALUES (@id, @tokenId, @secretHash, @createdAt, @expiresAt)`,
  get: `SELECT s.id, s.token_id, s.secret_hash, s.created_at, s.expires_at,
      t.name AS token_name, t.scope, t.expires_at AS token_expires_at, t.revoked_at AS token_revoked_at
    FROM ui_sessions s JOIN api_tokens t ON t.id = s.token_id WHERE s.id = ?`,
  delete: 'DELETE FROM ui_sessions WHERE id = ?',
  deleteExpired: 'DELETE FROM ui_sessions WHERE expires_at <= ?',
};

export function sessionStore(sql: Sql) {
  return {
    insert: async (s: SessionRow) => void (await sql.run(q.insert, { ...s })),
    get: async (id: string): Promise<SessionWithToken | undefined> => {
      const r = await sql.get(q.get, [id]);
      if (!r) return undefined;
      return {
        id: r.id as string,
        tokenId: r.token_id as string,
        secretHash: r.secret_hash as Buffer,
        createdAt: r.created_at as string,
        expiresAt: r.expires_at as string,
        tokenName: r.token_name as string,
        scope: r.scope as ApiScope,
        tokenExpiresAt: (r.token_expires_at as string | null) ?? null,
        tokenRevokedAt: (r.token_revoked_at as string | null) ?? null,
      };
    },
    delete: async (id: string) => (await sql.run(q.delete, [id])) > 0,
    /** Drops sessions past their end (login does it: the table stays as small as its use). */
    deleteExpired: (now: string) => sql.run(q.deleteExpired, [now]),
  };
}

export type SessionStore = ReturnType<typeof sessionStore>;
