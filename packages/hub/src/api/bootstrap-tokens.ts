// /api/v1/bootstraptokens: create (the secret is in that answer only), list, get, revoke.

import { apiError } from '@outpost/shared';
import type { FastifyPluginAsync } from 'fastify';
import { createBootstrapToken, parseTokenSpec, toResource } from '../registration/bootstrap-tokens.ts';
import type { TrustService } from '../registration/service.ts';
import type { Store } from '../store/index.ts';
import { listOf } from './common.ts';

export const bootstrapTokenRoutes: FastifyPluginAsync<{ store: Store; trust: TrustService }> = async (
  app,
  { store, trust },
) => {
  const get = async (id: string) => {
    const t = await store.bootstrapTokens.get(id);
    if (!t) throw apiError('NOT_FOUND', `bootstrap token ${JSON.stringify(id.slice(0, 64))} not found`);
    return t;
  };

  app.post('/api/v1/bootstraptokens', async (req, reply) => {
    const spec = parseTokenSpec(req.body);
    const { row, token } = await createBootstrapToken(store, spec, req.principal?.actor ?? 'unknown', new Date());
    const res = toResource(row, Date.now());
    res.status.token = token;
    return reply.code(201).send({ ...res, caCertHashes: trust.pinHashes() });
  });

  app.get('/api/v1/bootstraptokens', async () => {
    const now = Date.now();
    return listOf(
      'BootstrapTokenList',
      (await store.bootstrapTokens.list()).map((t) => toResource(t, now)),
      undefined,
    );
  });

  app.get('/api/v1/bootstraptokens/:id', async (req) =>
    toResource(await get((req.params as { id: string }).id), Date.now()),
  );

  app.delete('/api/v1/bootstraptokens/:id', async (req) => {
    const id = (req.params as { id: string }).id;
    // Tokens are revoked, never deleted: the row read again after the revocation exists.
    await get(id);
    await store.bootstrapTokens.revoke(id, new Date().toISOString());
    return toResource(await get(id), Date.now());
  });
};
