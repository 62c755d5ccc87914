import assert from 'node:assert/strict';
import { resolve } from 'node:path';
import { describe, test } from 'node:test';
import { durations } from '@outpost/shared';
import { AgentError } from '../errors.ts';
import {
  type JoinConfig,
  type LeaveConfig,
  loadJoinConfig,
  loadLeaveConfig,
  loadRunConfig,
  parseHubUrl,
  type RunConfig,
} from './index.ts';

const hash = `sha256:${'ab'.repeat(32)}`;
const hash2 = `sha256:${'cd'.repeat(32)}`;
const token = 'abcdef.0123456789abcdef';
const base = [
  '--hub',
  'https://hub.example.com:8443',
  '--token',
  token,
  '--ca-cert-hash',
  hash,
  '--cluster-name',
  'store-1',
];

function join(argv: string[], env: Record<string, string> = {}): JoinConfig {
  const c = loadJoinConfig(argv, env);
  assert.notEqual(c, 'help');
  return c as JoinConfig;
}

function run(argv: string[], env: Record<string, string> = {}): RunConfig {
  const c = loadRunConfig(argv, env);
  assert.notEqual(c, 'help');
  return c as RunConfig;
}

function rejects(fn: () => unknown, pattern: RegExp) {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof AgentError);
    assert.equal(err.code, 'AGENT_CONFIG_INVALID');
    assert.equal(err.exitCode, 2);
    assert.match(err.message, pattern);
    return true;
  });
}

describe('join config', () => {
  test('defaults', () => {
    const c = join(base, {});
    assert.equal(c.hubUrl, 'https://hub.example.com:8443');
    assert.deepEqual(c.caCertHashes, [hash]);
    assert.equal(c.timeoutMs, durations.joinTimeoutMs);
    assert.deepEqual(c.credentials, { kind: 'dir', dir: resolve('./.outpost-agent') });
    assert.equal(c.recover, false);
    assert.equal(c.overwrite, false);
    assert.equal(c.logLevel, 'warn');
    assert.ok(Object.isFrozen(c));
    assert.ok(Object.isFrozen(c.labels));
  });

  test('environment fills in, flags win over environment', () => {
    const env = {
      OUTPOST_AGENT_HUB: 'https://env-hub:9443',
      OUTPOST_AGENT_TOKEN: token,
      OUTPOST_AGENT_CA_CERT_HASH: `${hash},${hash2}`,
      OUTPOST_AGENT_CLUSTER_NAME: 'from-env',
      OUTPOST_AGENT_LABELS: 'env=prod',
      OUTPOST_AGENT_TIMEOUT: '2m',
      OUTPOST_LOG_LEVEL: 'debug',
    };
    const fromEnv = join([], env);
    assert.equal(fromEnv.hubUrl, 'https://env-hub:9443');
    assert.equal(fromEnv.clusterName, 'from-env');
    assert.deepEqual(fromEnv.caCertHashes, [hash, hash2]);
    assert.deepEqual(fromEnv.labels, { env: 'prod' });
    assert.equal(fromEnv.timeoutMs, 120_000);
    assert.equal(fromEnv.logLevel, 'debug');

    const flags = join(
      ['--cluster-name', 'from-flag', '--ca-cert-hash', hash2, '--timeout', '30s', '--labels', 'a=b'],
      env,
    );
    assert.equal(flags.clusterName, 'from-flag');
    assert.deepEqual(flags.caCertHashes, [hash2]);
    assert.equal(flags.timeoutMs, 30_000);
    assert.deepEqual(flags.labels, { a: 'b' });
  });

  test('repeatable and comma-separated pins, normalised to lower case', () => {
    const c = join([...base, '--ca-cert-hash', `${hash2.toUpperCase().replace('SHA256', 'sha256')},${hash}`]);
    assert.deepEqual(c.caCertHashes, [hash, hash2]);
  });

  test('credential store: flags outrank environment as a whole; in-cluster default', () => {
    assert.deepEqual(join([...base, '--kubeconfig', 'kc.yaml', '--namespace', 'edge']).credentials, {
      kind: 'secret',
      kubeconfig: resolve('kc.yaml'),
      namespace: 'edge',
      secretName: 'outpost-agent-credentials',
    });
    assert.deepEqual(join([...base, '--credentials-dir', 'd'], { OUTPOST_AGENT_KUBECONFIG: 'kc' }).credentials, {
      kind: 'dir',
      dir: resolve('d'),
    });
    assert.deepEqual(join(base, { KUBERNETES_SERVICE_HOST: '10.0.0.1' }).credentials, {
      kind: 'secret',
      kubeconfig: undefined,
      inCluster: { host: '10.0.0.1', port: undefined, serviceAccountDir: undefined },
      namespace: 'outpost-agent',
      secretName: 'outpost-agent-credentials',
    });
    rejects(() => join([...base, '--kubeconfig', 'a', '--credentials-dir', 'b']), /not both/);
  });

  test('bad input gives AGENT_CONFIG_INVALID with a plain message', () => {
    rejects(() => join(base.filter((_, i) => i > 1)), /--hub is required/);
    rejects(() => join([...base, '--hub', 'http://hub']), /https/);
    rejects(() => join([...base, '--hub', 'https://hub/path']), /just https/);
    rejects(() => join([...base, '--token', 'nope']), /ID\.SECRET/);
    rejects(() => join([...base, '--ca-cert-hash', 'md5:abc']), /sha256: followed by 64 hex/);
    rejects(() => join([...base, '--cluster-name', 'Not_A_Label']), /DNS-1123/);
    rejects(() => join([...base, '--labels', 'novalue']), /key=value/);
    rejects(() => join([...base, '--labels', 'bad key=x']), /label key/);
    rejects(() => join([...base, '--timeout', 'soon']), /--timeout/);
    rejects(() => join([...base, '--log-level', 'loud']), /--log-level/);
    rejects(() => join([...base, '--namespace', 'Bad']), /--namespace/);
    rejects(() => join([...base, '--no-such-flag']), /Unknown option/);
  });

  test('a bad token is never echoed', () => {
    assert.throws(
      () => join([...base, '--token', 'abcdef.0123456789abcdeX']),
      (err: Error) => !err.message.includes('0123456789abcdeX'),
    );
  });

  test('--help', () => {
    assert.equal(loadJoinConfig(['--help'], {}), 'help');
  });
});

