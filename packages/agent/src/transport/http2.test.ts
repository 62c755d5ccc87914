import assert from 'node:assert/strict';
import { once } from 'node:events';
import * as http2 from 'node:http2';
import * as https from 'node:https';
import { type AddressInfo, connect, createServer as createNetServer, type Socket } from 'node:net';
import { test } from 'node:test';
import { createTestCa, issueServingCert } from '../testing/pki.ts';
import { readText } from './http.ts';
import { Http2Pool } from './http2.ts';

async function tlsFixture() {
  const ca = await createTestCa();
  const serving = await issueServingCert(ca);
  return { ca: ca.certPem, key: serving.keyPem, cert: serving.certPem };
}

/** An h2-only server: `/watch` answers a line and stays open; `/silent` headers only; `/hang` nothing; `/echo` echoes. */
async function h2Server(settings: http2.Settings = {}) {
  const pki = await tlsFixture();
  const sessions = new Set<http2.ServerHttp2Session>();
  let streams = 0;
  const server = http2.createSecureServer({ key: pki.key, cert: pki.cert, settings });
  server.on('session', (s) => sessions.add(s));
  server.on('stream', (stream, headers) => {
    streams++;
    stream.on('error', () => {});
    const path = headers[':path'] ?? '';
    if (path.startsWith('/watch')) {
      stream.respond({ ':status': 200, 'content-type': 'application/json' });
      stream.write(`{"type":"ADDED","path":"${path}"}\n`);
    } else if (path === '/hang') {
      // No answer at all.
    } else if (path === '/silent') {
      stream.respond({ ':status': 200 });
    } else if (path === '/echo') {
      let body = '';
      stream.on('data', (c: Buffer) => {
        body += c.toString();
      });
      stream.on('end', () => {
        stream.respond({ ':status': 201, 'x-method': String(headers[':method']) });
        stream.end(body);
      });
    } else {
      stream.respond({ ':status': 404 });
      stream.end();
    }
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const url = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url,
    ca: pki.ca,
    sessions,
    streams: () => streams,
    close: async () => {
      for (const s of sessions) s.destroy();
      server.close();
    },
  };
}

async function firstLine(body: AsyncIterable<Buffer>): Promise<string> {
  for await (const chunk of body) return chunk.toString().trim();
  return '';
}

test('Http2Pool: many watches are streams of one connection; bodies, statuses and aborts as over HTTP/1.1', async () => {
  const srv = await h2Server();
  const pool = new Http2Pool({ ca: srv.ca });
  try {
    const stops = Array.from({ length: 30 }, () => new AbortController());
    const answers = await Promise.all(
      stops.map((stop, i) =>
        pool.request({
          method: 'GET',
          url: `${srv.url}/watch?n=${i}`,
          headers: { accept: 'application/json' },
          signal: stop.signal,
        }),
      ),
    );
    assert.ok(answers.every((a) => a.status === 200));
    assert.equal(await firstLine(answers[7]?.body as AsyncIterable<Buffer>), '{"type":"ADDED","path":"/watch?n=7"}');
    assert.equal(srv.sessions.size, 1, 'one connection carries all 30');
    assert.equal(pool.connections, 1);
    assert.equal(pool.http1, false);

    const echoed = await pool.request({
      method: 'PATCH',
      url: `${srv.url}/echo`,
      headers: { 'content-type': 'application/json' },
      body: '{"a":1}',
    });
    assert.equal(echoed.status, 201);
    assert.equal(echoed.headers['x-method'], 'PATCH');
    assert.equal(await readText(echoed.body), '{"a":1}');
    const missing = await pool.request({ method: 'GET', url: `${srv.url}/nope`, headers: {} });
    assert.equal(missing.status, 404);
    assert.equal(await readText(missing.body), '');

    // A watch stopped by its signal ends its stream, not the connection.
    const stopped = answers[3]?.body as AsyncIterable<Buffer>;
    stops[3]?.abort();
    await assert.rejects(async () => {
      for await (const _ of stopped) {
        // drain
      }
    });
    const again = await pool.request({ method: 'GET', url: `${srv.url}/watch?again`, headers: {} });
    assert.equal(again.status, 200);
    assert.equal(srv.sessions.size, 1);
    for (const s of stops) s.abort();
    again.body.destroy();
  } finally {
    await pool.close();
    await srv.close();
  }
});

test('Http2Pool: silence mid-answer and a missing answer time out with the codes HttpPool uses', async () => {
  const srv = await h2Server();
  const pool = new Http2Pool({ ca: srv.ca });
  try {
    const silent = await pool.request({ method: 'GET', url: `${srv.url}/silent`, headers: {}, bodyTimeoutMs: 150 });
    await assert.rejects(
      readText(silent.body),
      (err: Error & { code?: string }) => err.code === 'UND_ERR_BODY_TIMEOUT',
    );
    await assert.rejects(
      pool.request({ method: 'GET', url: `${srv.url}/hang`, headers: {}, headersTimeoutMs: 150 }),
      (err: Error & { code?: string }) => err.code === 'UND_ERR_HEADERS_TIMEOUT',
    );
  } finally {
    await pool.close();
    await srv.close();
  }
});

test("Http2Pool: more streams than the server's limit open another connection", async () => {
  const srv = await h2Server({ maxConcurrentStreams: 5 });
  const pool = new Http2Pool({ ca: srv.ca });
  try {
    const answers = await Promise.all(
      Array.from({ length: 12 }, (_, i) =>
        pool.request({ method: 'GET', url: `${srv.url}/watch?n=${i}`, headers: {} }),
      ),
    );
    assert.ok(answers.every((a) => a.status === 200));
    assert.equal(srv.sessions.size, 3, '12 streams at 5 per connection');
    for (const a of answers) a.body.destroy();
  } finally {
    await pool.close();
    await srv.close();
  }
});

test('Http2Pool: a server that offers no h2 (an HTTP/1.1-only proxy) is spoken to over HTTP/1.1', async () => {
  const pki = await tlsFixture();
  const server = https.createServer({ key: pki.key, cert: pki.cert }, (req, res) => {
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.end(`http/${req.httpVersion} ${req.method} ${req.url}`);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const url = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const pool = new Http2Pool({ ca: pki.ca });
  try {
    const first = await pool.request({ method: 'GET', url: `${url}/a`, headers: {} });
    assert.equal(await readText(first.body), 'http/1.1 GET /a');
    assert.equal(pool.http1, true);
    const second = await pool.request({ method: 'POST', url: `${url}/b`, headers: {}, body: 'x' });
    assert.equal(await readText(second.body), 'http/1.1 POST /b');
  } finally {
    await pool.close();
    server.closeAllConnections();
    server.close();
  }
});

test('Http2Pool: close() lets a request in flight finish, then ends the connection; later requests are refused', async () => {
  const srv = await h2Server();
  const pool = new Http2Pool({ ca: srv.ca });
  try {
    const watch = await pool.request({ method: 'GET', url: `${srv.url}/watch`, headers: {} });
    let closed = false;
    const closing = pool.close().then(() => {
      closed = true;
    });
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(closed, false, 'waits for the open stream');
    await assert.rejects(pool.request({ method: 'GET', url: `${srv.url}/watch`, headers: {} }), /closed/);
    watch.body.destroy();
    await closing;
    assert.equal(pool.connections, 0);
  } finally {
    await srv.close();
  }
});

test('Http2Pool: a connection that stops answering (no reset) is found by a PING and replaced', async () => {
  const srv = await h2Server();
  // A TCP relay that can go silent: it drops what it gets, as a dead link does, and resets nothing.
  let silent = false;
  const sockets = new Set<Socket>();
  const relay = createNetServer((client) => {
    const upstream = connect(Number(new URL(srv.url).port), '127.0.0.1');
    for (const sock of [client, upstream]) {
      sockets.add(sock);
      sock.on('error', () => {});
    }
    client.on('data', (d) => silent || upstream.write(d));
    upstream.on('data', (d) => silent || client.write(d));
  });
  relay.listen(0, '127.0.0.1');
  await once(relay, 'listening');
  const url = `https://127.0.0.1:${(relay.address() as AddressInfo).port}`;
  const pool = new Http2Pool({ ca: srv.ca, pingIdleMs: 200, pingTimeoutMs: 300 });
  try {
    const watch = await pool.request({ method: 'GET', url: `${url}/watch?n=1`, headers: {} });
    assert.equal(watch.status, 200);
    assert.equal(pool.connections, 1);
    silent = true;
    await assert.rejects(
      (async () => {
        for await (const _ of watch.body) {
          // drain until the connection is given up
        }
      })(),
    );
    assert.equal(pool.connections, 0, 'the silent connection is gone');
    silent = false;
    const again = await pool.request({ method: 'GET', url: `${url}/watch?n=2`, headers: {} });
    assert.equal(again.status, 200);
    assert.equal(srv.sessions.size, 2, 'a new connection');
    again.body.destroy();
  } finally {
    await pool.close();
    for (const sock of sockets) sock.destroy();
    relay.close();
    await srv.close();
  }
});

test('Http2Pool: close() while a connection is being made refuses the request and keeps no connection', async () => {
  const srv = await h2Server();
  const pool = new Http2Pool({ ca: srv.ca });
  try {
    const pending = pool.request({ method: 'GET', url: `${srv.url}/watch`, headers: {} });
    await pool.close();
    await assert.rejects(pending, /closed/);
    assert.equal(pool.connections, 0);
    const stop = new AbortController();
    const pool2 = new Http2Pool({ ca: srv.ca });
    const aborted = pool2.request({ method: 'GET', url: `${srv.url}/watch`, headers: {}, signal: stop.signal });
    stop.abort(new Error('given up'));
    await assert.rejects(aborted, /given up/);
    await pool2.close();
  } finally {
    await srv.close();
  }
});
