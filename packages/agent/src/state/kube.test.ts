// The Secret state store against a real kube-apiserver (test/kube): the shared contract,
// plus what only Secrets have (object size limits, labels, spilling the outbox).
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { CoreV1Api } from '@kubernetes/client-node';
import { type KubeCluster, startCluster } from '../../../../test/kube/index.ts';
import { KubeConfigRest } from '../apply/rest.ts';
import { loadKubeconfigFile } from '../kube/config.ts';
import { SecretsClient } from '../kube/secrets.ts';
import { configMapWork, report, type StoreHarness, stateStoreContract, status } from './contract.ts';
import { docSecretNames, KubeStateStore, stateLabel, workUidLabel } from './kube.ts';
import { decodeOutbox } from './model.ts';

let cluster: KubeCluster;
let api: CoreV1Api;
/** What the stores talk through; `api` (client-node) checks what they wrote, independently. */
let secrets: SecretsClient;
let rest: KubeConfigRest;
const figures: Record<string, string> = {};

before(
  async () => {
    cluster = await startCluster({ name: 'agent-state' });
    api = cluster.kubeConfig().makeApiClient(CoreV1Api);
    rest = new KubeConfigRest(loadKubeconfigFile(cluster.kubeconfigPath));
    secrets = new SecretsClient(rest);
  },
  { timeout: 30 * 60_000 },
);
after(async () => {
  await rest?.close();
  await cluster?.stop();
  console.log(
    `\nSecret state store figures (real kube-apiserver):\n${Object.entries(figures)
      .map(([k, v]) => `  ${k}: ${v}`)
      .join('\n')}`,
  );
});

const secretBytes = (data: Record<string, string> | undefined) =>
  Object.values(data ?? {}).reduce((n, v) => n + Buffer.from(v, 'base64').length, 0);

const harness: StoreHarness = {
  name: 'Secret store',
  open: (ns, options) => new KubeStateStore(secrets, ns, options),
  parts: async (ns) => {
    const list = await api.listNamespacedSecret({ namespace: ns, labelSelector: `${stateLabel} notin (index,outbox)` });
    return list.items.map((s) => s.metadata?.name as string);
  },
  outboxBytes: async (ns) => {
    const s = await api.readNamespacedSecret({ name: docSecretNames.outbox, namespace: ns });
    return secretBytes(s.data);
  },
  splits: true,
  figures,
};

stateStoreContract(harness);

