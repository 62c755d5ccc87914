// `outpost-agent join` and `run` as real processes against a real hub process: pinned
// discovery, auto-approval, waiting for an admin, a wrong pin, idempotent re-runs, a hub
// restart mid-join, recovery, and certificate renewal in a running agent.
import assert from 'node:assert/strict';
import { createHash, X509Certificate } from 'node:crypto';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { runAgent, startAgent } from './agent-process.ts';
import { type HubProcess, httpsRequest, type Response, startHub } from './hub-process.ts';

let scratch: string;
before(async () => {
  scratch = await mkdtemp(join(tmpdir(), 'outpost-join-e2e-'));
});
after(() => rm(scratch, { recursive: true, force: true }));

let dirs = 0;
const credsDir = () => join(scratch, `creds-${++dirs}`);

async function admin(hub: HubProcess, method: string, path: string, body?: unknown): Promise<Response> {
  const token = (await readFile(join(hub.dataDir, 'admin.token'), 'utf8')).trim();
  const res = await httpsRequest(`${hub.url}${path}`, {
    ca: hub.caCertPem,
    method,
    headers: {
      authorization: `Bearer ${token}`,
      ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
    },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  assert.ok(res.status < 300, `${method} ${path}: ${res.status} ${res.body}`);
  return res;
}

async function createToken(hub: HubProcess, spec: Record<string, unknown>): Promise<{ id: string; token: string }> {
  const res = await admin(hub, 'POST', '/api/v1/bootstraptokens', { ttl: '1h', ...spec });
  const body = res.json<{ metadata: { name: string }; status: { token: string } }>();
  return { id: body.metadata.name, token: body.status.token };
}

async function tokenUsage(hub: HubProcess, id: string): Promise<number> {
  return (await admin(hub, 'GET', `/api/v1/bootstraptokens/${id}`)).json<{ status: { usageCount: number } }>().status
    .usageCount;
}

interface ClusterView {
  status: {
    lastSeen?: string;
    certificate?: { serial: string };
    conditions: { type: string; status: string; reason: string }[];
  };
}
const workDelivery = (c: ClusterView | undefined) => c?.status.conditions.find((x) => x.type === 'WorkDelivery');

async function getCluster(hub: HubProcess, name: string): Promise<ClusterView | undefined> {
  const token = (await readFile(join(hub.dataDir, 'admin.token'), 'utf8')).trim();
  const res = await httpsRequest(`${hub.url}/api/v1/clusters/${name}`, {
    ca: hub.caCertPem,
    headers: { authorization: `Bearer ${token}` },
  });
  if (res.status === 404) return undefined;
  assert.equal(res.status, 200, res.body);
  return res.json<ClusterView>();
}

function joinArgs(hub: HubProcess, token: string, name: string, dir: string, extra: string[] = []): string[] {
  return [
    'join',
    '--hub',
    hub.url,
    '--token',
    token,
    '--ca-cert-hash',
    hub.caHash,
    '--cluster-name',
    name,
    '--credentials-dir',
    dir,
    '--timeout',
    '60s',
    ...extra,
  ];
}

async function storedSerial(dir: string): Promise<string> {
  return new X509Certificate(await readFile(join(dir, 'tls.crt'), 'utf8')).serialNumber.toLowerCase();
}

/** Bounded poll: resolves with the first truthy value of `probe`. */
async function waitFor<T>(what: string, probe: () => Promise<T | undefined | false>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe().catch(() => undefined);
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('outpost-agent join (real hub, real agent processes)', { timeout: 240_000 }, () => {
  let hub: HubProcess;
  before(async () => {
    hub = await startHub();
  });
  after(() => hub?.stop());

  test('(a) an auto-approving token joins at once; credentials stored with tight modes', async () => {
    const { token } = await createToken(hub, { autoApprove: true });
    const dir = credsDir();
    const res = await runAgent(joinArgs(hub, token, 'auto-1', dir, ['--labels', 'site=berlin', '--claims', 'rack=r7']));
    assert.equal(res.code, 0, res.stderr);
    assert.match(res.stdout, /cluster auto-1 joined hub https:\/\/127\.0\.0\.1:\d+; certificate expires \d{4}-/);
    assert.equal((await stat(dir)).mode & 0o777, 0o700);
    for (const f of ['tls.key', 'tls.crt', 'ca.crt', 'hub.json']) {
      assert.equal((await stat(join(dir, f))).mode & 0o777, 0o600, f);
    }
    const hubJson = JSON.parse(await readFile(join(dir, 'hub.json'), 'utf8'));
    assert.equal(hubJson.hubUrl, hub.url);
    assert.equal(hubJson.clusterName, 'auto-1');
    assert.equal(hubJson.caCertHash, hub.caHash);
    const cert = new X509Certificate(await readFile(join(dir, 'tls.crt'), 'utf8'));
    assert.match(cert.subject, /CN=outpost:cluster:auto-1/);
    // The private key never left: the hub's record of the certificate is for our key.
    const cluster = await getCluster(hub, 'auto-1');
    assert.equal(cluster?.status.certificate?.serial, cert.serialNumber.toLowerCase());
    assert.ok(cluster?.status.lastSeen, 'the proving heartbeat reached the hub');
  });

  test('(b) a pending join waits with progress lines until an admin approves', async () => {
    const { token } = await createToken(hub, {});
    const dir = credsDir();
    const agent = startAgent(joinArgs(hub, token, 'pending-1', dir));
    await agent.waitForOutput(
      /waiting for approval of cluster pending-1 \(\S+\): on the hub run `outpost-hub cluster approve pending-1`/,
    );
    // A second line about 10 s later: progress keeps coming while it waits.
    await waitFor(
      'a second progress line',
      async () => (agent.stderr().match(/waiting for approval/g) ?? []).length >= 2,
      20_000,
    );
    await admin(hub, 'POST', '/api/v1/clusters/pending-1/approve');
    const res = await agent.exited(30_000);
    assert.equal(res.code, 0, res.stderr);
    assert.match(res.stdout, /cluster pending-1 joined hub/);
    assert.ok(await storedSerial(dir));
  });

  test('(c) a wrong --ca-cert-hash stops before anything is sent', async () => {
    const { id, token } = await createToken(hub, { autoApprove: true });
    const wrong = `sha256:${'0'.repeat(64)}`;
    const dir = credsDir();
    const args = joinArgs(hub, token, 'impostor-1', dir);
    args[args.indexOf(hub.caHash)] = wrong;
    const res = await runAgent(args);
    assert.equal(res.code, 1);
    assert.match(res.stderr, /AGENT_CA_PIN_MISMATCH/);
    assert.ok(
      res.stderr.includes(`presented CA ${hub.caHash}; you pinned ${wrong}: wrong --hub or an impostor`),
      res.stderr,
    );
    assert.equal(await getCluster(hub, 'impostor-1'), undefined, 'no registration was created');
    assert.equal(await tokenUsage(hub, id), 0, 'the token was not used');
    await assert.rejects(stat(dir), /ENOENT/);
  });

  test('(d) joining twice says "already joined" and does not use the token', async () => {
    const { id, token } = await createToken(hub, { autoApprove: true, usageLimit: 2 });
    const dir = credsDir();
    assert.equal((await runAgent(joinArgs(hub, token, 'twice-1', dir))).code, 0);
    const serial = await storedSerial(dir);
    assert.equal(await tokenUsage(hub, id), 1);

    const again = await runAgent(joinArgs(hub, token, 'twice-1', dir));
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stdout, /already joined/);
    assert.equal(await tokenUsage(hub, id), 1, 'the second run did not use the token');
    assert.equal(await storedSerial(dir), serial, 'credentials untouched');

    // The unused use is still there for another cluster.
    const other = await runAgent(joinArgs(hub, token, 'twice-2', credsDir()));
    assert.equal(other.code, 0, other.stderr);
    assert.equal(await tokenUsage(hub, id), 2);

    // Another cluster name over the same credentials is refused without --overwrite.
    const elsewhere = await runAgent(joinArgs(hub, token, 'twice-3', dir));
    assert.equal(elsewhere.code, 1);
    assert.match(elsewhere.stderr, /AGENT_ALREADY_JOINED_ELSEWHERE/);
    assert.equal(await storedSerial(dir), serial);
  });

  test('token errors quote the hub; usage errors exit 2', async () => {
    const { id, token } = await createToken(hub, { autoApprove: true });
    await admin(hub, 'DELETE', `/api/v1/bootstraptokens/${id}`);
    const revoked = await runAgent(joinArgs(hub, token, 'revoked-1', credsDir()));
    assert.equal(revoked.code, 1);
    assert.match(revoked.stderr, /the hub refused to register cluster revoked-1: .*revoked.*\(HUB_TOKEN_REVOKED\)/);

    const usage = await runAgent(['join', '--hub', hub.url]);
    assert.equal(usage.code, 2);
    assert.match(usage.stderr, /--token is required .*\(AGENT_CONFIG_INVALID\)\nRun 'outpost-agent join --help'/);
  });

  test('a join that timed out while pending resumes the same registration without the token', async () => {
    const { id, token } = await createToken(hub, {});
    const dir = credsDir();
    const args = joinArgs(hub, token, 'resume-1', dir);
    args[args.indexOf('60s')] = '2s';
    const first = await runAgent(args);
    assert.equal(first.code, 1);
    assert.match(
      first.stderr,
      /timed out after 2s waiting for approval of cluster resume-1.*run this command again.*\(AGENT_JOIN_TIMEOUT\)/,
    );
    assert.equal(await tokenUsage(hub, id), 1);
    await admin(hub, 'POST', '/api/v1/clusters/resume-1/approve');
    const second = await runAgent(joinArgs(hub, token, 'resume-1', dir));
    assert.equal(second.code, 0, second.stderr);
    assert.match(
      second.stderr,
      /resuming the pending registration of cluster resume-1 \(the token is not used again\)/,
    );
    assert.equal(await tokenUsage(hub, id), 1, 'the token was used once, by the first run');
    await assert.rejects(stat(join(dir, 'pending.json')), /ENOENT/);
  });

  test('--recover replaces the credentials with a new key; a running agent follows', async () => {
    const { token } = await createToken(hub, { autoApprove: true });
    const dir = credsDir();
    assert.equal((await runAgent(joinArgs(hub, token, 'recover-1', dir))).code, 0);
    const oldKey = await readFile(join(dir, 'tls.key'), 'utf8');
    const oldSerial = await storedSerial(dir);
    // Without a cluster, `run` refuses unless told --heartbeat-only: works would not be applied.
    const refused = await runAgent(['run', '--credentials-dir', dir]);
    assert.equal(refused.code, 2, refused.stderr);
    assert.match(refused.stderr, /AGENT_CONFIG_INVALID/);
    assert.match(refused.stderr, /no cluster to deliver work to.*--heartbeat-only/s);
    const agent = startAgent(['run', '--heartbeat-only', '--credentials-dir', dir, '--heartbeat-interval', '300ms']);
    try {
      await agent.waitForOutput(/serving cluster recover-1 for hub/);
      // The hub tells it apart from a cluster that applies works.
      const shown = await waitFor('the hub shows WorkDelivery', async () =>
        workDelivery(await getCluster(hub, 'recover-1')),
      );
      assert.deepEqual([shown.status, shown.reason], ['False', 'HeartbeatOnly']);
      const recovery = (await admin(hub, 'POST', '/api/v1/clusters/recover-1/recover', {})).json<{ token: string }>();
      const res = await runAgent(joinArgs(hub, recovery.token, 'recover-1', dir, ['--recover']));
      assert.equal(res.code, 0, res.stderr);
      assert.notEqual(await readFile(join(dir, 'tls.key'), 'utf8'), oldKey, 'a new key');
      const newSerial = await storedSerial(dir);
      assert.notEqual(newSerial, oldSerial);
      // The running agent's old certificate is revoked; it picks the new one up from the store.
      await agent.waitForOutput(/the stored credentials were replaced by another process/, 20_000);
      const seen = (await getCluster(hub, 'recover-1'))?.status.lastSeen ?? '';
      await waitFor('a heartbeat with the recovered certificate', async () => {
        const now = (await getCluster(hub, 'recover-1'))?.status.lastSeen ?? '';
        return now > seen;
      });
    } finally {
      const res = await agent.stop();
      assert.equal(res.code, 0, res.stderr);
    }
  });

  test('a running agent whose cluster is denied stops with AGENT_REVOKED instead of retrying for ever', async () => {
    const { token } = await createToken(hub, { autoApprove: true });
    const dir = credsDir();
    assert.equal((await runAgent(joinArgs(hub, token, 'denied-1', dir))).code, 0);
    const agent = startAgent([
      'run',
      '--heartbeat-only',
      '--credentials-dir',
      dir,
      '--heartbeat-interval',
      '300ms',
      '--revoked-grace',
      '2s',
    ]);
    try {
      await agent.waitForOutput(/serving cluster denied-1 for hub/);
      await waitFor('a heartbeat', async () => (await getCluster(hub, 'denied-1'))?.status.lastSeen);
      assert.equal((await admin(hub, 'POST', '/api/v1/clusters/denied-1/deny', {})).status, 200);
      const res = await agent.exited(30_000);
      assert.equal(res.code, 1, res.stderr);
      assert.match(res.stderr, /the hub revoked this cluster's certificate \(denied\); the agent stops/);
      assert.match(res.stderr, /outpost-hub cluster recover denied-1/);
      assert.match(res.stderr, /AGENT_REVOKED/);
    } finally {
      if (agent.proc.exitCode === null) await agent.stop();
    }
  });
});

describe('join survives a hub restart while waiting for approval', { timeout: 120_000 }, () => {
  test('the registration id outlives the hub process; join resumes polling', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'outpost-join-restart-'));
    let hub = await startHub({ dataDir });
    const port = hub.port;
    try {
      const { token } = await createToken(hub, {});
      const dir = credsDir();
      const agent = startAgent(joinArgs(hub, token, 'restart-1', dir));
      await agent.waitForOutput(/waiting for approval of cluster restart-1/);
      await hub.stop({ keepDataDir: true });
      await agent.waitForOutput(/cannot reach the hub/, 20_000);
      hub = await startHub({ dataDir, args: ['--listen', `127.0.0.1:${port}`] });
      await admin(hub, 'POST', '/api/v1/clusters/restart-1/approve');
      const res = await agent.exited(60_000);
      assert.equal(res.code, 0, res.stderr);
      assert.match(res.stdout, /cluster restart-1 joined/);
    } finally {
      await hub.stop();
      await rm(dataDir, { recursive: true, force: true });
    }
  });
});

