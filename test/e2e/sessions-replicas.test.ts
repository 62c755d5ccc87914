// Dashboard sessions across two hub replicas on one real PostgreSQL database: a session
// opened through one replica works through the other, and logging out or revoking its token
// through one ends it on both at once (sessions live in the database, not in a hub).
import assert from 'node:assert/strict';
import { copyFile, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { createDatabase, type PostgresServer, startPostgres } from '../pg/index.ts';
import { anonymousClient, assertError, HubClient, readAdminToken } from './hub-client.ts';
import { type HubProcess, startHub } from './hub-process.ts';

describe('dashboard sessions on two replicas', { timeout: 120_000 }, () => {
  let pg: PostgresServer;
  let keyDir = '';
  const hubs: HubProcess[] = [];
  const clients: HubClient[] = [];

  before(async () => {
    pg = await startPostgres();
    const url = await createDatabase(pg.url, 'sessions');
    keyDir = await mkdtemp(join(tmpdir(), 'outpost-sessions-key-'));
    const first = await startHub({ args: ['--database', url] });
    const kekFile = join(keyDir, 'pki.kek');
    await copyFile(join(first.dataDir, 'pki.kek'), kekFile);
    hubs.push(first, await startHub({ args: ['--database', url, '--kek-file', kekFile] }));
    const token = await readAdminToken(first.dataDir);
    for (const h of hubs) clients.push(new HubClient(h.url, { ca: h.caCertPem, token }));
  });
  after(async () => {
    for (const c of clients) await c.close();
    await Promise.all(hubs.map((h) => h.stop()));
    await pg?.stop();
    await rm(keyDir, { recursive: true, force: true });
  });

  test('opened on one replica, used on the other; logout and revocation end it on both', async () => {
    const [a, b] = clients as [HubClient, HubClient];
    const made = await a.post<{ metadata: { name: string }; status: { token: string } }>('/api/v1/apitokens', {
      name: 'ui-replicas',
      scope: 'read-only',
    });
    assert.equal(made.status, 201, made.text);
    const anonB = anonymousClient(hubs[1] as HubProcess);
    try {
      const login = async () => {
        const res = await a.post<{ csrfToken: string }>('/api/v1/sessions', undefined, {
          token: made.body.status.token,
        });
        assert.equal(res.status, 201, res.text);
        return { cookie: String(res.headers['set-cookie']).split(';')[0] as string, csrf: res.body.csrfToken };
      };
      const one = await login();
      assert.equal((await anonB.get('/api/v1/clusters', { headers: { cookie: one.cookie } })).status, 200);
      const out = await anonB.delete('/api/v1/sessions/current', {
        headers: { cookie: one.cookie, 'x-outpost-csrf': one.csrf },
      });
      assert.equal(out.status, 204, out.text);
      assertError(
        await a.get('/api/v1/clusters', { token: null, headers: { cookie: one.cookie } }),
        401,
        'AUTH_INVALID',
      );

      const two = await login();
      assert.equal((await anonB.get('/api/v1/clusters', { headers: { cookie: two.cookie } })).status, 200);
      assert.equal((await b.delete(`/api/v1/apitokens/${made.body.metadata.name}`)).status, 200);
      assertError(
        await a.get('/api/v1/clusters', { token: null, headers: { cookie: two.cookie } }),
        401,
        'AUTH_INVALID',
      );
    } finally {
      await anonB.close();
    }
  });
});
