// Dashboard sessions on a real `outpost-hub serve`: an API token is exchanged for an
// HttpOnly, Secure, SameSite=Strict cookie; the cookie authenticates like its token (scope,
// audit actor), writes need the session's CSRF header, a WebSocket needs the hub's own
// Origin, and the session dies with its token or on logout.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Agent, WebSocket } from 'undici';
import { adminClient, anonymousClient, assertError, type HubClient, waitFor } from './hub-client.ts';
import { type HubProcess, startHub } from './hub-process.ts';

interface SessionView {
  actor: string;
  scope: string;
  csrfToken: string;
  expiresAt: string;
}

describe('dashboard sessions', () => {
  let hub: HubProcess;
  let admin: HubClient;
  let anon: HubClient;

  // The address agents and browsers use when a balancer stands in front of the hub.
  const advertised = 'https://hub.example.test:8443';
  before(async () => {
    hub = await startHub({ args: ['--advertise-url', advertised] });
    admin = await adminClient(hub);
    anon = anonymousClient(hub);
  });
  after(async () => {
    await admin?.close();
    await anon?.close();
    await hub?.stop();
  });

  async function token(name: string, scope: string): Promise<{ id: string; text: string }> {
    const res = await admin.post<{ metadata: { name: string }; status: { token: string } }>('/api/v1/apitokens', {
      name,
      scope,
    });
    assert.equal(res.status, 201, res.text);
    return { id: res.body.metadata.name, text: res.body.status.token };
  }

  async function login(text: string): Promise<{ cookie: string; setCookie: string; session: SessionView }> {
    const res = await anon.post<SessionView>('/api/v1/sessions', undefined, { token: text });
    assert.equal(res.status, 201, res.text);
    const setCookie = String(res.headers['set-cookie']);
    return { cookie: setCookie.split(';')[0] as string, setCookie, session: res.body };
  }

  test('a token buys a cookie that is HttpOnly, Secure, SameSite=Strict, and reads as its token', async () => {
    const t = await token('ui-admin', 'admin');
    const { cookie, setCookie, session } = await login(t.text);
    assert.match(
      setCookie,
      /^outpost_session=ops_[0-9a-f]{16}_[\w-]{43}; Path=\/; Max-Age=\d+; HttpOnly; Secure; SameSite=Strict$/,
    );
    assert.equal(session.scope, 'admin');
    assert.equal(session.actor, 'token:ui-admin');
    assert.ok(Date.parse(session.expiresAt) > Date.now());
    const current = await anon.get<SessionView>('/api/v1/sessions/current', { headers: { cookie } });
    assert.equal(current.status, 200, current.text);
    assert.equal(current.body.csrfToken, session.csrfToken, 'the CSRF token can be read again after a reload');
    const list = await anon.get('/api/v1/clusters', { headers: { cookie } });
    assert.equal(list.status, 200, list.text);
    // A session opens no further sessions; a bearer call has no session to read.
    assertError(
      await anon.post('/api/v1/sessions', undefined, { headers: { cookie, 'x-outpost-csrf': session.csrfToken } }),
      400,
      'AUTH_SESSION_REQUIRED',
    );
    assertError(await admin.get('/api/v1/sessions/current'), 400, 'AUTH_SESSION_REQUIRED');
    assertError(await anon.post('/api/v1/sessions', { scope: 'admin' }, { token: t.text }), 400, 'VALIDATION_FAILED');
  });

  test('writes with the cookie need the CSRF header of that session; the audit names the token', async () => {
    const t = await token('ui-writer', 'admin');
    const { cookie, session } = await login(t.text);
    const other = await login(t.text);
    const body = { name: 'made-by-ui', scope: 'read-only' };
    assertError(await anon.post('/api/v1/apitokens', body, { headers: { cookie } }), 403, 'AUTH_CSRF_MISMATCH');
    assertError(
      await anon.post('/api/v1/apitokens', body, { headers: { cookie, 'x-outpost-csrf': other.session.csrfToken } }),
      403,
      'AUTH_CSRF_MISMATCH',
      "another session's CSRF token",
    );
    const ok = await anon.post('/api/v1/apitokens', body, { headers: { cookie, 'x-outpost-csrf': session.csrfToken } });
    assert.equal(ok.status, 201, ok.text);
    // The audit row is written once the answer is out: wait for the last one.
    const rows = await waitFor('the audit rows of the three calls', async () => {
      const audit = await admin.get<{ items: { actor: string; action: string; result: string }[] }>(
        '/api/v1/auditevents?limit=500',
      );
      // Newest first.
      const mine = audit.body.items.filter(
        (r) => r.action === 'POST /api/v1/apitokens' && r.actor === 'token:ui-writer',
      );
      return mine.length === 3 ? mine : undefined;
    });
    assert.deepEqual(
      rows.map((r) => r.result),
      ['201', '403 AUTH_CSRF_MISMATCH', '403 AUTH_CSRF_MISMATCH'],
    );
  });

  test('a call with the cookie to an unknown route is audited under the session’s token', async () => {
    const { cookie } = await login((await token('ui-wanderer', 'read-only')).text);
    assert.equal((await anon.post('/api/v1/nowhere', {}, { headers: { cookie } })).status, 404);
    const row = await waitFor('the audit row', async () => {
      const audit = await admin.get<{ items: { actor: string; resource: string; result: string }[] }>(
        '/api/v1/auditevents?limit=50',
      );
      return audit.body.items.find((r) => r.resource === '/api/v1/nowhere');
    });
    assert.deepEqual([row.actor, row.result], ['token:ui-wanderer', '404 NOT_FOUND']);
  });

  test('a read-only session reads everything and acts on nothing', async () => {
    const t = await token('ui-viewer', 'read-only');
    const { cookie, session } = await login(t.text);
    assert.equal(session.scope, 'read-only');
    assert.equal((await anon.get('/api/v1/placements', { headers: { cookie } })).status, 200);
    assertError(
      await anon.post(
        '/api/v1/apitokens',
        { name: 'x', scope: 'admin' },
        { headers: { cookie, 'x-outpost-csrf': session.csrfToken } },
      ),
      403,
      'AUTH_FORBIDDEN',
    );
  });

  test('a session dies with its token, and on logout', async () => {
    const t = await token('ui-short', 'read-only');
    const a = await login(t.text);
    const b = await login(t.text);
    const out = await anon.delete('/api/v1/sessions/current', {
      headers: { cookie: a.cookie, 'x-outpost-csrf': a.session.csrfToken },
    });
    assert.equal(out.status, 204, out.text);
    assert.match(String(out.headers['set-cookie']), /^outpost_session=; Path=\/; Max-Age=0;/);
    assertError(await anon.get('/api/v1/clusters', { headers: { cookie: a.cookie } }), 401, 'AUTH_INVALID');
    assert.equal((await anon.get('/api/v1/clusters', { headers: { cookie: b.cookie } })).status, 200);
    const revoked = await admin.delete(`/api/v1/apitokens/${t.id}`);
    assert.equal(revoked.status, 200, revoked.text);
    assertError(await anon.get('/api/v1/clusters', { headers: { cookie: b.cookie } }), 401, 'AUTH_INVALID');
    assertError(
      await anon.get('/api/v1/clusters', { headers: { cookie: 'outpost_session=nonsense' } }),
      401,
      'AUTH_INVALID',
    );
  });

  test('a WebSocket with the cookie opens from the hub’s own origin (or its advertised URL) only', async () => {
    const t = await token('ui-live', 'read-only');
    const { cookie } = await login(t.text);
    const dispatcher = new Agent({ connect: { ca: hub.caCertPem } });
    const url = `${hub.url.replace(/^https/, 'wss')}/api/v1/clusters`;
    const open = (origin: string) =>
      new Promise<string>((resolve) => {
        const ws = new WebSocket(url, { dispatcher, headers: { cookie, origin } } as never);
        ws.addEventListener('open', () => {
          ws.close();
          resolve('open');
        });
        ws.addEventListener('error', () => resolve('refused'));
      });
    try {
      assert.equal(await open('https://evil.example'), 'refused');
      assert.equal(await open(hub.url.replace('127.0.0.1', 'localhost')), 'refused', 'another host is another origin');
      assert.equal(await open(hub.url), 'open');
      assert.equal(await open(advertised), 'open', 'the page served through the advertised address');
      assert.equal(await open('https://hub.example.test:9443'), 'refused', 'another port is another origin');
    } finally {
      await dispatcher.close();
    }
  });
});
