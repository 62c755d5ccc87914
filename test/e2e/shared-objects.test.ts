// Objects that several works declare, end to end (real hub, real agent, real kube-apiserver):
// an object is deleted only when the last work that declares it lets it go, under that
// work's delete policy; a work never deletes what it did not create (left behind by an
// Orphan delete, made by another work or by hand); and a deletion held up by finalizers
// finishes as soon as the object is gone, not at the next periodic re-apply.
//
// The test cluster runs no controllers, so a deleted Namespace stays Terminating: "deleted"
// is seen as a deletionTimestamp there.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import {
  CoreV1Api,
  PatchStrategy,
  setHeaderOptions,
  type V1ConfigMap,
  type V1Namespace,
} from '@kubernetes/client-node';
import type { KubeCluster } from '../kube/index.ts';
import { type HubClient, waitFor, waitWorkApplied } from './hub-client.ts';
import type { HubProcess } from './hub-process.ts';
import { type JoinedSpoke, startJoinedSpoke } from './spoke.ts';

const cluster = 'spoke-shared';
const cm = (name: string, ns: string, value = '1') => ({
  apiVersion: 'v1',
  kind: 'ConfigMap',
  metadata: { name, namespace: ns },
  data: { value },
});
const namespace = (name: string) => ({ apiVersion: 'v1', kind: 'Namespace', metadata: { name } });
type Policy = 'Foreground' | 'Orphan' | 'SelectivelyOrphan';
/** With SelectivelyOrphan, the rules name every object of the namespace `ns` (OCM identifiers). */
const work = (name: string, manifests: unknown[], policy?: Policy, ns = '') => ({
  apiVersion: 'work.open-cluster-management.io/v1',
  kind: 'ManifestWork',
  metadata: { name, namespace: cluster },
  spec: {
    workload: { manifests },
    ...(policy
      ? {
          deleteOption: {
            propagationPolicy: policy,
            ...(policy === 'SelectivelyOrphan'
              ? {
                  selectivelyOrphans: {
                    orphaningRules: [
                      { group: '', resource: 'namespaces', namespace: '', name: ns },
                      ...['common', 'operator-only', 'addon-only'].map((n) => ({
                        group: '',
                        resource: 'configmaps',
                        namespace: ns,
                        name: n,
                      })),
                    ],
                  },
                }
              : {}),
          },
        }
      : {}),
  },
});

interface WorkView {
  metadata: { generation: number };
  status: {
    conditions?: { type: string; status: string; message: string }[];
    observedGeneration?: number;
    corrections?: number;
  };
}

