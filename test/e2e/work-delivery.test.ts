// Work delivery end to end: a real hub process, a real agent process joined with
// --kubeconfig, and a real kube-apiserver as the spoke. What a platform team declares on
// the hub ends up on the spoke; the truth comes back; objects leave only on explicit
// instructions; and the agent keeps enforcing while the hub is away.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { CoreV1Api, PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import type { KubeCluster } from '../kube/index.ts';
import { startCluster } from '../kube/index.ts';
import { type AgentProcess, joinSpoke, spokeRunArgs, startAgent } from './agent-process.ts';
import { adminClient, type HubClient, waitFor } from './hub-client.ts';
import { type HubProcess, startHub } from './hub-process.ts';

const cm = (name: string, value: string, ns = 'delivery') => ({
  apiVersion: 'v1',
  kind: 'ConfigMap',
  metadata: { name, namespace: ns },
  data: { value },
});
const namespace = (name: string) => ({
  apiVersion: 'v1',
  kind: 'Namespace',
  metadata: { name, labels: { owner: 'outpost' } },
});
const crd = {
  apiVersion: 'apiextensions.k8s.io/v1',
  kind: 'CustomResourceDefinition',
  metadata: { name: 'gadgets.e2e.outpost.dev' },
  spec: {
    group: 'e2e.outpost.dev',
    scope: 'Namespaced',
    names: { plural: 'gadgets', singular: 'gadget', kind: 'Gadget' },
    versions: [
      {
        name: 'v1',
        served: true,
        storage: true,
        schema: {
          openAPIV3Schema: {
            type: 'object',
            properties: { spec: { type: 'object', properties: { size: { type: 'integer' } } } },
          },
        },
      },
    ],
  },
};
const gadget = {
  apiVersion: 'e2e.outpost.dev/v1',
  kind: 'Gadget',
  metadata: { name: 'g1', namespace: 'delivery' },
  spec: { size: 3 },
};

const work = (name: string, manifests: unknown[], extra: Record<string, unknown> = {}) => ({
  apiVersion: 'work.open-cluster-management.io/v1',
  kind: 'ManifestWork',
  metadata: { name, namespace: 'spoke-w' },
  spec: { workload: { manifests }, ...extra },
});

interface WorkView {
  metadata: { generation: number };
  status: { conditions?: { type: string; status: string; message: string }[]; observedGeneration?: number };
}

