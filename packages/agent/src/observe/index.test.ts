import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { test } from 'node:test';
import { AgentObserver, startListener } from './index.ts';

/** An observer on a clock the test moves. */
function observed(role: 'leading' | 'standby' | 'off' = 'leading') {
  let now = Date.parse('2026-01-01T00:00:00Z');
  const observer = new AgentObserver({ recentMs: 45_000, role, now: () => now });
  return {
    observer,
    advance: (ms: number) => {
      now += ms;
    },
  };
}

test('readiness: the hub reachable (a recent answer, no failure since) and the state read, or standing by', () => {
  const { observer, advance } = observed();
  observer.delivering();
  assert.match(observer.notReady() ?? '', /state is not read/);
  observer.stateRead();
  assert.match(observer.notReady() ?? '', /no answer from the hub yet/);
  observer.hubAnswered('poll', 30);
  assert.equal(observer.notReady(), undefined);
  assert.equal(observer.connected, true);
  // A held poll: no answer for a while is fine up to recentMs.
  advance(44_000);
  assert.equal(observer.notReady(), undefined);
  advance(2_000);
  assert.match(observer.notReady() ?? '', /no answer from the hub for 46 s/);
  observer.hubAnswered('heartbeat');
  advance(1_000);
  observer.hubFailed('poll', 'AGENT_HUB_UNREACHABLE', 'connect ECONNREFUSED', 0.01);
  assert.equal(observer.connected, false, 'a failure after the last answer');
  assert.match(observer.notReady() ?? '', /not reachable: AGENT_HUB_UNREACHABLE: connect ECONNREFUSED/);
  advance(1_000);
  observer.hubAnswered('poll', 0.2);
  assert.equal(observer.notReady(), undefined, 'back once the hub answers again');

  const standby = observed('standby').observer;
  assert.equal(standby.notReady(), undefined, 'a standby is ready: it does its part by waiting');
  standby.role = 'leading';
  assert.match(standby.notReady() ?? '', /no answer from the hub yet/);
});

test('metrics: counters by result, corrections counted once per put-back, the sources read when scraped', () => {
  const { observer } = observed();
  let depth = 3;
  observer.use({
    outboxDepth: () => depth,
    heldDeletions: () => 2,
    certificate: () => ({ notAfter: new Date('2026-02-01T00:00:00Z'), renewAt: new Date('2026-01-25T00:00:00Z') }),
  });
  observer.hubAnswered('poll', 0.3);
  observer.applied('applied', 0.2);
  observer.applied('applied', 0.4);
  observer.applied('failed', 1.5);
  observer.applied('error', 0.1);
  // Totals since the start per work: counted as the difference, never twice.
  observer.corrections('w1', 2);
  observer.corrections('w1', 2);
  observer.corrections('w1', 3);
  observer.corrections('w2', 1);
  // A deleted work's entry goes; what it counted stays in the total.
  observer.forget('w2');
  depth = 5;
  const text = observer.metrics();
  const value = (series: string) => {
    const line = text.split('\n').find((l) => l.startsWith(`${series} `));
    assert.ok(line, `${series} in\n${text}`);
    return Number(line.slice(series.length + 1));
  };
  assert.equal(value('outpost_agent_connected'), 1);
  assert.equal(value('outpost_agent_leader'), 1);
  assert.equal(value('outpost_status_outbox_depth'), 5);
  assert.equal(value('outpost_agent_held_deletions'), 2);
  assert.equal(value('outpost_agent_applies_total{result="applied"}'), 2);
  assert.equal(value('outpost_agent_applies_total{result="failed"}'), 1);
  assert.equal(value('outpost_agent_applies_total{result="refused"}'), 0);
  assert.equal(value('outpost_agent_applies_total{result="error"}'), 1);
  assert.equal(value('outpost_agent_apply_duration_seconds_count{result="applied"}'), 2);
  assert.equal(value('outpost_agent_apply_duration_seconds_bucket{result="failed",le="1"}'), 0);
  assert.equal(value('outpost_agent_apply_duration_seconds_bucket{result="failed",le="2.5"}'), 1);
  assert.equal(value('outpost_agent_drift_corrections_total'), 4);
  assert.equal(value('outpost_agent_poll_duration_seconds_count{result="ok"}'), 1);
  assert.equal(value('outpost_agent_certificate_expiry_timestamp_seconds'), Date.parse('2026-02-01T00:00:00Z') / 1000);
  assert.equal(value('outpost_agent_certificate_renewal_timestamp_seconds'), Date.parse('2026-01-25T00:00:00Z') / 1000);
  assert.ok(value('process_resident_memory_bytes') > 0);
  // Every sample has its HELP and TYPE.
  for (const name of new Set(
    text
      .split('\n')
      .filter((l) => l && !l.startsWith('#'))
      .map((l) => /^[a-z_]+/.exec(l)?.[0]),
  )) {
    const base = (name as string).replace(/_(bucket|sum|count)$/, '');
    assert.ok(text.includes(`# TYPE ${base} `) || text.includes(`# TYPE ${name} `), `TYPE of ${name}`);
  }
});

