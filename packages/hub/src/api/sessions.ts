// /api/v1/sessions: the dashboard's login and logout. An API token (either scope) is
// exchanged for a session cookie (auth/sessions.ts); the session is read back (after a page
// reload the dashboard needs its CSRF token again) and deleted on logout.
import { apiError } from '@outpost/shared';
import type { FastifyPluginAsync, FastifyRequest } from 'fastify';
import { clearCookieHeader, openSession, type Session, setCookieHeader } from '../auth/index.ts';
import type { Store } from '../store/index.ts';

const view = (s: Session) => ({
  apiVersion: 'outpost.dev/v1alpha1',
  kind: 'Session',
  actor: `token:${s.tokenName}`,
  scope: s.scope,
  csrfToken: s.csrfToken,
  expiresAt: s.expiresAt,
});

function sessionOf(req: FastifyRequest): Session {
  const session = req.principal?.session;
  if (!session) {
    throw apiError('AUTH_SESSION_REQUIRED', 'this call reads the session cookie: send no Authorization header');
  }
  return session;
}

export const sessionRoutes: FastifyPluginAsync<{ store: Store }> = async (app, { store }) => {
  // Logging in and out change no object of the fleet: any scope may.
  const config = { anyScope: true };
  app.post('/api/v1/sessions', { config }, async (req, reply) => {
    const p = req.principal;
    if (!p || p.session) {
      throw apiError('AUTH_SESSION_REQUIRED', 'a session is opened with "Authorization: Bearer <API token>"');
    }
    if (req.body !== undefined) throw apiError('VALIDATION_FAILED', 'a login takes no body: the token is the header');
    const token = await store.apiTokens.get(p.tokenId);
    if (!token) throw apiError('AUTH_INVALID', 'the bearer token is not valid');
    const now = new Date();
    const { session, cookie } = await openSession(store, token, now);
    return reply
      .status(201)
      .header('set-cookie', setCookieHeader(cookie, session.expiresAt, now))
      .header('cache-control', 'no-store')
      .send(view(session));
  });
  app.get('/api/v1/sessions/current', async (req, reply) =>
    reply.header('cache-control', 'no-store').send(view(sessionOf(req))),
  );
  app.delete('/api/v1/sessions/current', { config }, async (req, reply) => {
    await store.sessions.delete(sessionOf(req).id);
    return reply.status(204).header('set-cookie', clearCookieHeader).send();
  });
};
