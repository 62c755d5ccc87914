// /healthz (the process is alive) and /readyz (it can serve: the store answers).
import type { FastifyPluginAsync } from 'fastify';
import type { Store } from '../store/index.ts';

export const healthRoutes: FastifyPluginAsync<{ store: Store; version: string }> = async (app, opts) => {
  app.get('/healthz', async () => ({ status: 'ok', version: opts.version }));
  app.get('/readyz', async (_req, reply) => {
    let ok = false;
    try {
      ok = await opts.store.ping();
    } catch {
      ok = false;
    }
    if (!ok) return reply.status(503).send({ code: 'HUB_NOT_READY', message: 'the store does not answer' });
    return { status: 'ready', epoch: opts.store.epoch };
  });
};