describe('objects shared between works (real hub, real agent, real kube-apiserver)', { timeout: 300_000 }, () => {
  let kube: KubeCluster;
  let hub: HubProcess;
  let admin: HubClient;
  let spoke: JoinedSpoke;
  let core: CoreV1Api;

  before(async () => {
    spoke = await startJoinedSpoke(cluster);
    ({ kube, hub, admin } = spoke);
    core = kube.kubeConfig().makeApiClient(CoreV1Api);
  });

  after(async () => {
    await spoke?.stop();
  });

  const path = (name: string) => `/api/v1/clusters/${cluster}/works/${name}`;
  const put = async (w: ReturnType<typeof work>) => {
    const res = await admin.call('PUT', path(w.metadata.name), { json: w });
    assert.ok(res.status === 200 || res.status === 201, res.text);
    return res.body as WorkView;
  };
  const condition = (w: WorkView, type: string) => w.status.conditions?.find((c) => c.type === type);
  const waitApplied = (name: string, generation: number) => waitWorkApplied(admin, cluster, name, generation);
  const remove = async (name: string, timeoutMs = 30_000) => {
    const res = await admin.delete(path(name));
    assert.ok(res.status === 200 || res.status === 202 || res.status === 204, res.text);
    await waitFor(
      `work ${name} forgotten by the hub`,
      async () => ((await admin.get(path(name))).status === 404 ? true : undefined),
      timeoutMs,
    );
  };
  const readCm = async (name: string, ns: string): Promise<V1ConfigMap | undefined> => {
    try {
      return await core.readNamespacedConfigMap({ name, namespace: ns });
    } catch {
      return undefined;
    }
  };
  const readNs = async (name: string): Promise<V1Namespace | undefined> => {
    try {
      return await core.readNamespace({ name });
    } catch {
      return undefined;
    }
  };
  const uidOf = async (name: string, ns: string) => (await readCm(name, ns))?.metadata?.uid;
  const assertLive = async (name: string, ns: string, uid: string | undefined, why: string) => {
    const now = await readCm(name, ns);
    assert.ok(now, `${ns}/${name} still exists (${why})`);
    assert.equal(now.metadata?.uid, uid, `${ns}/${name} is the same object, never deleted and re-created (${why})`);
    assert.equal(now.metadata?.deletionTimestamp, undefined, `${ns}/${name} is not being deleted (${why})`);
  };
  const assertNsLive = async (name: string, why: string) => {
    const now = await readNs(name);
    assert.ok(now, `Namespace ${name} exists (${why})`);
    assert.equal(now.metadata?.deletionTimestamp, undefined, `Namespace ${name} is not being deleted (${why})`);
  };

  for (const policy of ['Foreground', 'Orphan', 'SelectivelyOrphan'] as const) {
    test(`two works share a Namespace and a ConfigMap: deleting either (${policy}) deletes nothing the other declares`, async () => {
      const ns = `shared-${policy.toLowerCase()}`;
      const op = `operator-${policy.toLowerCase()}`;
      const add = `addon-${policy.toLowerCase()}`;
      const operator = work(op, [namespace(ns), cm('common', ns), cm('operator-only', ns)], policy, ns);
      const addon = work(add, [namespace(ns), cm('common', ns, '1'), cm('addon-only', ns)], policy, ns);
      await waitApplied(op, (await put(operator)).metadata.generation);
      await waitApplied(add, (await put(addon)).metadata.generation);
      const common = await uidOf('common', ns);
      assert.ok(common);

      // The add-on goes first: the operator created the shared objects.
      await remove(add);
      await assertNsLive(ns, 'the operator work still declares it');
      await assertLive('common', ns, common, 'the operator work still declares it');
      const addonOnly = await readCm('addon-only', ns);
      if (policy === 'Foreground') assert.equal(addonOnly, undefined, "the add-on's own object went with it");
      else assert.ok(addonOnly, `the add-on's own object stays (${policy})`);
      const survivor = (await admin.get<WorkView>(path(op))).body;
      assert.equal(condition(survivor, 'Applied')?.status, 'True');
      assert.equal(survivor.status.corrections ?? 0, 0, 'the surviving work needed no repair');

      // The add-on again, then the operator goes first: what the add-on declares stays.
      await waitApplied(add, (await put(addon)).metadata.generation);
      await remove(op);
      await assertNsLive(ns, 'the add-on work still declares it');
      await assertLive('common', ns, common, 'the add-on work still declares it');
      const operatorOnly = await readCm('operator-only', ns);
      if (policy === 'Foreground') assert.equal(operatorOnly, undefined, "the operator's own object went with it");
      else assert.ok(operatorOnly, `the operator's own object stays (${policy})`);
      const ad = (await admin.get<WorkView>(path(add))).body;
      assert.equal(condition(ad, 'Applied')?.status, 'True');

      // The last work that declares them decides, under its own policy.
      if (policy === 'Foreground') {
        // The Namespace stays Terminating here (no namespace controller), so the work stays
        // Deleting at the hub: what the spoke shows is the answer.
        const res = await admin.delete(path(add));
        assert.ok(res.status < 300, res.text);
        await waitFor(
          'the shared ConfigMap and Namespace deleted by the last work',
          async () =>
            (await readCm('common', ns)) === undefined && (await readNs(ns))?.metadata?.deletionTimestamp
              ? true
              : undefined,
          30_000,
        );
      } else {
        await remove(add);
        await assertLive('common', ns, common, `the last work's policy is ${policy}`);
        await assertNsLive(ns, `the last work's policy is ${policy}`);
      }
    });
  }

  test('a manifest dropped from one work stays while another work declares it; a Namespace another work still uses waits for it', async () => {
    const ns = 'shared-drop';
    await waitApplied(
      'one',
      (await put(work('one', [namespace(ns), cm('both', ns), cm('one-only', ns)]))).metadata.generation,
    );
    await waitApplied('two', (await put(work('two', [namespace(ns), cm('both', ns)]))).metadata.generation);
    const both = await uidOf('both', ns);
    // Work one drops both shared objects, and keeps an object of its own in the Namespace.
    await waitApplied('one', (await put(work('one', [cm('one-only', ns, '2')]))).metadata.generation);
    await assertLive('both', ns, both, 'work two still declares it');
    await assertNsLive(ns, 'work two still declares it');

    // Work two, the last to declare them, goes: its ConfigMap goes, its Namespace waits for
    // work one's object in it, and work two stays Deleting, saying so.
    const res = await admin.delete(path('two'));
    assert.ok(res.status < 300, res.text);
    await waitFor(
      'work two waiting for the Namespace work one still uses',
      async () => {
        const v = (await admin.get<WorkView>(path('two'))).body;
        const d = condition(v, 'Deleting');
        return d && /work one/.test(d.message) && (await readCm('both', ns)) === undefined ? true : undefined;
      },
      30_000,
    );
    await assertNsLive(ns, "work one's object is still in it");
    assert.ok(await readCm('one-only', ns), "work one's object is untouched");

    // Work one goes: then work two deletes the Namespace (the test finalizes it, as the
    // namespace controller of a real cluster would) and is forgotten.
    await remove('one');
    const terminating = await waitFor(
      'the Namespace deleted by work two',
      async () => {
        const n = await readNs(ns);
        return n?.metadata?.deletionTimestamp ? n : undefined;
      },
      30_000,
    );
    await core.replaceNamespaceFinalize({ name: ns, body: { ...terminating, spec: { finalizers: [] } } });
    await waitFor(
      'work two forgotten by the hub',
      async () => ((await admin.get(path('two'))).status === 404 ? true : undefined),
      30_000,
    );
  });

  test('an object left behind by an Orphan delete is never deleted by a later work that declares it', async () => {
    const ns = 'shared-left';
    await core.createNamespace({ body: { metadata: { name: ns } } });
    await waitApplied('leaver', (await put(work('leaver', [cm('left', ns)], 'Orphan'))).metadata.generation);
    const left = await uidOf('left', ns);
    await remove('leaver');
    await assertLive('left', ns, left, 'Orphan');

    // A new work over the left-behind object, then deleted (Foreground): not its to delete.
    await waitApplied('later', (await put(work('later', [cm('left', ns, '2')]))).metadata.generation);
    assert.equal((await readCm('left', ns))?.data?.value, '2', 'the later work applied its content');
    await remove('later');
    await assertLive('left', ns, left, 'the later work did not create it');

    // Also for an object made by hand.
    await core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: 'by-hand' }, data: { v: '1' } } });
    const byHand = await uidOf('by-hand', ns);
    await waitApplied('over', (await put(work('over', [cm('by-hand', ns)]))).metadata.generation);
    await remove('over');
    await assertLive('by-hand', ns, byHand, 'made by hand before the work');
  });

  test('a deletion held up by a finalizer finishes as soon as the object is gone', async (t) => {
    const ns = 'shared-final';
    await core.createNamespace({ body: { metadata: { name: ns } } });
    const held = { ...cm('held', ns), metadata: { name: 'held', namespace: ns, finalizers: ['e2e.outpost.dev/hold'] } };
    await waitApplied('final', (await put(work('final', [held]))).metadata.generation);
    const res = await admin.delete(path('final'));
    assert.ok(res.status < 300, res.text);
    await waitFor(
      'the ConfigMap being deleted, waiting for its finalizer',
      async () => ((await readCm('held', ns))?.metadata?.deletionTimestamp ? true : undefined),
      30_000,
    );
    const view = (await admin.get<WorkView>(path('final'))).body;
    assert.ok(view, 'the hub keeps the work while its object is still there');
    // Let it go: the work is forgotten within seconds, with the periodic re-apply 10 min away.
    const releasedAt = Date.now();
    await core.patchNamespacedConfigMap(
      { name: 'held', namespace: ns, body: { metadata: { finalizers: null } }, fieldManager: 'e2e' },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
    );
    await waitFor(
      'work final forgotten by the hub',
      async () => ((await admin.get(path('final'))).status === 404 ? true : undefined),
      30_000,
    );
    t.diagnostic(`forgotten ${Date.now() - releasedAt} ms after the finalizer went (re-apply interval 10 min)`);
  });
});