describe('Secret store: what only Secrets have', () => {
  test('parts are labelled, every Secret holds less than 1 MiB, the namespace is created', async () => {
    const store = new KubeStateStore(secrets, 'labels');
    await store.load();
    const work = configMapWork('big', 400, 16_000);
    await store.saveDesired({ hubEpoch: 'e', revision: 1, upsert: [work], remove: [] });
    const ns = await api.readNamespace({ name: 'labels' });
    assert.equal(ns.metadata?.labels?.['app.kubernetes.io/managed-by'], 'outpost-agent');
    const all = (await api.listNamespacedSecret({ namespace: 'labels', labelSelector: stateLabel })).items;
    const parts = all.filter((s) => s.metadata?.labels?.[stateLabel] === 'work');
    assert.ok(parts.length >= 2);
    for (const s of all) {
      assert.ok(secretBytes(s.data) < 1024 * 1024, `${s.metadata?.name}: ${secretBytes(s.data)} bytes`);
      assert.equal(s.type, 'outpost.dev/agent-state');
    }
    for (const p of parts) {
      assert.equal(p.metadata?.labels?.[workUidLabel], work.uid);
      assert.equal(p.metadata?.annotations?.['outpost.dev/work'], 'big');
      assert.match(p.metadata?.name ?? '', /^outpost-work-[0-9a-f]{16}-g1-[0-9a-f]{8}-\d+$/);
    }
    assert.ok(all.some((s) => s.metadata?.name === docSecretNames.index));
  });

  test('for scale: a bare Secret replace on this API server', async () => {
    await api.createNamespace({ body: { metadata: { name: 'bare' } } });
    let secret = await api.createNamespacedSecret({
      namespace: 'bare',
      body: { metadata: { name: 'bare' }, data: { x: Buffer.from('x').toString('base64') } },
    });
    const latencies: number[] = [];
    for (let i = 0; i < 200; i++) {
      const t0 = performance.now();
      secret = await api.replaceNamespacedSecret({ name: 'bare', namespace: 'bare', body: secret });
      latencies.push(performance.now() - t0);
    }
    latencies.sort((x, y) => x - y);
    figures['bare Secret replace p50 (the floor of an append)'] = `${(latencies[100] ?? 0).toFixed(2)} ms`;
  });

  test('too large for one object: the oldest history goes first, then the latest spill into parts', async () => {
    const docBytes = 12 * 1024;
    const store = new KubeStateStore(secrets, 'outbox-spill', { docBytes, outboxHistory: 20, firstSeq: () => 1 });
    await store.load();
    for (let i = 0; i < 30; i++) await store.outbox.append(report('flap', i % 2 === 0, 200));
    const trimmed = await api.readNamespacedSecret({ name: docSecretNames.outbox, namespace: 'outbox-spill' });
    assert.ok(secretBytes(trimmed.data) <= docBytes);
    const kept = store.outbox.pending(100);
    assert.ok(kept.length < 21, `history trimmed to ${kept.length}`);
    assert.equal(kept.at(-1)?.seq, 30, 'the latest stays');

    // 30 works whose latest reports alone exceed the document: they go to parts.
    for (let i = 0; i < 30; i++) await store.outbox.append(report(`w${i}`, true, 200));
    const spilled = await api.readNamespacedSecret({ name: docSecretNames.outbox, namespace: 'outbox-spill' });
    const doc = await decodeOutbox(Buffer.from(spilled.data?.['outbox.json.gz'] ?? '', 'base64'), 'test');
    assert.ok(doc.spill?.chunks?.length, 'spilled');
    const restarted = new KubeStateStore(secrets, 'outbox-spill', { docBytes });
    await restarted.load();
    assert.deepEqual(restarted.outbox.pending(1_000), store.outbox.pending(1_000));
    assert.equal(new Set(restarted.outbox.pending(1_000).map((r) => r.work)).size, 31);
    // Acknowledging everything shrinks it back into one object and deletes the parts.
    await restarted.outbox.ack(1_000);
    const parts = await harness.parts('outbox-spill');
    assert.deepEqual(parts, []);
    assert.equal((await restarted.outbox.append(report('w0', false))).seq, 61);
  });

  test("the orphan scan leaves other people's Secrets alone, even with our label", async () => {
    const store = new KubeStateStore(secrets, 'foreign', { orphanGraceMs: 0 });
    await store.saveDesired({ hubEpoch: 'e', revision: 1, upsert: [configMapWork('w', 100, 10_000)], remove: [] });
    await api.createNamespacedSecret({
      namespace: 'foreign',
      body: {
        metadata: { name: 'outpost-work-by-hand', labels: { [stateLabel]: 'work' } },
        data: { x: Buffer.from('mine').toString('base64') },
      },
    });
    await store.load();
    await store.saveDesired({ hubEpoch: 'e', revision: 2, upsert: [configMapWork('w', 100, 10_000, 2)], remove: [] });
    await api.readNamespacedSecret({ name: 'outpost-work-by-hand', namespace: 'foreign' });
  });

  test('a damaged part costs only its own work, reported', async () => {
    const warnings: string[] = [];
    const store = new KubeStateStore(secrets, 'damaged');
    await store.load();
    await store.saveDesired({
      hubEpoch: 'e',
      revision: 1,
      upsert: [configMapWork('broken', 100, 10_000), configMapWork('fine', 100, 10_000)],
      remove: [],
    });
    const parts = (
      await api.listNamespacedSecret({ namespace: 'damaged', labelSelector: `${workUidLabel}=uid-broken-1` })
    ).items;
    const victim = parts[0];
    assert.ok(victim?.metadata?.name);
    victim.data = { 'part.gz': Buffer.from('not gzip').toString('base64') };
    await api.replaceNamespacedSecret({ name: victim.metadata.name, namespace: 'damaged', body: victim });
    const loaded = await new KubeStateStore(secrets, 'damaged', {
      log: { warn: (_o, msg) => warnings.push(msg ?? '') },
    }).load();
    assert.deepEqual([...loaded.works.keys()], ['fine']);
    assert.equal(warnings.length, 1);
    assert.match(warnings[0] ?? '', /desired work broken/);
    assert.deepEqual(status(true).conditions[0]?.status, 'True');
  });
});