describe('work delivery (real hub, real agent, real kube-apiserver)', { timeout: 300_000 }, () => {
  let kube: KubeCluster;
  let hub: HubProcess;
  let admin: HubClient;
  let agent: AgentProcess;
  let core: CoreV1Api;
  const runArgs = () => spokeRunArgs(kube.kubeconfigPath, '2s');

  before(async () => {
    kube = await startCluster({ name: 'spoke-w' });
    core = kube.kubeConfig().makeApiClient(CoreV1Api);
    hub = await startHub({ args: ['--poll-timeout', '5s'] });
    admin = await adminClient(hub);
    await joinSpoke(hub, admin, 'spoke-w', kube.kubeconfigPath);
    agent = startAgent(runArgs());
    await agent.waitForOutput(/serving cluster spoke-w/);
  });

  after(async () => {
    await agent?.stop();
    await admin?.close();
    await hub?.stop();
    await kube?.stop();
  });

  const put = async (w: ReturnType<typeof work>) => {
    const res = await admin.call('PUT', `/api/v1/clusters/spoke-w/works/${w.metadata.name}`, { json: w });
    assert.ok(res.status === 200 || res.status === 201, res.text);
    return res.body as WorkView;
  };
  const getWork = (name: string) => admin.get<WorkView>(`/api/v1/clusters/spoke-w/works/${name}`);
  const condition = (w: WorkView, type: string) => w.status.conditions?.find((c) => c.type === type);
  const readCm = async (name: string, ns = 'delivery') => {
    try {
      return await core.readNamespacedConfigMap({ name, namespace: ns });
    } catch {
      return undefined;
    }
  };
  const waitApplied = (name: string, generation: number, timeoutMs = 30_000) =>
    waitFor(
      `work ${name} Applied at generation ${generation}`,
      async () => {
        const w = (await getWork(name)).body;
        return w.status.observedGeneration === generation && condition(w, 'Applied')?.status === 'True' ? w : undefined;
      },
      timeoutMs,
    );

  test('a work with a Namespace, ConfigMaps, a CRD and its custom resource is applied and reported', async () => {
    const w = await put(work('app', [gadget, cm('a', '1'), cm('b', '1'), crd, namespace('delivery')]));
    await waitApplied('app', w.metadata.generation);
    assert.equal((await readCm('a'))?.data?.value, '1');
    const managers = (await readCm('b'))?.metadata?.managedFields?.map((f) => f.manager);
    assert.ok(managers?.includes('outpost-agent'), JSON.stringify(managers));
  });

  test('each long-poll carries the heartbeat: the idle agent sends no heartbeat of its own', async () => {
    // Requests the hub answered, by route (its request histogram's counts).
    const answered = async (route: string) => {
      const text = (await admin.get('/metrics')).text;
      let n = 0;
      for (const m of text.matchAll(/^outpost_http_request_duration_seconds_count\{([^}]*)\} (\d+)$/gm)) {
        if ((m[1] as string).includes(`route="${route}"`)) n += Number(m[2]);
      }
      return n;
    };
    const heartbeatRoute = '/agent/v1/clusters/:name/heartbeat';
    const syncRoute = '/agent/v1/clusters/:name/sync';
    // Until its first poll is answered a starting agent heartbeats on its own.
    await waitFor('a poll answered', async () => ((await answered(syncRoute)) > 0 ? true : undefined), 30_000);
    const before = { heartbeats: await answered(heartbeatRoute), polls: await answered(syncRoute) };
    // Three poll waits (5 s each); the agent's heartbeat interval is 5 s as well.
    await new Promise((r) => setTimeout(r, 16_000));
    const polls = (await answered(syncRoute)) - before.polls;
    assert.ok(polls >= 2, `the agent polled: ${polls}`);
    assert.equal((await answered(heartbeatRoute)) - before.heartbeats, 0, 'no heartbeat requests while polls answer');
    const view = await admin.get<{ status: { conditions: { type: string; status: string }[] } }>(
      '/api/v1/clusters/spoke-w',
    );
    assert.equal(view.body.status.conditions.find((c) => c.type === 'Available')?.status, 'True', view.text);
  });

  test('a changed manifest is applied; a manifest removed from the work is deleted from the spoke', async () => {
    // `a` under server-side apply without force: another writer's field is then a conflict, reported.
    const w = await put(
      work('app', [gadget, cm('a', '2'), crd, namespace('delivery')], {
        manifestConfigs: [
          {
            resourceIdentifier: { resource: 'configmaps', namespace: 'delivery', name: 'a' },
            updateStrategy: { type: 'ServerSideApply' },
          },
        ],
      }),
    );
    await waitApplied('app', w.metadata.generation);
    await waitFor(
      'a=2 on the spoke',
      async () => ((await readCm('a'))?.data?.value === '2' ? true : undefined),
      20_000,
    );
    await waitFor('b gone from the spoke', async () => ((await readCm('b')) === undefined ? true : undefined), 20_000);
  });

  test('an object deleted by hand comes back', async () => {
    await core.deleteNamespacedConfigMap({ name: 'a', namespace: 'delivery' });
    await waitFor('a restored', async () => ((await readCm('a'))?.data?.value === '2' ? true : undefined), 20_000);
  });

  test('an invalid manifest beside valid ones: the others apply, the work is Degraded with the apiserver message', async () => {
    const bad = {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'bad', namespace: 'delivery' },
      data: { value: 5 },
    };
    const w = await put(work('mixed', [cm('ok', '1'), bad]));
    const got = await waitFor(
      'mixed reported',
      async () => {
        const v = (await getWork('mixed')).body;
        return v.status.observedGeneration === w.metadata.generation && condition(v, 'Degraded') ? v : undefined;
      },
      30_000,
    );
    assert.equal(condition(got, 'Degraded')?.status, 'True');
    assert.match(condition(got, 'Degraded')?.message ?? '', /bad|Invalid|value/i);
    assert.equal((await readCm('ok'))?.data?.value, '1');
  });

  test('a kind: List manifest is applied as its items; a generateName manifest fails alone, the others apply', async () => {
    const list = { apiVersion: 'v1', kind: 'List', items: [cm('from-list-1', '1'), cm('from-list-2', '1')] };
    const generated = {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { generateName: 'gen-', namespace: 'delivery' },
      data: { value: '1' },
    };
    const w = await put(work('listed', [list, generated, cm('beside', '1')]));
    type Full = WorkView & {
      status: {
        resourceStatus?: {
          manifests: {
            resourceMeta: { name: string };
            conditions: { type: string; status: string; message: string }[];
          }[];
        };
      };
    };
    const got = await waitFor(
      'listed reported',
      async () => {
        const v = (await getWork('listed')).body as Full;
        return v.status.observedGeneration === w.metadata.generation && v.status.resourceStatus ? v : undefined;
      },
      30_000,
    );
    const applied = (m: { conditions: { type: string; status: string; message: string }[] }) =>
      m.conditions.find((c) => c.type === 'Applied');
    const manifests = got.status.resourceStatus?.manifests ?? [];
    assert.equal(manifests.length, 4, 'the List counts as its two items');
    assert.equal((await readCm('from-list-1'))?.data?.value, '1');
    assert.equal((await readCm('from-list-2'))?.data?.value, '1');
    assert.equal((await readCm('beside'))?.data?.value, '1');
    const failed = manifests.filter((m) => applied(m)?.status !== 'True');
    assert.equal(failed.length, 1, JSON.stringify(manifests.map((m) => [m.resourceMeta.name, applied(m)])));
    assert.match(applied(failed[0] as (typeof manifests)[number])?.message ?? '', /generateName/);
    const made = await core.listNamespacedConfigMap({ namespace: 'delivery' });
    assert.equal(
      made.items.filter((c) => c.metadata?.name?.startsWith('gen-')).length,
      0,
      'nothing was created from the generateName manifest',
    );
  });

  test('deleting a work: Orphan leaves the objects, the default (Foreground) removes them, then the hub forgets the work', async () => {
    await put(work('keep', [cm('kept', '1')], { deleteOption: { propagationPolicy: 'Orphan' } }));
    await waitFor('kept applied', async () => ((await readCm('kept')) ? true : undefined), 30_000);
    await admin.delete('/api/v1/clusters/spoke-w/works/keep');
    await waitFor(
      'work keep forgotten',
      async () => ((await getWork('keep')).status === 404 ? true : undefined),
      30_000,
    );
    assert.ok(await readCm('kept'), 'the orphaned object stays');

    await admin.delete('/api/v1/clusters/spoke-w/works/mixed');
    await waitFor(
      'work mixed forgotten',
      async () => ((await getWork('mixed')).status === 404 ? true : undefined),
      30_000,
    );
    assert.equal(await readCm('ok'), undefined, 'the object of a Foreground work is gone');
  });

  test('SelectivelyOrphan deletes the work but keeps the objects its rules name', async () => {
    await put(
      work('sel', [cm('sel-keep', '1'), cm('sel-go', '1')], {
        deleteOption: {
          propagationPolicy: 'SelectivelyOrphan',
          selectivelyOrphans: {
            orphaningRules: [{ group: '', resource: 'configmaps', namespace: 'delivery', name: 'sel-keep' }],
          },
        },
      }),
    );
    await waitFor('sel applied', async () => ((await readCm('sel-go')) ? true : undefined), 30_000);
    await admin.delete('/api/v1/clusters/spoke-w/works/sel');
    await waitFor('work sel forgotten', async () => ((await getWork('sel')).status === 404 ? true : undefined), 30_000);
    assert.equal(await readCm('sel-go'), undefined, 'the object without a rule is gone');
    assert.ok(await readCm('sel-keep'), 'the object a rule names stays');
  });

  test('a sync that would delete most applied objects is held until an admin confirms', async () => {
    const many = Array.from({ length: 20 }, (_, i) => cm(`mass-${i}`, '1'));
    const w1 = await put(work('mass', many));
    await waitApplied('mass', w1.metadata.generation);
    const w2 = await put(work('mass', many.slice(0, 2)));
    const held = await waitFor(
      'the breaker to hold the deletions',
      async () => {
        const v = (await getWork('mass')).body;
        return v.status.observedGeneration === w2.metadata.generation && condition(v, 'DeletionsHeld') ? v : undefined;
      },
      30_000,
    );
    assert.match(condition(held, 'DeletionsHeld')?.message ?? '', /18 deletion\(s\) held.*confirm-deletions spoke-w/);
    assert.ok(await readCm('mass-19'), 'nothing was deleted');
    assert.equal((await admin.post('/api/v1/clusters/spoke-w/confirm-deletions')).status, 200);
    await waitFor(
      'the held deletions carried out',
      async () => ((await readCm('mass-19')) === undefined ? true : undefined),
      30_000,
    );
    assert.ok(await readCm('mass-1'), 'the objects still in the work stay');
    await waitFor(
      'DeletionsHeld cleared',
      async () => (condition((await getWork('mass')).body, 'DeletionsHeld') === undefined ? true : undefined),
      30_000,
    );
  });

  test('with the hub down and the agent restarted, the agent still enforces and buffers its status', async () => {
    const port = hub.port;
    const dataDir = hub.dataDir;
    assert.equal(await hub.stop({ keepDataDir: true }), 0);
    const downAt = new Date().toISOString();
    assert.equal((await agent.stop()).code, 0);
    agent = startAgent(runArgs());
    await agent.waitForOutput(/serving cluster spoke-w/);
    await core.deleteNamespacedConfigMap({ name: 'a', namespace: 'delivery' });
    await waitFor(
      'a restored without a hub',
      async () => ((await readCm('a'))?.data?.value === '2' ? true : undefined),
      30_000,
    );

    // Someone else takes a field over while the hub is away: the agent reports the conflict
    // (the work says ServerSideApply without force), and that status waits in the outbox.
    const intruded = await core.patchNamespacedConfigMap(
      {
        name: 'a',
        namespace: 'delivery',
        body: {
          apiVersion: 'v1',
          kind: 'ConfigMap',
          metadata: { name: 'a', namespace: 'delivery' },
          data: { value: 'intruder' },
        },
        fieldManager: 'intruder',
        force: true,
      },
      setHeaderOptions('Content-Type', PatchStrategy.ServerSideApply),
    );
    assert.equal(intruded.data?.value, 'intruder');
    const intrudedAt = Date.now();
    // Wait until the agent has recorded the conflict (in its durable outbox) while the hub is away.
    await waitFor(
      'the agent to record the conflict',
      async () =>
        agent
          .stdout()
          .split('\n')
          .some((line) => {
            try {
              const e = JSON.parse(line) as {
                time?: number;
                msg?: string;
                work?: string;
                conditions?: Record<string, string>;
              };
              return (
                e.msg === 'work status changed' &&
                e.work === 'app' &&
                e.conditions?.Degraded === 'True' &&
                (e.time ?? 0) > intrudedAt
              );
            } catch {
              return false;
            }
          })
          ? true
          : undefined,
      30_000,
    );
    // The hub comes back on its address; the buffered status arrives, observed while it was down.
    hub = await startHub({ dataDir, args: ['--poll-timeout', '5s', '--listen', `127.0.0.1:${port}`] });
    const upAt = new Date().toISOString();
    await admin.close();
    admin = await adminClient(hub);
    const degraded = await waitFor(
      'the conflict reported after the hub returned',
      async () => {
        const w = (await getWork('app')).body as WorkView & { status: { observedAt?: string } };
        const d = condition(w, 'Degraded');
        return d?.status === 'True' && /conflict/i.test(d.message) ? w : undefined;
      },
      60_000,
    );
    const observedAt = (degraded.status as { observedAt?: string }).observedAt ?? '';
    assert.ok(
      observedAt > downAt && observedAt < upAt,
      `status observed at ${observedAt}, hub down ${downAt}..${upAt}`,
    );
  });

  test('a cluster removal decided while its agent is offline is carried out when it returns', async () => {
    // The test cluster runs no namespace controller, so a deleted Namespace would stay
    // Terminating forever: the work holding one is switched to Orphan first.
    const app = (await getWork('app')).body as unknown as { spec: { workload: { manifests: unknown[] } } };
    await put(work('app', app.spec.workload.manifests, { deleteOption: { propagationPolicy: 'Orphan' } }));
    await put(work('bye', [cm('bye-1', '1')]));
    await put(work('bye-orphan', [cm('bye-2', '1')], { deleteOption: { propagationPolicy: 'Orphan' } }));
    await waitFor(
      'bye works applied',
      async () => ((await readCm('bye-1')) && (await readCm('bye-2')) ? true : undefined),
      30_000,
    );
    assert.equal((await agent.stop()).code, 0);
    const removing = await admin.delete('/api/v1/clusters/spoke-w');
    assert.equal(removing.status, 202, removing.text);
    assert.ok(await readCm('bye-1'), 'nothing happens on the spoke while the agent is away');
    agent = startAgent(runArgs());
    await waitFor(
      'the cluster forgotten by the hub',
      async () => ((await admin.get('/api/v1/clusters/spoke-w')).status === 404 ? true : undefined),
      60_000,
    );
    assert.equal(await readCm('bye-1'), undefined, "the Foreground work's object is gone");
    assert.ok(await readCm('bye-2'), "the Orphan work's object stays");
    await agent.waitForOutput(/AGENT_CERT_REVOKED|revoked/, 30_000);
  });
});
