// The agent loop against a scripted mTLS hub on loopback (certificates made here) with an
// injected clock: waits are recorded instead of slept, so backoff and Retry-After are
// checked exactly and the test takes milliseconds.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import type { TLSSocket } from 'node:tls';
import { agentApiPrefix, agentPaths, signingAlgorithm } from '@outpost/shared';
import { x509 } from '@outpost/shared/x509';
import pino from 'pino';
import {
  CredentialStore,
  type Credentials,
  certificateInfo,
  type Entries,
  type EntryStore,
} from '../credentials/index.ts';
import { createTestCa, issueAgentCert, issueServingCert, type TestCa } from '../testing/pki.ts';
import type { Clock } from '../transport/retry.ts';
import { type AgentEvent, type AgentRuntime, type CarriedHeartbeat, createAgentRuntime, unionBundle } from './index.ts';

class MemoryStore implements EntryStore {
  readonly description = 'memory';
  entries: Entries | undefined;
  saves = 0;
  async load() {
    return this.entries ? { ...this.entries } : undefined;
  }
  async save(e: Entries) {
    this.entries = { ...e };
    this.saves++;
  }
}

type Reply = { status: number; headers?: Record<string, string>; body?: unknown };

interface FakeHub {
  url: string;
  /** Scripted heartbeat replies, consumed in order; when empty, a 200 with the current bundle hash. */
  heartbeats: Reply[];
  bundle: string;
  renewNow: boolean;
  /** Client certificate serial of every request, in order, with its path. */
  seen: { path: string; serial: string | undefined }[];
}

let ca: TestCa;
const servers: Server[] = [];

async function signCsr(csrPem: string, cluster: string): Promise<string> {
  const csr = new x509.Pkcs10CertificateRequest(csrPem);
  assert.ok(await csr.verify(), 'CSR self-signature');
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: `02${createHash('sha256').update(csrPem).digest('hex').slice(0, 30)}`,
    subject: csr.subject,
    issuer: ca.cert.subject,
    notBefore: new Date(Date.now() - 60_000),
    notAfter: new Date(Date.now() + 30 * 86_400_000),
    publicKey: await csr.publicKey.export(),
    signingKey: ca.keys.privateKey,
    signingAlgorithm,
  });
  assert.match(csr.subject, new RegExp(`outpost:cluster:${cluster}`));
  return `${cert.toString('pem')}\n`;
}

const hashOf = (s: string) => `sha256:${createHash('sha256').update(s, 'utf8').digest('hex')}`;

async function fakeHub(): Promise<FakeHub> {
  const serving = await issueServingCert(ca);
  const hub: FakeHub = { url: '', heartbeats: [], bundle: ca.certPem, renewNow: false, seen: [] };
  const server = createServer(
    { key: serving.keyPem, cert: serving.certPem, ca: ca.certPem, requestCert: true, rejectUnauthorized: false },
    (req, res) => {
      const socket = req.socket as TLSSocket;
      const peer = socket.authorized ? socket.getPeerCertificate() : undefined;
      hub.seen.push({ path: req.url ?? '', serial: peer?.serialNumber?.toLowerCase() });
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', async () => {
        const send = (r: Reply) => {
          res.statusCode = r.status;
          for (const [k, v] of Object.entries(r.headers ?? {})) res.setHeader(k, v);
          res.setHeader('content-type', 'application/json');
          res.end(JSON.stringify(r.body ?? {}));
        };
        if (req.url === agentPaths.caBundle) return send({ status: 200, body: { caBundle: hub.bundle, caHashes: [] } });
        if (!peer)
          return send({ status: 401, body: { code: 'AGENT_CERT_REQUIRED', message: 'no client certificate' } });
        if (req.url === agentPaths.heartbeat('edge-1')) {
          const scripted = hub.heartbeats.shift();
          return send(
            scripted ?? {
              status: 200,
              body: { cluster: 'edge-1', caBundleHash: hashOf(hub.bundle), renewNow: hub.renewNow, serverTime: '' },
            },
          );
        }
        if (req.url === agentPaths.certificate('edge-1')) {
          const { csr } = JSON.parse(Buffer.concat(chunks).toString()) as { csr: string };
          hub.renewNow = false;
          return send({ status: 200, body: { certificate: await signCsr(csr, 'edge-1'), caBundle: hub.bundle } });
        }
        send({ status: 404, body: { code: 'NOT_FOUND', message: `${agentApiPrefix}?` } });
      });
    },
  );
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  servers.push(server);
  hub.url = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return hub;
}