describe('run config', () => {
  const only = ['--heartbeat-only'];
  test('defaults and precedence', () => {
    const c = run(only, {});
    assert.equal(c.heartbeatIntervalMs, durations.heartbeatMs);
    assert.equal(c.logLevel, 'info');
    assert.equal(run(only, { OUTPOST_AGENT_HEARTBEAT_INTERVAL: '5s' }).heartbeatIntervalMs, 5_000);
    assert.equal(
      run([...only, '--heartbeat-interval', '500ms'], { OUTPOST_AGENT_HEARTBEAT_INTERVAL: '5s' }).heartbeatIntervalMs,
      500,
    );
    rejects(() => run([...only, '--heartbeat-interval', '1ms']), /--heartbeat-interval/);
    rejects(() => run(['--token', token]), /Unknown option/);
    assert.equal(c.revokedGraceMs, 30_000);
    assert.equal(run(only, { OUTPOST_AGENT_REVOKED_GRACE: '2m' }).revokedGraceMs, 120_000);
    assert.equal(run([...only, '--revoked-grace', '1s'], { OUTPOST_AGENT_REVOKED_GRACE: '2m' }).revokedGraceMs, 1_000);
    rejects(() => run([...only, '--revoked-grace', 'soon']), /--revoked-grace/);
  });

  test('without a cluster (credentials in files) it runs only when told --heartbeat-only', () => {
    rejects(() => run([], {}), /no cluster to deliver work to.*--heartbeat-only/s);
    rejects(() => run(['--credentials-dir', '/tmp/x']), /credentials are in files \(\/tmp\/x\)/);
    assert.equal(run(['--credentials-dir', '/tmp/x', '--heartbeat-only']).heartbeatOnly, true);
    assert.equal(run(['--credentials-dir', '/tmp/x'], { OUTPOST_AGENT_HEARTBEAT_ONLY: 'true' }).heartbeatOnly, true);
    rejects(() => run(['--credentials-dir', '/tmp/x'], { OUTPOST_AGENT_HEARTBEAT_ONLY: 'yes' }), /true or false/);
    const withCluster = run(['--kubeconfig', 'kc']);
    assert.equal(withCluster.heartbeatOnly, false);
    assert.equal(run(['--kubeconfig', 'kc', '--heartbeat-only']).heartbeatOnly, true, 'with a cluster: delivery off');
  });
});

test('parseHubUrl keeps the origin only', () => {
  assert.equal(parseHubUrl('https://Hub.Example.com:443/'), 'https://hub.example.com');
  assert.equal(parseHubUrl('https://[::1]:8443'), 'https://[::1]:8443');
});

describe('join --install and leave', () => {
  test('--install needs --kubeconfig; --image and --wait need --install', () => {
    assert.equal(join(base).install, undefined);
    rejects(() => join([...base, '--install']), /--install needs --kubeconfig/);
    rejects(() => join([...base, '--install', '--credentials-dir', '/tmp/x']), /--install needs --kubeconfig/);
    rejects(() => join([...base, '--image', 'r/a:1']), /need --install/);
    rejects(() => join([...base, '--wait=false']), /need --install/);
    const c = join([...base, '--install', '--kubeconfig', 'kc', '--image', 'registry.example.com/a:1', '--wait=false']);
    assert.deepEqual(c.install, { image: 'registry.example.com/a:1', wait: false });
    assert.deepEqual(join([...base, '--install', '--kubeconfig', 'kc']).install, { image: undefined, wait: true });
    rejects(
      () => join([...base, '--install', '--kubeconfig', 'kc', '--wait', 'maybe']),
      /--wait must be true or false/,
    );
    rejects(() => join([...base, '--install', '--kubeconfig', 'kc', '--image', 'a b']), /--image must be/);
  });

  test('leave needs a kubeconfig and takes the namespace', () => {
    rejects(() => loadLeaveConfig([], {}), /--kubeconfig is required/);
    const c = loadLeaveConfig(['--kubeconfig', 'kc', '--delete-namespace'], { OUTPOST_AGENT_NAMESPACE: 'edge' });
    assert.notEqual(c, 'help');
    const l = c as LeaveConfig;
    assert.equal(l.kubeconfig, resolve('kc'));
    assert.equal(l.namespace, 'edge');
    assert.equal(l.deleteNamespace, true);
    assert.equal(l.deleteWorkloads, false, 'works keep their objects unless told');
    assert.equal(l.timeoutMs, 5 * 60_000);
    const w = loadLeaveConfig(['--kubeconfig', 'kc', '--delete-workloads', '--timeout', '90s'], {}) as LeaveConfig;
    assert.equal(w.deleteWorkloads, true);
    assert.equal(w.timeoutMs, 90_000);
    rejects(() => loadLeaveConfig(['--kubeconfig', 'kc', '--timeout', 'soon'], {}), /--timeout/);
    rejects(() => loadLeaveConfig(['--kubeconfig', 'kc', '--namespace', 'Bad_NS'], {}), /DNS-1123/);
    assert.equal(loadLeaveConfig(['--help'], {}), 'help');
  });
});