describe('outpost-agent run renews a short-lived certificate in place', { timeout: 120_000 }, () => {
  let hub: HubProcess;
  before(async () => {
    hub = await startHub({ args: ['--cert-validity', '15s'] });
  });
  after(() => hub?.stop());

  test('(e) new key and serial stored, heartbeats continue, same process', async () => {
    const { token } = await createToken(hub, { autoApprove: true });
    const dir = credsDir();
    assert.equal((await runAgent(joinArgs(hub, token, 'renew-1', dir))).code, 0);
    const firstSerial = await storedSerial(dir);
    const firstKey = await readFile(join(dir, 'tls.key'), 'utf8');
    const firstNotAfter = Date.parse(new X509Certificate(await readFile(join(dir, 'tls.crt'), 'utf8')).validTo);

    const agent = startAgent(['run', '--heartbeat-only', '--credentials-dir', dir, '--heartbeat-interval', '500ms']);
    try {
      await agent.waitForOutput(/serving cluster renew-1 for hub/);
      // 15 s certificates renew when 3-4.5 s remain: within ~12 s of the join.
      const secondSerial = await waitFor(
        'a renewed certificate in the store',
        async () => {
          const s = await storedSerial(dir);
          return s !== firstSerial ? s : undefined;
        },
        30_000,
      );
      assert.notEqual(await readFile(join(dir, 'tls.key'), 'utf8'), firstKey, 'renewal uses a new key');
      assert.equal((await stat(join(dir, 'tls.key'))).mode & 0o777, 0o600);
      await agent.waitForOutput(/"msg":"certificate renewed"/);

      // Heartbeats continue on the new certificate past the old one's expiry: the live
      // dispatcher was swapped (the hub refuses expired client certificates).
      await waitFor(
        'the hub to record the renewed serial',
        async () => (await getCluster(hub, 'renew-1'))?.status.certificate?.serial !== firstSerial,
        20_000,
      );
      await waitFor(
        "a heartbeat after the first certificate's expiry",
        async () => {
          const seen = (await getCluster(hub, 'renew-1'))?.status.lastSeen;
          return seen !== undefined && Date.parse(seen) > firstNotAfter + 500;
        },
        30_000,
      );
      assert.ok(secondSerial);
      assert.equal(agent.proc.exitCode, null, 'still the same process');
      assert.doesNotMatch(agent.stdout(), /"level":50/, 'no errors logged');
    } finally {
      const res = await agent.stop();
      assert.equal(res.code, 0, `SIGTERM stops it cleanly: ${res.stderr}`);
    }
  });
});