test('the listener: /healthz, /readyz with its reason, /metrics, /status; other paths and methods refused', async () => {
  const { observer } = observed();
  const listener = await startListener(observer, { host: '127.0.0.1', port: 0 });
  try {
    const get = (path: string, method = 'GET') => fetch(`${listener.url}${path}`, { method });
    assert.equal((await get('/healthz')).status, 200);
    const notReady = await get('/readyz');
    assert.equal(notReady.status, 503);
    assert.deepEqual(await notReady.json(), { ready: false, role: 'leading', reason: 'no answer from the hub yet' });
    observer.hubAnswered('poll', 1);
    const ready = await get('/readyz');
    assert.equal(ready.status, 200);
    assert.deepEqual(await ready.json(), { ready: true, role: 'leading' });
    const metrics = await get('/metrics');
    assert.match(metrics.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
    assert.match(await metrics.text(), /^outpost_agent_ready 1$/m);
    const status = (await (await get('/status')).json()) as Record<string, unknown>;
    assert.equal(status.leader, 'leading');
    assert.equal(status.connected, true);
    assert.equal(status.lastError, null);
    assert.equal(typeof status.lastPollAt, 'string');
    assert.equal((await get('/nothing')).status, 404);
    assert.equal((await get('/readyz', 'POST')).status, 405);
  } finally {
    await listener.close();
  }
});

test('a source that throws fails that answer with a 500, never the listener; a standby exports no connected series', async () => {
  const { observer } = observed('standby');
  let broken = true;
  observer.use({
    certificate: () => {
      if (broken) throw new Error('certificate unreadable');
      return { notAfter: new Date(), renewAt: new Date() };
    },
  });
  const errors: unknown[] = [];
  const listener = await startListener(observer, { host: '127.0.0.1', port: 0 }, (err) => errors.push(err));
  try {
    const failed = await fetch(`${listener.url}/metrics`);
    assert.equal(failed.status, 500);
    assert.deepEqual(await failed.json(), { code: 'INTERNAL', message: 'certificate unreadable' });
    assert.equal(errors.length, 1);
    assert.equal((await fetch(`${listener.url}/healthz`)).status, 200, 'still answering');
    broken = false;
    const text = await (await fetch(`${listener.url}/metrics`)).text();
    assert.doesNotMatch(text, /^outpost_agent_connected /m, 'a standby talks to no hub');
    assert.match(text, /^outpost_agent_leader 0$/m);
  } finally {
    await listener.close();
  }
});

test('every address (host ""): one listener that answers on IPv4 loopback', async () => {
  const { observer } = observed();
  const listener = await startListener(observer, { host: '', port: 0 });
  try {
    const port = new URL(listener.url).port;
    assert.equal((await fetch(`http://127.0.0.1:${port}/healthz`)).status, 200);
  } finally {
    await listener.close();
  }
});

test('hostile requests on the raw socket: malformed is 400, oversized headers 431, HEAD has no body; each connection then closes', async () => {
  const { observer } = observed();
  const listener = await startListener(observer, { host: '127.0.0.1', port: 0 });
  const port = Number(new URL(listener.url).port);
  /** Sends `text` and reads until the listener closes the connection. */
  const exchange = (text: string) =>
    new Promise<string>((resolve, reject) => {
      const socket = connect(port, '127.0.0.1');
      let got = '';
      socket.on('data', (d: Buffer) => {
        got += d.toString('latin1');
      });
      socket.on('close', () => resolve(got));
      socket.on('error', reject);
      socket.write(text);
    });
  try {
    assert.match(await exchange('NOT HTTP AT ALL\r\n\r\n'), /^HTTP\/1\.1 400 Bad Request\r\n/);
    assert.match(await exchange(`GET /healthz HTTP/1.1\r\nx: ${'a'.repeat(9000)}\r\n\r\n`), /^HTTP\/1\.1 431 /);
    const head = await exchange('HEAD /healthz HTTP/1.1\r\nhost: x\r\n\r\n');
    assert.match(head, /^HTTP\/1\.1 200 OK\r\n/);
    assert.match(head, /\r\nconnection: close\r\n/);
    assert.ok(head.endsWith('\r\n\r\n'), 'no body after the head');
    // Arriving in pieces is one request.
    const socket = connect(port, '127.0.0.1');
    const answer = new Promise<string>((resolve) => {
      let got = '';
      socket.on('data', (d: Buffer) => {
        got += d.toString();
      });
      socket.on('close', () => resolve(got));
    });
    socket.write('GET /heal');
    await new Promise((r) => setTimeout(r, 50));
    socket.write('thz HTTP/1.1\r\nhost: x\r\n\r\n');
    assert.match(await answer, /\r\n\r\nok\n$/);
  } finally {
    await listener.close();
  }
});
