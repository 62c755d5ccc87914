// Admin API authentication: bearer tokens (hashed at rest) with scopes. GET and HEAD need
// read-only or admin; every other method needs admin.

import { apiError } from '@outpost/shared';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { ApiScope, Store } from '../store/index.ts';
import { parseApiToken, secretMatches } from './tokens.ts';

export { hashSecret, newApiToken, parseApiToken, randomToken, secretMatches } from './tokens.ts';

export interface Principal {
  /** For the audit log: `token:<name>` (or `bootstrap-token:<id>`, `cluster:<name>`). */
  actor: string;
  scope: ApiScope;
  tokenId: string;
}

declare module 'fastify' {
  interface FastifyRequest {
    principal?: Principal;
  }
}

/** A pure read of one row, on every admin request: no transaction, no write. */
export async function authenticate(store: Store, header: string | undefined, now: Date): Promise<Principal> {
  if (!header) throw apiError('AUTH_REQUIRED', 'this endpoint needs "Authorization: Bearer <token>"');
  const m = /^Bearer\s+(\S+)$/i.exec(header);
  const parsed = m ? parseApiToken(m[1] as string) : undefined;
  if (!parsed) throw apiError('AUTH_INVALID', 'the bearer token is not an Outpost API token');
  const row = await store.apiTokens.get(parsed.id);
  if (!secretMatches(parsed.secret, row?.secretHash) || !row) {
    throw apiError('AUTH_INVALID', 'the bearer token is not valid');
  }
  if (row.revokedAt) throw apiError('AUTH_INVALID', 'the bearer token was revoked');
  if (row.expiresAt && Date.parse(row.expiresAt) <= now.getTime()) {
    throw apiError('AUTH_INVALID', 'the bearer token has expired');
  }
  return { actor: `token:${row.name}`, scope: row.scope, tokenId: row.id };
}

const readMethods = new Set(['GET', 'HEAD']);

/** A fastify onRequest hook for the admin API. */
export function requireApiToken(store: Store) {
  return async (req: FastifyRequest, _reply: FastifyReply) => {
    const principal = await authenticate(store, req.headers.authorization, new Date());
    // Set before the scope check, so that a refused call is audited under its actor.
    req.principal = principal;
    if (!readMethods.has(req.method) && principal.scope !== 'admin') {
      throw apiError('AUTH_FORBIDDEN', `a ${principal.scope} token cannot ${req.method} ${req.routeOptions.url}`);
    }
  };
}