describe('outpost-agent run follows a hub CA rotation', { timeout: 120_000 }, () => {
  test('new bundle fetched, certificate renewed under the new CA, rotation completes', async () => {
    const hub = await startHub();
    const { token } = await createToken(hub, { autoApprove: true });
    const dir = credsDir();
    assert.equal((await runAgent(joinArgs(hub, token, 'rotate-1', dir))).code, 0);
    const agent = startAgent(['run', '--heartbeat-only', '--credentials-dir', dir, '--heartbeat-interval', '300ms']);
    try {
      await agent.waitForOutput(/serving cluster rotate-1 for hub/);
      const oldBundle = await readFile(join(dir, 'ca.crt'), 'utf8');
      const rotation = (await admin(hub, 'POST', '/api/v1/ca/rotate')).json<{ signing: { hash: string } }>();
      // While the rotation runs, /metrics shows the retiring CA (what a stuck-rotation alert reads).
      assert.match(
        (await admin(hub, 'GET', '/metrics')).body,
        /^outpost_ca_expiry_timestamp_seconds\{role="previous"\} \d+$/m,
      );
      await agent.waitForOutput(/"msg":"CA bundle updated"/, 20_000);
      await agent.waitForOutput(/"reason":"the hub asked for a new certificate"/, 20_000);
      // Every accepted cluster now holds a certificate of the new CA: the hub retires the old one.
      const status = await waitFor('the rotation to complete', async () => {
        const s = (await admin(hub, 'GET', '/api/v1/ca')).json<{ rotation: { state: string }; caBundleHash: string }>();
        return s.rotation.state === 'None' ? s : undefined;
      });
      assert.notEqual(rotation.signing.hash, hub.caHash);
      assert.doesNotMatch((await admin(hub, 'GET', '/metrics')).body, /role="previous"/, 'retired');
      // The agent follows the retirement too (bundle back to one CA) and keeps heartbeating.
      await waitFor('the stored bundle to match the hub', async () => {
        const bundle = await readFile(join(dir, 'ca.crt'), 'utf8');
        return `sha256:${createHash('sha256').update(bundle).digest('hex')}` === status.caBundleHash;
      });
      assert.notEqual(await readFile(join(dir, 'ca.crt'), 'utf8'), oldBundle);
      const seen = (await getCluster(hub, 'rotate-1'))?.status.lastSeen ?? '';
      await waitFor(
        'a heartbeat after the rotation',
        async () => ((await getCluster(hub, 'rotate-1'))?.status.lastSeen ?? '') > seen,
      );
      assert.doesNotMatch(agent.stdout(), /"level":50/, 'no errors logged');
    } finally {
      assert.equal((await agent.stop()).code, 0);
      await hub.stop();
    }
  });
});