/** Now moves only when the loop sleeps; every wait is recorded. */
function fakeClock(random = () => 0.5): Clock & { waits: number[]; t: number } {
  const clock = {
    t: Date.now(),
    waits: [] as number[],
    now: () => clock.t,
    random,
    sleep: async (ms: number, signal?: AbortSignal) => {
      clock.waits.push(ms);
      clock.t += ms;
      await new Promise((r) => setImmediate(r));
      if (signal?.aborted) throw signal.reason;
    },
  };
  return clock;
}

async function setup(hub: FakeHub) {
  const leaf = await issueAgentCert(ca, 'edge-1');
  const creds: Credentials = {
    keyPem: leaf.keyPem,
    certPem: leaf.certPem,
    caBundlePem: ca.certPem,
    hub: {
      hubUrl: hub.url,
      clusterName: 'edge-1',
      caCertHash: 'sha256:x',
      caCertHashes: ['sha256:x'],
      joinedAt: '',
      certReceivedAt: new Date().toISOString(),
    },
  };
  const memory = new MemoryStore();
  const store = new CredentialStore(memory);
  await store.save({ credentials: creds });
  return { creds, memory, store };
}

/** Runs the loop until `until` says stop (checked after every event). */
async function runUntil(
  hub: FakeHub,
  clock: Clock,
  store: CredentialStore,
  until: (events: AgentEvent[]) => boolean,
  opts: { heartbeatIntervalMs?: number; revokedGraceMs?: number } = {},
) {
  const controller = new AbortController();
  const events: AgentEvent[] = [];
  const runtime = await createAgentRuntime({
    store,
    log: pino({ level: 'silent' }),
    heartbeatIntervalMs: opts.heartbeatIntervalMs ?? 30_000,
    ...(opts.revokedGraceMs === undefined ? {} : { revokedGraceMs: opts.revokedGraceMs }),
    signal: controller.signal,
    clock,
    onEvent: (e) => {
      events.push(e);
      if (until(events)) controller.abort(new Error('done'));
      if (events.length > 200) controller.abort(new Error('runaway'));
    },
  });
  await runtime.run();
  assert.notEqual((controller.signal.reason as Error).message, 'runaway');
  assert.ok(hub);
  return { events, runtime };
}

before(async () => {
  ca = await createTestCa('hub CA');
});
after(() => {
  for (const s of servers) s.close();
});

