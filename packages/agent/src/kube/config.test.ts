// The kubeconfig and in-cluster loader: every supported shape, the refusals, and the
// credentials of each kind against the real kube-apiserver (test/kube).
import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { stringify } from 'yaml';
import { type KubeCluster, startCluster } from '../../../../test/kube/index.ts';
import { KubeConfigRest } from '../apply/rest.ts';
import { type KubeConnection, loadInCluster, loadKubeconfigFile, readCredentials } from './config.ts';

const dir = mkdtempSync(join(tmpdir(), 'outpost-kubeconfig-'));
after(() => rmSync(dir, { recursive: true, force: true }));

let n = 0;
function kubeconfig(
  user: Record<string, unknown>,
  cluster: Record<string, unknown>,
  extra: Record<string, unknown> = {},
) {
  const file = join(dir, `kc-${++n}.yaml`);
  writeFileSync(
    file,
    stringify({
      apiVersion: 'v1',
      kind: 'Config',
      'current-context': 'ctx',
      contexts: [{ name: 'ctx', context: { cluster: 'c', user: 'u', namespace: 'edge' } }],
      clusters: [{ name: 'c', cluster }],
      users: [{ name: 'u', user }],
      ...extra,
    }),
  );
  return file;
}

const code = (c: string) => (err: unknown) => (err as { code?: string }).code === c;

describe('kubeconfig loader', () => {
  test('inline data, trailing slash, namespace, static token', async () => {
    const file = kubeconfig(
      {
        token: 'abc',
        'client-certificate-data': Buffer.from('CERT').toString('base64'),
        'client-key-data': Buffer.from('KEY').toString('base64'),
      },
      { server: 'https://10.0.0.1:6443/', 'certificate-authority-data': Buffer.from('CA').toString('base64') },
    );
    const c = loadKubeconfigFile(file);
    assert.equal(c.server, 'https://10.0.0.1:6443');
    assert.equal(c.ca?.toString(), 'CA');
    assert.equal(c.cert?.toString(), 'CERT');
    assert.equal(c.key?.toString(), 'KEY');
    assert.equal(c.namespace, 'edge');
    assert.equal(c.insecureSkipTlsVerify, false);
    assert.deepEqual(await readCredentials(c), { headers: { authorization: 'Bearer abc' }, validUntil: Infinity });
  });

  test('files relative to the kubeconfig, tokenFile re-read, tls-server-name, insecure', async () => {
    mkdirSync(join(dir, 'pki'), { recursive: true });
    writeFileSync(join(dir, 'pki', 'ca.crt'), 'CAFILE');
    writeFileSync(join(dir, 'pki', 'token'), 'one\n');
    const file = kubeconfig(
      { tokenFile: 'pki/token' },
      {
        server: 'https://h:1',
        'certificate-authority': 'pki/ca.crt',
        'tls-server-name': 'kubernetes',
        'insecure-skip-tls-verify': true,
      },
    );
    const c = loadKubeconfigFile(file);
    assert.equal(c.ca?.toString(), 'CAFILE');
    assert.equal(c.tlsServerName, 'kubernetes');
    assert.equal(c.insecureSkipTlsVerify, true);
    const first = await readCredentials(c, 1000);
    assert.equal(first.headers.authorization, 'Bearer one');
    assert.ok(first.validUntil > 1000 && first.validUntil < Infinity, 'a token file is read again later');
    writeFileSync(join(dir, 'pki', 'token'), 'two\n');
    assert.equal((await readCredentials(c)).headers.authorization, 'Bearer two');
  });

  test('basic auth and no auth', async () => {
    const basic = loadKubeconfigFile(kubeconfig({ username: 'u', password: 'p' }, { server: 'https://h' }));
    assert.equal(
      (await readCredentials(basic)).headers.authorization,
      `Basic ${Buffer.from('u:p').toString('base64')}`,
    );
    const none = loadKubeconfigFile(kubeconfig({}, { server: 'https://h' }));
    assert.deepEqual((await readCredentials(none)).headers, {});
  });

  test('a named context other than the current one', () => {
    const file = kubeconfig(
      {},
      { server: 'https://a' },
      {
        contexts: [
          { name: 'ctx', context: { cluster: 'c', user: 'u' } },
          { name: 'other', context: { cluster: 'd', user: 'u' } },
        ],
        clusters: [
          { name: 'c', cluster: { server: 'https://a' } },
          { name: 'd', cluster: { server: 'https://b' } },
        ],
      },
    );
    assert.equal(loadKubeconfigFile(file).server, 'https://a');
    assert.equal(loadKubeconfigFile(file, 'other').server, 'https://b');
  });

  test('refusals carry AGENT_KUBECONFIG_INVALID and say what is wrong', () => {
    const bad: [string, RegExp][] = [
      [join(dir, 'missing.yaml'), /cannot read it/],
      [kubeconfig({}, { server: 'https://h' }, { 'current-context': 'nope' }), /no context named "nope"/],
      [kubeconfig({}, {}), /has no server/],
      [kubeconfig({ 'auth-provider': { name: 'gcp' } }, { server: 'https://h' }), /auth-provider is not supported/],
      [kubeconfig({}, { server: 'https://h', 'proxy-url': 'http://proxy:3128' }), /proxy-url is not supported/],
      [kubeconfig({ 'client-certificate-data': 'Q0VSVA==' }, { server: 'https://h' }), /needs both/],
      [
        kubeconfig({}, { server: 'https://h', 'certificate-authority': 'nowhere.crt' }),
        /cannot read certificate-authority/,
      ],
      [
        kubeconfig({ exec: { apiVersion: 'client.authentication.k8s.io/v1' } }, { server: 'https://h' }),
        /without a command/,
      ],
    ];
    writeFileSync(join(dir, 'garbage.yaml'), 'just a string');
    bad.push([join(dir, 'garbage.yaml'), /not a mapping/]);
    for (const [file, why] of bad) {
      assert.throws(
        () => loadKubeconfigFile(file),
        (err: unknown) => code('AGENT_KUBECONFIG_INVALID')(err) && why.test((err as Error).message),
        file,
      );
    }
  });

  test('exec plugin: token with expiry, environment and KUBERNETES_EXEC_INFO passed, failures explained', async () => {
    const plugin = join(dir, 'plugin.sh');
    writeFileSync(
      plugin,
      `#!/bin/sh
case "$KUBERNETES_EXEC_INFO" in *ExecCredential*) ;; *) echo "no exec info" >&2; exit 3;; esac
[ "$MODE" = fail ] && { echo "login expired" >&2; exit 1; }
[ "$MODE" = junk ] && { echo "hello"; exit 0; }
printf '{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{"token":"%s","expirationTimestamp":"2030-01-01T00:00:00Z"}}' "$1"
`,
    );
    chmodSync(plugin, 0o755);
    const exec = (mode: string) => ({
      exec: {
        apiVersion: 'client.authentication.k8s.io/v1',
        command: './plugin.sh',
        args: ['tok-1'],
        env: [{ name: 'MODE', value: mode }],
        installHint: 'install the plugin',
      },
    });
    const ok = await readCredentials(loadKubeconfigFile(kubeconfig(exec('ok'), { server: 'https://h' })));
    assert.equal(ok.headers.authorization, 'Bearer tok-1');
    assert.equal(ok.validUntil, Date.parse('2030-01-01T00:00:00Z') - 10_000);
    await assert.rejects(
      readCredentials(loadKubeconfigFile(kubeconfig(exec('fail'), { server: 'https://h' }))),
      (err: unknown) =>
        code('AGENT_KUBE_CREDENTIALS_FAILED')(err) && /login expired\ninstall the plugin/.test((err as Error).message),
    );
    await assert.rejects(
      readCredentials(loadKubeconfigFile(kubeconfig(exec('junk'), { server: 'https://h' }))),
      (err: unknown) =>
        code('AGENT_KUBE_CREDENTIALS_FAILED')(err) && /no usable ExecCredential/.test((err as Error).message),
    );
  });

  test('in-cluster: host and port, IPv6, service-account files, namespace; clear error outside a pod', async () => {
    const sa = join(dir, 'sa');
    mkdirSync(sa, { recursive: true });
    writeFileSync(join(sa, 'token'), 'sa-token\n');
    writeFileSync(join(sa, 'ca.crt'), 'SACA');
    writeFileSync(join(sa, 'namespace'), 'outpost-agent\n');
    const c = loadInCluster({ host: '10.96.0.1', port: '443', serviceAccountDir: sa });
    assert.equal(c.server, 'https://10.96.0.1:443');
    assert.equal(c.ca?.toString(), 'SACA');
    assert.equal(c.namespace, 'outpost-agent');
    assert.equal((await readCredentials(c)).headers.authorization, 'Bearer sa-token');
    assert.equal(loadInCluster({ host: 'fd00::1', serviceAccountDir: sa }).server, 'https://[fd00::1]:443');
    assert.throws(() => loadInCluster({ serviceAccountDir: sa }), /KUBERNETES_SERVICE_HOST is not set/);
    assert.throws(
      () => loadInCluster({ host: 'h', serviceAccountDir: join(dir, 'nothing') }),
      code('AGENT_KUBECONFIG_INVALID'),
    );
  });
});

