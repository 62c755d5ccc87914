// /api/v1/apitokens: bearer tokens for people and automation, with a scope.

import { apiError, parseDuration } from '@outpost/shared';
import type { FastifyPluginAsync } from 'fastify';
import { hashSecret, newApiToken } from '../auth/index.ts';
import type { ApiScope, ApiTokenRow, Store } from '../store/index.ts';
import { listOf } from './common.ts';

const scopes: readonly ApiScope[] = ['admin', 'read-only'];

function toResource(t: ApiTokenRow) {
  return {
    apiVersion: 'outpost.dev/v1alpha1',
    kind: 'ApiToken',
    metadata: { name: t.id, creationTimestamp: t.createdAt },
    spec: { displayName: t.name, scope: t.scope, expiration: t.expiresAt },
    status: { createdBy: t.createdBy, revokedAt: t.revokedAt, lastUsed: t.lastUsedAt } as Record<string, unknown>,
  };
}

export async function createApiToken(
  store: Store,
  name: string,
  scope: ApiScope,
  createdBy: string,
  ttlMs?: number,
  /** A token made elsewhere (the first admin token from a Secret); default: a new one. */
  given?: { id: string; secret: string; text: string },
): Promise<{ id: string; token: string }> {
  const t = given ?? newApiToken();
  const now = new Date();
  await store.apiTokens.insert({
    id: t.id,
    name,
    scope,
    secretHash: hashSecret(t.secret),
    createdAt: now.toISOString(),
    createdBy,
    expiresAt: ttlMs ? new Date(now.getTime() + ttlMs).toISOString() : null,
  });
  return { id: t.id, token: t.text };
}

export const apiTokenRoutes: FastifyPluginAsync<{ store: Store }> = async (app, { store }) => {
  app.post('/api/v1/apitokens', async (req, reply) => {
    const b = (req.body ?? {}) as { name?: unknown; scope?: unknown; ttl?: unknown };
    if (typeof b.name !== 'string' || !/^[A-Za-z0-9][-A-Za-z0-9_.@]{0,62}$/.test(b.name)) {
      throw apiError('VALIDATION_FAILED', 'name must be 1-63 characters of letters, digits, "-", "_", "." or "@"');
    }
    if (!scopes.includes(b.scope as ApiScope))
      throw apiError('VALIDATION_FAILED', `scope must be one of ${scopes.join(', ')}`);
    let ttlMs: number | undefined;
    if (b.ttl !== undefined) {
      ttlMs = parseDuration(b.ttl as string);
      if (!ttlMs || ttlMs > 3650 * 86_400_000)
        throw apiError('VALIDATION_FAILED', 'ttl must be a positive duration such as "90d"');
    }
    const { id, token } = await createApiToken(
      store,
      b.name,
      b.scope as ApiScope,
      req.principal?.actor ?? 'unknown',
      ttlMs,
    );
    const res = toResource((await store.apiTokens.get(id)) as ApiTokenRow);
    res.status.token = token;
    return reply.code(201).send(res);
  });
  app.get('/api/v1/apitokens', async () =>
    listOf('ApiTokenList', (await store.apiTokens.list()).map(toResource), undefined),
  );
  app.delete('/api/v1/apitokens/:id', async (req) => {
    const id = (req.params as { id: string }).id;
    if (!(await store.apiTokens.get(id)))
      throw apiError('NOT_FOUND', `api token ${JSON.stringify(id.slice(0, 64))} not found`);
    // Tokens are revoked, never deleted: the row read again after the revocation exists.
    await store.apiTokens.revoke(id, new Date().toISOString());
    return toResource((await store.apiTokens.get(id)) as ApiTokenRow);
  });
};