describe('agent loop', () => {
  test('heartbeats every interval ±20 %', async () => {
    const hub = await fakeHub();
    const { store } = await setup(hub);
    let r = 0;
    const draws = [0, 0.999, 0.5];
    const clock = fakeClock(() => draws[r++ % 3] as number);
    const { events } = await runUntil(hub, clock, store, (ev) => ev.filter((e) => e.type === 'heartbeat').length >= 4);
    assert.equal(events.filter((e) => e.type === 'error').length, 0);
    assert.ok(clock.waits.length >= 3);
    for (const w of clock.waits) assert.ok(w >= 24_000 && w <= 36_000, `${w}`);
  });

  test("failures back off with full jitter and honour the hub's Retry-After", async () => {
    const hub = await fakeHub();
    const { store } = await setup(hub);
    const busy = { code: 'AGENT_HUB_UNAVAILABLE', message: 'busy' };
    hub.heartbeats.push(
      { status: 503, body: busy },
      { status: 503, body: busy },
      { status: 503, body: busy },
      { status: 429, headers: { 'retry-after': '7' }, body: { code: 'TOO_MANY', message: 'slow down' } },
    );
    const clock = fakeClock(() => 0.999);
    const { events } = await runUntil(hub, clock, store, (ev) => ev.some((e) => e.type === 'heartbeat'));
    const errors = events.filter((e) => e.type === 'error');
    assert.equal(errors.length, 4);
    // Full jitter with random ≈ 1: just under base·2^n (1 s, 2 s, 4 s) …
    assert.ok((clock.waits[0] as number) < 1_000 && (clock.waits[0] as number) > 990);
    assert.ok((clock.waits[1] as number) < 2_000 && (clock.waits[1] as number) > 1_990);
    assert.ok((clock.waits[2] as number) < 4_000 && (clock.waits[2] as number) > 3_990);
    // … then Retry-After: 7 s is a floor, with at most 20 % added.
    assert.ok((clock.waits[3] as number) >= 7_000 && (clock.waits[3] as number) <= 8_400, `${clock.waits[3]}`);
  });

  test("a revocation in the hub's records (denied, removed, recovered elsewhere) stops the agent; a certificate the hub has no record of or one superseded by a renewal does not", async () => {
    const revoked = (reason?: string): Reply => ({
      status: 401,
      body: { code: 'AGENT_CERT_REVOKED', message: 'revoked', ...(reason ? { details: { reason } } : {}) },
    });
    // No record (a replaced database) and superseded: retried, the agent keeps going.
    const hub = await fakeHub();
    const { store } = await setup(hub);
    hub.heartbeats.push(revoked(), revoked(), revoked('superseded'), revoked('superseded'), revoked('denied'));
    const { events } = await runUntil(
      hub,
      fakeClock(() => 0.5),
      store,
      (ev) => ev.some((e) => e.type === 'heartbeat'),
    );
    assert.equal(events.filter((e) => e.type === 'error').length, 5, 'one denial alone does not stop it');
    // Revocations that end within the grace (30 s by default: a `join --recover` of this
    // agent storing its new credentials) do not stop it either.
    const brief = await fakeHub();
    const { store: briefStore } = await setup(brief);
    brief.heartbeats.push(revoked('recovered'), revoked('recovered'), revoked('recovered'));
    const kept = await runUntil(
      brief,
      fakeClock(() => 0.5),
      briefStore,
      (ev) => ev.some((e) => e.type === 'heartbeat'),
    );
    assert.equal(kept.events.filter((e) => e.type === 'error').length, 3);
    // The revocations must last in a row: another answer between them starts the grace over
    // (here 5 s; in all, the denials below span 31.5 s).
    const broken = await fakeHub();
    const { store: brokenStore } = await setup(broken);
    const busy = { status: 503, body: { code: 'AGENT_HUB_UNAVAILABLE', message: 'busy' } };
    const d = revoked('denied');
    broken.heartbeats.push(d, d, busy, d, d, busy, d);
    const interrupted = await runUntil(
      broken,
      fakeClock(() => 0.5),
      brokenStore,
      (ev) => ev.some((e) => e.type === 'heartbeat'),
      { revokedGraceMs: 5_000 },
    );
    assert.equal(interrupted.events.filter((e) => e.type === 'error').length, 7);
    for (const reason of ['denied', 'removed', 'recovered']) {
      const h = await fakeHub();
      const { store: s } = await setup(h);
      h.heartbeats.push(...Array.from({ length: 12 }, () => revoked(reason)));
      const clock = fakeClock(() => 0.5);
      const start = clock.t;
      await assert.rejects(
        runUntil(h, clock, s, (ev) => ev.some((e) => e.type === 'heartbeat')),
        (err: Error & { code?: string }) =>
          err.code === 'AGENT_REVOKED' && err.message.includes(`(${reason}); the agent stops`),
      );
      assert.ok(clock.t - start >= 30_000, `stopped after the grace, not before: ${clock.t - start} ms`);
    }
  });

  test('renewNow: a new key, stored, and the next request already uses the new certificate', async () => {
    const hub = await fakeHub();
    const { creds, memory, store } = await setup(hub);
    hub.renewNow = true;
    const clock = fakeClock();
    const { events, runtime } = await runUntil(
      hub,
      clock,
      store,
      (ev) => ev.some((e) => e.type === 'renewed') && ev.filter((e) => e.type === 'heartbeat').length >= 3,
    );
    const renewed = events.find((e) => e.type === 'renewed');
    assert.ok(renewed && renewed.type === 'renewed');
    assert.equal(renewed.reason, 'the hub asked for a new certificate');
    const stored = (await store.load()).credentials;
    assert.ok(stored);
    assert.notEqual(stored.keyPem, creds.keyPem, 'a new key');
    assert.equal(certificateInfo(stored.certPem).serial, renewed.serial);
    assert.equal(runtime.credentials.certPem, stored.certPem);
    assert.ok(memory.saves >= 2);
    // Every request after the renewal carried the new certificate: the connection pool was swapped.
    const oldSerial = certificateInfo(creds.certPem).serial;
    const renewIndex = hub.seen.findIndex((s) => s.path === agentPaths.certificate('edge-1'));
    assert.equal(hub.seen[renewIndex]?.serial, oldSerial, 'renewal authenticates with the old certificate');
    const afterRenewal = hub.seen.slice(renewIndex + 1);
    assert.ok(afterRenewal.length >= 2);
    for (const s of afterRenewal) assert.equal(s.serial, renewed.serial, s.path);
  });

  test('renews by itself when the renewal point is reached', async () => {
    const hub = await fakeHub();
    const { store } = await setup(hub);
    const clock = fakeClock();
    const { events, runtime } = await runUntil(hub, clock, store, (ev) => ev.some((e) => e.type === 'renewed'), {
      heartbeatIntervalMs: 3_600_000,
    });
    const renewed = events.find((e) => e.type === 'renewed');
    assert.ok(renewed && renewed.type === 'renewed' && renewed.reason === 'renewal time reached');
    assert.ok(runtime.renewAt.getTime() > clock.t, 'the next point is ahead, chosen for the new certificate');
    // The loop slept exactly until the renewal point, not a full (1 h) interval past it.
    assert.ok(clock.waits.every((w) => w <= 3_600_000 * 1.2));
  });

  test('a changed CA bundle is fetched, stored, and trusted together with the old one', async () => {
    const hub = await fakeHub();
    const { store } = await setup(hub);
    const next = await createTestCa('next hub CA');
    hub.bundle = ca.certPem + next.certPem;
    const clock = fakeClock();
    const { events } = await runUntil(
      hub,
      clock,
      store,
      (ev) => ev.some((e) => e.type === 'ca-bundle-updated') && ev.filter((e) => e.type === 'heartbeat').length >= 2,
    );
    assert.equal(events.filter((e) => e.type === 'ca-bundle-updated').length, 1, 'fetched once, then the hashes agree');
    assert.equal((await store.load()).credentials?.caBundlePem, hub.bundle, 'stored exactly as served');
  });

  test('polls carry the heartbeat: none of its own while they answer, a renewNow they bring is obeyed once, silent polls bring heartbeats back', async () => {
    const hub = await fakeHub();
    const { creds, store } = await setup(hub);
    const clock = fakeClock();
    const controller = new AbortController();
    const events: (AgentEvent & { at: number })[] = [];
    const answer = (renewNow: boolean) => ({
      cluster: 'edge-1',
      caBundleHash: hashOf(hub.bundle),
      renewNow,
      serverTime: '',
    });
    let runtime: AgentRuntime | undefined;
    let sleeps = 0;
    let beforeRenewal: CarriedHeartbeat | undefined;
    const sleep = clock.sleep;
    // A poll answers during every sleep of the loop (the syncer's part), scripted by count.
    clock.sleep = async (ms, signal) => {
      sleeps++;
      const r = runtime as AgentRuntime;
      if (sleeps <= 5) r.pollAnswered(r.heartbeatForPoll(), answer(false));
      else if (sleeps === 6) {
        beforeRenewal = r.heartbeatForPoll();
        r.pollAnswered(beforeRenewal, answer(true));
      } else if (sleeps <= 9) {
        // A poll held since before the renewal answers late: its renewNow was for the old certificate.
        r.pollAnswered(beforeRenewal as CarriedHeartbeat, answer(true));
      } else if (sleeps === 10) r.pollAnswered(r.heartbeatForPoll(), undefined); // a hub that answers none
      if (sleeps >= 16) controller.abort(new Error('done'));
      await sleep(ms, signal);
    };
    runtime = await createAgentRuntime({
      store,
      log: pino({ level: 'silent' }),
      heartbeatIntervalMs: 30_000,
      signal: controller.signal,
      clock,
      onEvent: (e) => events.push({ ...e, at: clock.t }),
    });
    const heartbeats = () => hub.seen.filter((s) => s.path === agentPaths.heartbeat('edge-1')).length;
    await runtime.run();
    const renewals = events.filter((e) => e.type === 'renewed');
    assert.equal(renewals.length, 1, 'renewed once: the late answers named the old certificate');
    assert.notEqual(certificateInfo(runtime.credentials.certPem).serial, certificateInfo(creds.certPem).serial);
    const ownBeats = events.filter((e) => e.type === 'heartbeat');
    // One before the first poll answered; none while polls answered (9 sleeps of about 30 s);
    // after the polls went silent, heartbeats again once two intervals passed.
    assert.equal(ownBeats.length, heartbeats());
    assert.ok(ownBeats.length >= 3, `heartbeats came back: ${ownBeats.length}`);
    const firstBack = ownBeats[1] as (typeof ownBeats)[number];
    const silentFrom = (ownBeats[0] as (typeof ownBeats)[number]).at;
    assert.ok(
      firstBack.at - silentFrom >= 9 * 24_000,
      `no heartbeat of its own while polls answered (${firstBack.at - silentFrom} ms)`,
    );
  });

  test('a poll answer naming a new CA bundle has it fetched at once; a poll refused for the credentials makes the loop heartbeat at once', async () => {
    const hub = await fakeHub();
    const { store } = await setup(hub);
    const next = await createTestCa('next hub CA');
    const clock = fakeClock();
    const controller = new AbortController();
    const events: AgentEvent[] = [];
    let runtime: AgentRuntime | undefined;
    let sleeps = 0;
    const sleep = clock.sleep;
    clock.sleep = async (ms, signal) => {
      sleeps++;
      const r = runtime as AgentRuntime;
      if (sleeps === 1) {
        // After the first heartbeat of its own, the hub's bundle changes; a poll says so.
        hub.bundle = ca.certPem + next.certPem;
        r.pollAnswered(r.heartbeatForPoll(), {
          cluster: 'edge-1',
          caBundleHash: hashOf(hub.bundle),
          renewNow: false,
          serverTime: '',
        });
      } else if (sleeps === 3) {
        r.pollFailed(Object.assign(new Error('revoked'), { code: 'AGENT_CERT_REVOKED' }));
      } else if (sleeps >= 4) controller.abort(new Error('done'));
      try {
        await sleep(ms, signal);
      } catch (err) {
        if (!controller.signal.aborted) woken.push(sleeps);
        throw err;
      }
    };
    const woken: number[] = [];
    runtime = await createAgentRuntime({
      store,
      log: pino({ level: 'silent' }),
      heartbeatIntervalMs: 30_000,
      signal: controller.signal,
      clock,
      onEvent: (e) => events.push(e),
    });
    await runtime.run();
    const kinds = events.map((e) => e.type);
    assert.deepEqual(kinds, ['heartbeat', 'ca-bundle-updated', 'heartbeat'], JSON.stringify(kinds));
    assert.equal((await store.load()).credentials?.caBundlePem, hub.bundle);
    // Both woke the loop: the sleeps they came in were cut short.
    assert.deepEqual(woken, [1, 3]);
    assert.equal(hub.seen.filter((x) => x.path === agentPaths.heartbeat('edge-1')).length, 2);
  });

  test('unionBundle keeps each CA once', async () => {
    const other = await createTestCa('other');
    const u = unionBundle(ca.certPem, ca.certPem + other.certPem);
    assert.equal(u.match(/BEGIN CERTIFICATE/g)?.length, 2);
  });
});
