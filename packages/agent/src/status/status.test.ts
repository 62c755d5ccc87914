// `outpost-agent status` on the file stores: credentials written by join's credential store,
// the state by the real file state store, read back through the command with
// --credentials-dir and printed as JSON and as a table. The running agent's listener is the
// real one (observe/), fed as a running agent feeds it; the hub check and the "not running"
// path use real closed ports.
import assert from 'node:assert/strict';
import { createHash, X509Certificate } from 'node:crypto';
import { mkdtemp, readdir, readFile, readlink, rm, stat } from 'node:fs/promises';
import { createServer } from 'node:http';
import { createServer as createNetServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { caCertHash } from '@outpost/shared';
import pino from 'pino';
import { fileStateDir, statusCommand } from '../cli/status.ts';
import { openCredentialStore } from '../cli/stores.ts';
import { loadStatusConfig, type StatusConfig } from '../config/index.ts';
import { type Credentials, certificateInfo } from '../credentials/index.ts';
import { AgentError } from '../errors.ts';
import { AgentObserver, startListener } from '../observe/index.ts';
import { AgentRuntime } from '../run/index.ts';
import { appliedObjects, report, smallWork } from '../state/contract.ts';
import { FileStateStore } from '../state/files.ts';
import { createTestCa, issueAgentCert, type TestCa } from '../testing/pki.ts';
import { type AgentStatus, checkHub, parseLiveStatus, plannedRenewal, relative } from './index.ts';

const silent = pino({ level: 'silent' });
let root: string;
let ca: TestCa;
let closedUrl: string;

/** A port nothing listens on: bound once, then closed. */
async function closedPort(): Promise<number> {
  const server = createNetServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

before(async () => {
  root = await mkdtemp(join(tmpdir(), 'outpost-agent-status-'));
  ca = await createTestCa('Outpost Test Hub CA');
  closedUrl = `http://127.0.0.1:${await closedPort()}`;
});
after(async () => {
  await rm(root, { recursive: true, force: true });
});

async function credentialsFor(cluster: string, receivedAt?: string): Promise<Credentials> {
  const leaf = await issueAgentCert(ca, cluster);
  const pin = caCertHash(ca.certPem);
  return {
    keyPem: leaf.keyPem,
    certPem: leaf.certPem,
    caBundlePem: ca.certPem,
    hub: {
      hubUrl: 'https://127.0.0.1:1',
      clusterName: cluster,
      caCertHash: pin,
      caCertHashes: [pin],
      joinedAt: '2026-01-01T00:00:00.000Z',
      ...(receivedAt ? { certReceivedAt: receivedAt } : {}),
    },
  };
}

/** Stores `creds` in `dir` the way join does (the same store, the same call). */
async function joinInto(dir: string, creds: Credentials): Promise<void> {
  const { store, close } = openCredentialStore({ kind: 'dir', dir });
  await store.save({ credentials: creds });
  await close();
}

async function runStatus(args: string[]): Promise<string> {
  const config = loadStatusConfig(args, {}) as StatusConfig;
  let out = '';
  const code = await statusCommand(config, silent, {
    stdout: (s) => {
      out += s;
    },
  });
  assert.equal(code, 0);
  return out;
}

/** Every name, link target, size and content hash under `dir`: equal before and after means nothing was written. */
async function tree(dir: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (d: string) => {
    for (const name of (await readdir(d)).sort()) {
      const path = join(d, name);
      const info = await stat(path).catch(() => undefined);
      const link = await readlink(path).catch(() => undefined);
      if (link !== undefined) out.push(`${path} -> ${link}`);
      else if (info?.isDirectory()) {
        out.push(`${path}/ ${info.mtimeMs}`);
        await walk(path);
      } else if (info) {
        const hash = createHash('sha256')
          .update(await readFile(path))
          .digest('hex');
        out.push(`${path} ${info.size} ${info.mtimeMs} ${hash}`);
      }
    }
  };
  await walk(dir);
  return out;
}

describe('status flags', () => {
  test('defaults: table, the run listener default, no hub check', () => {
    const c = loadStatusConfig(['--credentials-dir', '/tmp/x'], {}) as StatusConfig;
    assert.equal(c.output, 'table');
    assert.equal(c.agentUrl, 'http://127.0.0.1:9469');
    assert.equal(c.checkHub, false);
    assert.deepEqual(c.credentials, { kind: 'dir', dir: '/tmp/x' });
  });

  test('flags and environment', () => {
    const c = loadStatusConfig(['-o', 'json', '--agent-url', 'http://10.0.0.1:9000/', '--check-hub'], {
      OUTPOST_AGENT_KUBECONFIG: '/k',
      OUTPOST_AGENT_NAMESPACE: 'edge',
    }) as StatusConfig;
    assert.equal(c.output, 'json');
    assert.equal(c.agentUrl, 'http://10.0.0.1:9000');
    assert.equal(c.checkHub, true);
    assert.equal(c.credentials.kind, 'secret');
    const e = loadStatusConfig([], { OUTPOST_AGENT_URL: 'off', OUTPOST_AGENT_CHECK_HUB: 'true' }) as StatusConfig;
    assert.equal(e.agentUrl, undefined);
    assert.equal(e.checkHub, true);
    assert.equal(loadStatusConfig(['--help'], {}), 'help');
  });

  test('bad values are usage errors (exit 2)', () => {
    for (const args of [
      ['-o', 'wide'],
      ['--agent-url', 'https://127.0.0.1:9469'],
      ['--agent-url', 'http://127.0.0.1:9469/status'],
      ['--agent-url', 'localhost'],
      ['--no-such-flag'],
      ['--kubeconfig', '/k', '--credentials-dir', '/d'],
    ]) {
      assert.throws(
        () => loadStatusConfig(args, {}),
        (err: unknown) => err instanceof AgentError && err.code === 'AGENT_CONFIG_INVALID' && err.exitCode === 2,
        args.join(' '),
      );
    }
  });
});

describe('status on the file stores', () => {
  let dir: string;
  let creds: Credentials;

  before(async () => {
    dir = join(root, 'joined');
    creds = await credentialsFor('store-7', new Date(Date.now() - 3_600_000).toISOString());
    await joinInto(dir, creds);
    // The durable state as the agent's syncer leaves it.
    const state = new FileStateStore(fileStateDir(dir));
    await state.load();
    const web = smallWork('web', 3);
    const db = smallWork('db');
    const gone = { ...smallWork('old'), deleting: true };
    await state.saveDesired({ hubEpoch: 'epoch-1', revision: 12, upsert: [web, db, gone], remove: [] });
    await state.saveLedger(web.uid, appliedObjects(4, 'web'));
    await state.saveLedger(gone.uid, appliedObjects(1, 'old'));
    await state.saveHeldDeletions([
      { workUid: web.uid, objects: appliedObjects(2, 'held'), since: '2026-01-02T00:00:00.000Z' },
    ]);
    const sent = await state.outbox.append({ ...report('web', true), generation: 3 });
    await state.outbox.ack(sent.seq);
    await state.outbox.append(report('old', false));
    await state.savePolledAt('2026-01-02T03:04:05.000Z');
  });

  test('-o json: cluster, hub, certificate, CA bundle, works, outbox, held deletions; nothing written', async () => {
    const before = await tree(dir);
    const st = JSON.parse(
      await runStatus(['--credentials-dir', dir, '-o', 'json', '--agent-url', closedUrl]),
    ) as AgentStatus;
    assert.deepEqual(await tree(dir), before, 'status wrote nothing');

    assert.equal(st.cluster, 'store-7');
    assert.equal(st.hub.url, 'https://127.0.0.1:1');
    assert.equal(st.hub.lastPollAt, '2026-01-02T03:04:05.000Z');
    assert.equal(st.hub.lastPollFrom, 'state');
    assert.equal(st.hub.reachable, null, 'not known without a running agent or --check-hub');
    assert.equal(st.agent.running, false);
    assert.equal(st.agent.url, closedUrl);
    assert.match(st.agent.reason ?? '', /no agent answered at .*ECONNREFUSED/);

    assert.equal(st.credentials.store, `directory ${dir}`);
    assert.equal(st.certificate.serial, new X509Certificate(creds.certPem).serialNumber.toLowerCase());
    assert.equal(st.certificate.expired, false);
    assert.ok(st.certificate.secondsLeft > 0 && st.certificate.secondsLeft <= 24 * 3600);
    assert.equal(st.certificate.renewAt, new Date(plannedRenewal(creds)).toISOString());
    assert.equal(st.caBundle.length, 1);
    assert.equal(st.caBundle[0]?.pin, caCertHash(ca.certPem));
    assert.equal(st.caBundle[0]?.pinnedAtJoin, true);
    assert.match(st.caBundle[0]?.subject ?? '', /CN=Outpost Test Hub CA/);

    assert.equal(st.leader.election, 'off');
    assert.equal(st.state.store, `directory ${fileStateDir(dir)}`);
    assert.equal(st.state.revision, 12);
    assert.equal(st.state.hubEpoch, 'epoch-1');
    assert.equal(st.state.problem, null);

    assert.deepEqual(
      st.works.map((w) => [w.name, w.generation, w.uid, w.state, w.objects, w.heldDeletions]),
      [
        ['db', 1, 'uid-db', 'pending', null, 0],
        ['old', 1, 'uid-old', 'deleting', 1, 0],
        ['web', 3, 'uid-web', 'applied', 4, 2],
      ],
    );
    const old = st.works.find((w) => w.name === 'old');
    assert.deepEqual(old?.unsentReport?.conditions, [{ type: 'Applied', status: 'False', reason: 'ApplyFailed' }]);
    assert.equal(st.works.find((w) => w.name === 'web')?.unsentReport, null, 'its report was acknowledged');
    assert.equal(st.outbox.depth, 1);
    assert.equal(st.outbox.liveDepth, null);
    assert.ok((st.outbox.acked ?? 0) > 0);
    assert.deepEqual(st.heldDeletions, [
      { work: 'web', workUid: 'uid-web', objects: 2, since: '2026-01-02T00:00:00.000Z' },
    ]);
  });

  test('-o table shows the same facts readably; -o yaml parses to the same object', async () => {
    const table = await runStatus(['--credentials-dir', dir, '--agent-url', closedUrl]);
    assert.match(table, /^Cluster: +store-7$/m);
    assert.match(table, /^Hub: +https:\/\/127\.0\.0\.1:1$/m);
    assert.match(table, /last poll: +2026-01-02T03:04:05\.000Z \(.* ago; as stored, saved at most every 5 minutes\)$/m);
    assert.match(table, new RegExp(`^Agent: +not running at ${closedUrl}`, 'm'));
    assert.match(table, /^Certificate: +serial [0-9a-f]+, outpost:cluster:store-7/m);
    assert.match(table, /renews after: +\S+ \(in \d+[smhd]\)/);
    assert.match(table, /^CA bundle: +1 CA$/m);
    assert.match(table, new RegExp(`${caCertHash(ca.certPem)} \\(pinned at join\\), expires`));
    assert.match(table, /^Leader: +off \(no cluster/m);
    assert.match(table, /^Outbox: +1 report waiting to be sent/m);
    assert.match(
      table,
      /^Held deletions: +2 object\(s\), waiting for `outpost-hub cluster confirm-deletions store-7`/m,
    );
    assert.match(table, /^Works \(3\):$/m);
    assert.match(table, /^NAME +GENERATION +OBJECTS +STATE +STATUS REPORT +UID$/m);
    assert.match(table, /^web +3 +4 +applied, 2 deletion\(s\) held +sent +uid-web$/m);
    assert.match(table, /^old +1 +1 +deleting, 1 object\(s\) to go +waiting: Applied=False +uid-old$/m);
    assert.match(table, /^db +1 +- +not applied yet +- +uid-db$/m);

    const { parse } = await import('yaml');
    const fromYaml = parse(
      await runStatus(['--credentials-dir', dir, '-o', 'yaml', '--agent-url', 'off']),
    ) as AgentStatus;
    assert.equal(fromYaml.cluster, 'store-7');
    assert.equal(fromYaml.works.length, 3);
    assert.equal(fromYaml.agent.url, null);
  });

  test('a running agent answers live through its real listener; a standby or another agent there does not speak for it', async () => {
    // The listener of `outpost-agent run --listen` itself, fed as the running agent feeds it.
    let now = Date.parse('2026-01-02T23:59:00.000Z');
    const observer = new AgentObserver({ recentMs: 60_000, role: 'leading', now: () => now });
    const identity = { cluster: 'store-7', hubUrl: creds.hub.hubUrl, serial: certificateInfo(creds.certPem).serial };
    observer.use({ identity: () => identity, outboxDepth: () => 5 });
    observer.hubFailed('poll', 'AGENT_HUB_UNREACHABLE', 'cannot reach the hub', 0.1);
    now = Date.parse('2026-01-03T00:00:00.000Z');
    observer.hubAnswered('poll', 30);
    const listener = await startListener(observer, { host: '127.0.0.1', port: 0 });
    const url = listener.url;
    try {
      const st = JSON.parse(
        await runStatus(['--credentials-dir', dir, '-o', 'json', '--agent-url', url]),
      ) as AgentStatus;
      assert.equal(st.agent.running, true);
      assert.deepEqual(st.agent.live, observer.live());
      assert.equal(st.hub.lastPollAt, '2026-01-03T00:00:00.000Z');
      assert.equal(st.hub.lastPollFrom, 'live');
      assert.equal(st.hub.reachable, true);
      assert.equal(st.hub.reachableFrom, 'live');
      assert.equal(st.leader.live, 'leading');
      assert.equal(st.outbox.liveDepth, 5);
      assert.equal(st.outbox.depth, 1, 'the stored depth is kept beside the live one');
      assert.equal(st.state.lastPollAt, '2026-01-02T03:04:05.000Z');

      const table = await runStatus(['--credentials-dir', dir, '--agent-url', url]);
      assert.match(table, new RegExp(`^Agent: +running, answering at ${url} \\(live\\)$`, 'm'));
      assert.match(table, /last poll: +2026-01-03T00:00:00\.000Z \(.*; live\)$/m);
      assert.match(table, /reachable: +yes, connected \(live\)/);
      assert.match(
        table,
        /last error: +AGENT_HUB_UNREACHABLE: cannot reach the hub, 2026-01-02T23:59:00\.000Z \(.*; live\)$/m,
      );
      assert.match(table, /this agent: +leading \(live\)/);
      assert.match(table, /^Outbox: +5 reports waiting to be sent \(live\); 1 stored$/m);

      // A standby (what `kubectl exec ds/...` often reaches) talks to no hub: the hub and the
      // outbox are the stored ones.
      observer.role = 'standby';
      const standby = JSON.parse(
        await runStatus(['--credentials-dir', dir, '-o', 'json', '--agent-url', url]),
      ) as AgentStatus;
      assert.equal(standby.leader.live, 'standby');
      assert.equal(standby.hub.lastPollAt, '2026-01-02T03:04:05.000Z');
      assert.equal(standby.hub.lastPollFrom, 'state');
      assert.equal(standby.hub.reachable, null);
      assert.equal(standby.outbox.liveDepth, null);

      // Another cluster's agent on that address is not this one.
      observer.role = 'leading';
      identity.cluster = 'store-8';
      const other = JSON.parse(
        await runStatus(['--credentials-dir', dir, '-o', 'json', '--agent-url', url]),
      ) as AgentStatus;
      assert.equal(other.agent.running, false);
      assert.match(other.agent.reason ?? '', /serves cluster store-8 .*not this one/);
      assert.equal(other.hub.lastPollFrom, 'state');
    } finally {
      await listener.close();
    }
  });

  test('answers that are not the listener contract are not live', async () => {
    assert.equal(
      parseLiveStatus({
        leader: 'leading',
        cluster: null,
        hubUrl: null,
        serial: null,
        connected: true,
        lastPollAt: null,
        lastError: null,
        outboxDepth: null,
      })?.leader,
      'leading',
    );
    for (const bad of [
      null,
      [],
      { leader: 'boss', connected: true, lastPollAt: null, lastError: null, outboxDepth: 0 },
      { leader: 'off', connected: 'yes', lastPollAt: null, lastError: null, outboxDepth: 0 },
      { leader: 'off', connected: false, lastPollAt: 'yesterday', lastError: null, outboxDepth: 0 },
      { leader: 'off', connected: false, lastPollAt: null, lastError: { code: 'X' }, outboxDepth: 0 },
      { leader: 'off', connected: false, lastPollAt: null, lastError: null, outboxDepth: -1 },
      { leader: 'off', cluster: 7, connected: false, lastPollAt: null, lastError: null, outboxDepth: 0 },
    ]) {
      assert.equal(parseLiveStatus(bad), undefined, JSON.stringify(bad));
    }
    const server = createServer((_req, res) => {
      res.writeHead(404);
      res.end('not here');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
    try {
      const st = JSON.parse(
        await runStatus(['--credentials-dir', dir, '-o', 'json', '--agent-url', url]),
      ) as AgentStatus;
      assert.equal(st.agent.running, false);
      assert.match(st.agent.reason ?? '', /HTTP 404/);
      assert.equal(st.hub.lastPollFrom, 'state');
    } finally {
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });

  test('--check-hub on a hub that does not answer says so, bounded', async () => {
    const down = { ...creds, hub: { ...creds.hub, hubUrl: `https://127.0.0.1:${await closedPort()}` } };
    const check = await checkHub(down, 2_000);
    assert.equal(check.reachable, false);
    assert.equal(check.ready, null);
    assert.equal(check.code, 'AGENT_HUB_UNREACHABLE');
  });
});

describe('status edge cases', () => {
  test('the renewal time is the running agent’s own', async () => {
    for (const received of [undefined, new Date(Date.now() - 6 * 3_600_000).toISOString()]) {
      const creds = await credentialsFor('renew-check', received);
      const { store } = openCredentialStore({ kind: 'dir', dir: join(root, 'unused') });
      const runtime = new AgentRuntime(
        { store, log: silent, heartbeatIntervalMs: 30_000, signal: new AbortController().signal },
        creds,
      );
      try {
        assert.equal(
          new Date(plannedRenewal(creds)).toISOString(),
          runtime.renewAt.toISOString(),
          `received ${received}`,
        );
      } finally {
        await runtime.client.close();
      }
    }
  });

  test('nothing stored: AGENT_NOT_JOINED (exit 1); a pending join is named', async () => {
    const empty = join(root, 'empty');
    const config = loadStatusConfig(['--credentials-dir', empty, '--agent-url', 'off'], {}) as StatusConfig;
    await assert.rejects(
      statusCommand(config, silent, { stdout: () => {} }),
      (err: unknown) =>
        err instanceof AgentError &&
        err.code === 'AGENT_NOT_JOINED' &&
        err.exitCode === 1 &&
        /outpost-agent join/.test(err.message),
    );
    const pendingDir = join(root, 'pending');
    const { store } = openCredentialStore({ kind: 'dir', dir: pendingDir });
    await store.save({
      pending: {
        hubUrl: 'https://hub:8443',
        clusterName: 'rack-9',
        registrationId: 'reg-123',
        keyPem: (await issueAgentCert(ca, 'rack-9')).keyPem,
        createdAt: '2026-01-01T00:00:00.000Z',
      },
    });
    const pendingConfig = loadStatusConfig(['--credentials-dir', pendingDir, '--agent-url', 'off'], {}) as StatusConfig;
    await assert.rejects(
      statusCommand(pendingConfig, silent, { stdout: () => {} }),
      (err: unknown) =>
        err instanceof AgentError &&
        err.code === 'AGENT_NOT_JOINED' &&
        /rack-9 .*waiting for approval \(registration reg-123/.test(err.message),
    );
  });

  test('credentials in files without a state: no works, no outbox, said plainly', async () => {
    const dir = join(root, 'heartbeat-only');
    await joinInto(dir, await credentialsFor('hb-1'));
    const st = JSON.parse(
      await runStatus(['--credentials-dir', dir, '-o', 'json', '--agent-url', 'off']),
    ) as AgentStatus;
    assert.equal(st.state.store, null);
    assert.match(st.state.problem ?? '', /without work delivery/);
    assert.deepEqual(st.works, []);
    assert.equal(st.outbox.depth, null);
    assert.equal(st.hub.lastPollAt, null);
    const table = await runStatus(['--credentials-dir', dir, '--agent-url', 'off']);
    assert.match(table, /^State: +none: credentials in files/m);
    assert.match(table, /^Works: none$/m);
    assert.match(table, /last poll: +unknown \(none stored\)/);
  });

  test('relative times', () => {
    const now = Date.parse('2026-01-10T00:00:00.000Z');
    assert.equal(relative('2026-01-09T23:59:30.000Z', now), '30s ago');
    assert.equal(relative('2026-01-10T00:10:00.000Z', now), 'in 10m');
    assert.equal(relative('2026-01-09T20:00:00.000Z', now), '4h ago');
    assert.equal(relative('2026-02-09T00:00:00.000Z', now), 'in 30d');
    assert.equal(relative(null, now), '-');
  });
});
