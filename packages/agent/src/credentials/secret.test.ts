// The Secret store against a real kube-apiserver (test/kube).
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { CoreV1Api } from '@kubernetes/client-node';
import { type KubeCluster, startCluster } from '../../../../test/kube/index.ts';
import { KubeConfigRest } from '../apply/rest.ts';
import { loadKubeconfigFile } from '../kube/config.ts';
import { SecretsClient } from '../kube/secrets.ts';
import { createTestCa, issueAgentCert, type Leaf, sampleCredentials } from '../testing/pki.ts';
import { CredentialStore, type Credentials } from './index.ts';
import { SecretEntryStore } from './secret.ts';

let cluster: KubeCluster;
let api: CoreV1Api;
/** What the stores talk through; `api` (client-node) checks what they wrote, independently. */
let secrets: SecretsClient;
let rest: KubeConfigRest;
let leaf: Leaf;
let next: Leaf;
let caPem: string;

before(
  async () => {
    cluster = await startCluster({ name: 'agent-secret' });
    api = cluster.kubeConfig().makeApiClient(CoreV1Api);
    rest = new KubeConfigRest(loadKubeconfigFile(cluster.kubeconfigPath));
    secrets = new SecretsClient(rest);
    const ca = await createTestCa();
    caPem = ca.certPem;
    leaf = await issueAgentCert(ca, 'store-1');
    next = await issueAgentCert(ca, 'store-1');
  },
  { timeout: 30 * 60_000 },
);
after(async () => {
  await rest?.close();
  await cluster?.stop();
});

const creds = (l: Leaf): Credentials => sampleCredentials(l, caPem);

describe('Secret credential store (real kube-apiserver)', () => {
  test('missing Secret and namespace: nothing stored', async () => {
    const store = new CredentialStore(new SecretEntryStore(secrets, 'never-created', 'outpost-agent-credentials'));
    assert.deepEqual(await store.load(), {});
  });

  test('first save creates the namespace and the Secret; round trip; update', async () => {
    const store = new CredentialStore(new SecretEntryStore(secrets, 'outpost-agent', 'outpost-agent-credentials'));
    await store.save({ credentials: creds(leaf) });
    const ns = await api.readNamespace({ name: 'outpost-agent' });
    assert.equal(ns.metadata?.labels?.['app.kubernetes.io/managed-by'], 'outpost-agent');
    const secret = await api.readNamespacedSecret({ name: 'outpost-agent-credentials', namespace: 'outpost-agent' });
    assert.deepEqual(Object.keys(secret.data ?? {}).sort(), ['ca.crt', 'hub.json', 'tls.crt', 'tls.key']);
    assert.equal(Buffer.from(secret.data?.['tls.crt'] ?? '', 'base64').toString(), leaf.certPem);
    assert.deepEqual((await store.load()).credentials, creds(leaf));

    const before = secret.metadata?.resourceVersion;
    await store.save({ credentials: creds(next) });
    const after = await api.readNamespacedSecret({ name: 'outpost-agent-credentials', namespace: 'outpost-agent' });
    assert.notEqual(after.metadata?.resourceVersion, before);
    assert.equal(after.metadata?.uid, secret.metadata?.uid, 'updated in place, not recreated');
    assert.equal((await store.load()).credentials?.keyPem, next.keyPem);
  });

  test('an existing namespace is used as it is; a pending join is stored next to credentials', async () => {
    await api.createNamespace({ body: { metadata: { name: 'edge-agent' } } });
    const store = new CredentialStore(new SecretEntryStore(secrets, 'edge-agent', 'creds'));
    await store.save({
      credentials: creds(leaf),
      pending: {
        hubUrl: 'https://hub:8443',
        clusterName: 'store-1',
        registrationId: 'abc',
        keyPem: next.keyPem,
        createdAt: 'now',
      },
    });
    const state = await store.load();
    assert.equal(state.pending?.registrationId, 'abc');
    assert.equal(state.pending?.keyPem, next.keyPem);
    assert.equal(state.credentials?.certPem, leaf.certPem);
    const ns = await api.readNamespace({ name: 'edge-agent' });
    assert.equal(ns.metadata?.labels?.['app.kubernetes.io/managed-by'], undefined);
  });

  test('two writers: the second reads the newer resourceVersion instead of failing', async () => {
    const a = new CredentialStore(new SecretEntryStore(secrets, 'race', 'creds'));
    const b = new CredentialStore(new SecretEntryStore(secrets, 'race', 'creds'));
    await Promise.all([a.save({ credentials: creds(leaf) }), b.save({ credentials: creds(next) })]);
    const winner = (await a.load()).credentials?.keyPem;
    assert.ok(winner === leaf.keyPem || winner === next.keyPem);
  });
});
