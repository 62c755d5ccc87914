// Admin API authentication: bearer tokens (hashed at rest) with scopes, or the dashboard's
// session cookie (sessions.ts) when no Authorization header is sent. GET and HEAD need
// read-only or admin; every other method needs admin.

import { apiError } from '@outpost/shared';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { ApiScope, Store } from '../store/index.ts';
import { authenticateSession, csrfHeader, readCookie, type Session, sessionCookie } from './sessions.ts';
import { hashSecret, parseApiToken, secretMatches } from './tokens.ts';

export {
  clearCookieHeader,
  csrfHeader,
  openSession,
  type Session,
  sessionCookie,
  setCookieHeader,
} from './sessions.ts';

export { hashSecret, newApiToken, parseApiToken, randomToken, secretMatches } from './tokens.ts';

export interface Principal {
  /** For the audit log: `token:<name>` (or `bootstrap-token:<id>`, `cluster:<name>`). */
  actor: string;
  scope: ApiScope;
  tokenId: string;
  /** Set when the caller came with the session cookie rather than the token itself. */
  session?: Session;
}

declare module 'fastify' {
  interface FastifyRequest {
    principal?: Principal;
  }
  interface FastifyContextConfig {
    /** Any scope may call it (logging in and out of the dashboard are not writes). */
    anyScope?: boolean;
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

/** The caller of a request: its bearer token, or else its session cookie. */
export async function principalOf(store: Store, req: FastifyRequest, now: Date): Promise<Principal> {
  const cookie = req.headers.authorization ? undefined : readCookie(req.headers.cookie, sessionCookie);
  if (cookie === undefined) return authenticate(store, req.headers.authorization, now);
  const session = await authenticateSession(store, cookie, now);
  return { actor: `token:${session.tokenName}`, scope: session.scope, tokenId: session.tokenId, session };
}

/** A cookie-authenticated request must show it was made by the dashboard itself. */
function checkSessionRequest(req: FastifyRequest, session: Session, advertised: string | undefined): void {
  if (req.headers.upgrade?.toLowerCase() === 'websocket') {
    // The page's origin: the address the request came to, or the hub's advertised URL (the
    // one address a balancer in front of replicas shows), never another site.
    const own = `${req.protocol}://${req.headers.host ?? ''}`;
    const origin = req.headers.origin;
    if (origin !== own && (advertised === undefined || origin !== advertised)) {
      throw apiError(
        'AUTH_ORIGIN_REFUSED',
        `a WebSocket authenticated by the session cookie must come from ${own}${advertised && advertised !== own ? ` or ${advertised}` : ''}, not ${String(origin ?? 'no Origin').slice(0, 200)}`,
      );
    }
  }
  if (readMethods.has(req.method)) return;
  const sent = req.headers[csrfHeader];
  if (typeof sent !== 'string' || !secretMatchesText(sent, session.csrfToken)) {
    throw apiError(
      'AUTH_CSRF_MISMATCH',
      `a ${req.method} made with the session cookie needs the ${csrfHeader} header of its session`,
    );
  }
}

/** Compares two texts in constant time (through their hashes, which have equal lengths). */
const secretMatchesText = (a: string, b: string) => secretMatches(a, hashSecret(b));

/** A fastify onRequest hook for the admin API; `advertiseUrl` is the hub's advertised origin. */
export function requireApiToken(store: Store, advertiseUrl?: string) {
  return async (req: FastifyRequest, _reply: FastifyReply) => {
    const principal = await principalOf(store, req, new Date());
    // Set before the other checks, so that a refused call is audited under its actor.
    req.principal = principal;
    if (principal.session) checkSessionRequest(req, principal.session, advertiseUrl);
    if (!readMethods.has(req.method) && principal.scope !== 'admin' && !req.routeOptions.config.anyScope) {
      throw apiError('AUTH_FORBIDDEN', `a ${principal.scope} token cannot ${req.method} ${req.routeOptions.url}`);
    }
  };
}