describe('credentials against a real kube-apiserver', () => {
  let cluster: KubeCluster;
  before(
    async () => {
      cluster = await startCluster({ name: 'agent-kubeconfig' });
    },
    { timeout: 30 * 60_000 },
  );
  after(() => cluster?.stop());

  const get = async (conn: KubeConnection) => {
    const rest = new KubeConfigRest(conn);
    try {
      return (await rest.request({ method: 'GET', path: '/api/v1/namespaces/default' })).status;
    } finally {
      await rest.close();
    }
  };

  test('the test cluster kubeconfig, an exec plugin and a rotated token file all authenticate', async () => {
    assert.equal(await get(loadKubeconfigFile(cluster.kubeconfigPath)), 200);

    const plugin = join(dir, 'admin-plugin.sh');
    writeFileSync(plugin, `#!/bin/sh\nprintf '{"kind":"ExecCredential","status":{"token":"%s"}}' "$TOKEN"\n`);
    chmodSync(plugin, 0o755);
    const base = loadKubeconfigFile(cluster.kubeconfigPath);
    const viaExec: KubeConnection = {
      ...base,
      auth: {
        kind: 'exec',
        exec: {
          apiVersion: 'client.authentication.k8s.io/v1',
          command: plugin,
          args: [],
          env: { TOKEN: cluster.token },
          cwd: dir,
        },
      },
    };
    assert.equal(await get(viaExec), 200);

    // A wrong token first; after the file is rotated the 401 makes the client read it again.
    const tokenFile = join(dir, 'rotating-token');
    writeFileSync(tokenFile, 'stale-token');
    const viaFile: KubeConnection = { ...base, auth: { kind: 'tokenFile', file: tokenFile } };
    const rest = new KubeConfigRest(viaFile);
    try {
      assert.equal((await rest.request({ method: 'GET', path: '/api/v1/namespaces/default' })).status, 401);
      writeFileSync(tokenFile, cluster.token);
      assert.equal((await rest.request({ method: 'GET', path: '/api/v1/namespaces/default' })).status, 200);
    } finally {
      await rest.close();
    }
  });
});
