// /api/v1/ca: the CA status (signing CA, rotation progress) and `ca rotate`.
import type { FastifyPluginAsync } from 'fastify';
import type { TrustService } from '../registration/service.ts';

export const caRoutes: FastifyPluginAsync<{ trust: TrustService; advertiseUrl: string | undefined }> = async (
  app,
  { trust, advertiseUrl },
) => {
  app.get('/api/v1/ca', async () => ({ ...(await trust.caStatus()), advertiseUrl: advertiseUrl ?? null }));
  app.post('/api/v1/ca/rotate', async () => ({ ...(await trust.rotateCa()), advertiseUrl: advertiseUrl ?? null }));
};