describe('credentials in a Secret of a real spoke cluster', { timeout: 180_000 }, () => {
  test('join --kubeconfig stores the Secret (namespace created); run uses it', async () => {
    const { startCluster } = await import('../kube/index.ts');
    const cluster = await startCluster({ name: 'spoke-e2e' });
    const hub = await startHub();
    try {
      const { token } = await createToken(hub, { autoApprove: true });
      const args = joinArgs(hub, token, 'spoke-1', 'unused');
      args.splice(
        args.indexOf('--credentials-dir'),
        2,
        '--kubeconfig',
        cluster.kubeconfigPath,
        '--namespace',
        'outpost-e2e',
      );
      const res = await runAgent(args);
      assert.equal(res.code, 0, res.stderr);
      assert.match(res.stdout, /stored in Secret outpost-e2e\/outpost-agent-credentials/);
      const { CoreV1Api } = await import('@kubernetes/client-node');
      const api = cluster.kubeConfig().makeApiClient(CoreV1Api);
      const secret = await api.readNamespacedSecret({ name: 'outpost-agent-credentials', namespace: 'outpost-e2e' });
      assert.deepEqual(Object.keys(secret.data ?? {}).sort(), ['ca.crt', 'hub.json', 'tls.crt', 'tls.key']);

      const again = await runAgent(args);
      assert.match(again.stdout, /already joined/);

      const agent = startAgent([
        'run',
        '--kubeconfig',
        cluster.kubeconfigPath,
        '--namespace',
        'outpost-e2e',
        '--heartbeat-interval',
        '300ms',
      ]);
      try {
        await agent.waitForOutput(
          /serving cluster spoke-1 for hub .*\n\s+credentials:\s+Secret outpost-e2e\/outpost-agent-credentials/,
        );
        const shown = await waitFor('the hub shows WorkDelivery', async () =>
          workDelivery(await getCluster(hub, 'spoke-1')),
        );
        assert.deepEqual([shown.status, shown.reason], ['True', 'AgentAppliesWork']);
      } finally {
        assert.equal((await agent.stop()).code, 0);
      }
    } finally {
      await hub.stop();
      await cluster.stop();
    }
  });
});
