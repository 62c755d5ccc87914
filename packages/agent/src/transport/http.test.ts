import assert from 'node:assert/strict';
import { once } from 'node:events';
import * as https from 'node:https';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import type { TLSSocket } from 'node:tls';
import { createTestCa, issueServingCert } from '../testing/pki.ts';
import { HttpPool, readText } from './http.ts';

test('HttpPool resumes its TLS session with a server that restarted, also after connections were refused meanwhile', async () => {
  const ca = await createTestCa();
  const serving = await issueServingCert(ca);
  const ticketKeys = Buffer.alloc(48, 3);
  const reused: boolean[] = [];
  const serve = (port: number) => {
    const server = https.createServer(
      { key: serving.keyPem, cert: serving.certPem, ticketKeys, sessionIdContext: 'test', sessionTimeout: 3600 },
      (req, res) => {
        reused.push((req.socket as TLSSocket).isSessionReused());
        res.setHeader('connection', 'close');
        res.end('ok');
      },
    );
    server.listen(port, '127.0.0.1');
    return server;
  };
  let server = serve(0);
  await once(server, 'listening');
  const port = (server.address() as AddressInfo).port;
  const pool = new HttpPool({ ca: ca.certPem, keepAliveMs: 1_000 });
  const get = async () => {
    const res = await pool.request({ method: 'GET', url: `https://127.0.0.1:${port}/`, headers: {} });
    return readText(res.body);
  };
  try {
    assert.equal(await get(), 'ok');
    // The server goes away (a hub restarting): the connection attempts meanwhile are refused.
    await new Promise<void>((resolve) => server.close(() => resolve()));
    server.closeAllConnections();
    for (let i = 0; i < 3; i++) await assert.rejects(get(), /ECONNREFUSED/);
    server = serve(port);
    await once(server, 'listening');
    assert.equal(await get(), 'ok');
    assert.deepEqual(reused, [false, true], 'the first connection after the restart resumed');
  } finally {
    await pool.close();
    server.close();
  }
});
