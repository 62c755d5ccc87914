// Dashboard sessions: an API token is exchanged once for a session cookie, so that the
// browser never keeps the token where scripts can read it. The cookie is HttpOnly, Secure
// and SameSite=Strict; its secret is stored hashed (store/sessions.ts) and the session is
// only as good as its token, which is read with it on every request.
//
// Two defences on top of SameSite, because a cookie is sent by the browser on its own:
// - every write needs the X-Outpost-CSRF header, whose value is derived from the session's
//   secret (a page of another site can neither read it nor set a custom header without CORS,
//   which the hub never grants);
// - a WebSocket upgrade, which no CORS check covers, must come from the hub's own origin.
import { createHash, randomBytes } from 'node:crypto';
import { apiError, durations } from '@outpost/shared';
import type { ApiScope, Store } from '../store/index.ts';
import { hashSecret, secretMatches } from './tokens.ts';

export const sessionCookie = 'outpost_session';
export const csrfHeader = 'x-outpost-csrf';

/** Session cookie text: `ops_<id: 16 hex>_<secret: 43 base64url>`. */
const sessionPattern = /^ops_([0-9a-f]{16})_([A-Za-z0-9_-]{43})$/;

export interface Session {
  id: string;
  tokenId: string;
  tokenName: string;
  scope: ApiScope;
  expiresAt: string;
  /** The value the X-Outpost-CSRF header must carry on this session's writes. */
  csrfToken: string;
}

/** The CSRF token of a session: a one-way function of its secret, so the hub stores none. */
export const csrfTokenOf = (secret: string) =>
  createHash('sha256').update(`outpost-csrf:${secret}`, 'utf8').digest('base64url');

/** The value of cookie `name` in a Cookie header, if present. */
export function readCookie(header: string | undefined, name: string): string | undefined {
  if (!header) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

export function setCookieHeader(text: string, expiresAt: string, now: Date): string {
  const maxAge = Math.max(0, Math.floor((Date.parse(expiresAt) - now.getTime()) / 1000));
  return `${sessionCookie}=${text}; Path=/; Max-Age=${maxAge}; HttpOnly; Secure; SameSite=Strict`;
}

export const clearCookieHeader = `${sessionCookie}=; Path=/; Max-Age=0; HttpOnly; Secure; SameSite=Strict`;

/** Opens a session for a token that authenticated just now; the cookie text is shown once. */
export async function openSession(
  store: Store,
  token: { id: string; name: string; scope: ApiScope; expiresAt: string | null },
  now: Date,
): Promise<{ session: Session; cookie: string }> {
  const id = randomBytes(8).toString('hex');
  const secret = randomBytes(32).toString('base64url');
  const cap = now.getTime() + durations.uiSessionMs;
  const expiresAt = new Date(token.expiresAt ? Math.min(cap, Date.parse(token.expiresAt)) : cap).toISOString();
  await store.sessions.deleteExpired(now.toISOString());
  await store.sessions.insert({
    id,
    tokenId: token.id,
    secretHash: hashSecret(secret),
    createdAt: now.toISOString(),
    expiresAt,
  });
  return {
    session: {
      id,
      tokenId: token.id,
      tokenName: token.name,
      scope: token.scope,
      expiresAt,
      csrfToken: csrfTokenOf(secret),
    },
    cookie: `ops_${id}_${secret}`,
  };
}

/** The live session a cookie names: one read (the session with its token's row). */
export async function authenticateSession(store: Store, text: string, now: Date): Promise<Session> {
  const m = sessionPattern.exec(text);
  if (!m) throw apiError('AUTH_INVALID', 'the session cookie is not an Outpost session; log in again');
  const [, id, secret] = m as unknown as [string, string, string];
  const row = await store.sessions.get(id);
  if (!secretMatches(secret, row?.secretHash) || !row) {
    throw apiError('AUTH_INVALID', 'the session is not valid (logged out or expired); log in again');
  }
  const at = now.getTime();
  if (Date.parse(row.expiresAt) <= at) throw apiError('AUTH_INVALID', 'the session has expired; log in again');
  if (row.tokenRevokedAt) throw apiError('AUTH_INVALID', "the session's API token was revoked");
  if (row.tokenExpiresAt && Date.parse(row.tokenExpiresAt) <= at) {
    throw apiError('AUTH_INVALID', "the session's API token has expired");
  }
  return {
    id,
    tokenId: row.tokenId,
    tokenName: row.tokenName,
    scope: row.scope,
    expiresAt: row.expiresAt,
    csrfToken: csrfTokenOf(secret),
  };
}
