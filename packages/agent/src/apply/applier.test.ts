// KubeApplier against a real kube-apiserver (test/kube): ordering with a CRD in the same
// work, bad manifests beside good ones, SSA conflicts and force, the other update
// strategies, ignoreFields against a simulated HPA, feedback and readiness, deletion with
// UID preconditions, and 1,000 ConfigMaps in one work. One cluster for the file; every test
// works in its own namespace.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, test } from 'node:test';
import { type Condition, type Manifest, type ManifestConfig, manifestKey, type WorkStatus } from '@outpost/shared';
import { type KubeCluster, startCluster, waitFor } from '../../../../test/kube/index.ts';
import { loadKubeconfigFile } from '../kube/config.ts';
import type { AppliedObject, DesiredWork } from '../work/types.ts';
import { KubeApplier } from './applier.ts';
import { KubeConfigRest, type KubeRequest, type KubeResponse, type KubeRest } from './rest.ts';

let cluster: KubeCluster;
let rest: KubeConfigRest;
/** Every request the applier made, with the most in flight at once. */
const recorded: KubeRequest[] = [];
let inFlight = 0;
let maxInFlight = 0;
const recorder: KubeRest = {
  async request(req) {
    recorded.push(req);
    inFlight++;
    maxInFlight = Math.max(maxInFlight, inFlight);
    try {
      return await rest.request(req);
    } finally {
      inFlight--;
    }
  },
};
const logs: { level: string; obj: object; msg?: string | undefined }[] = [];
const log = Object.fromEntries(
  ['debug', 'info', 'warn', 'error'].map((level) => [
    level,
    (obj: object, msg?: string) => {
      logs.push({ level, obj, msg });
    },
  ]),
) as unknown as ConstructorParameters<typeof KubeApplier>[0]['log'];
let applier: KubeApplier;

before(
  async () => {
    cluster = await startCluster({ name: 'agent-apply' });
    rest = new KubeConfigRest(loadKubeconfigFile(cluster.kubeconfigPath));
    applier = new KubeApplier({ rest: recorder, log });
  },
  { timeout: 30 * 60_000 },
);
after(async () => {
  await rest?.close();
  await cluster?.stop();
});

// ---------------------------------------------------------------------------------------
// Helpers

function work(name: string, manifests: Manifest[], extra: Partial<DesiredWork> = {}): DesiredWork {
  return {
    name,
    uid: randomUUID(),
    generation: 1,
    manifests: manifests.map((manifest, ordinal) => ({ key: manifestKey(manifest), ordinal, manifest })),
    ...extra,
  };
}

/** The parts of apiserver answers these tests read. */
interface Obj {
  metadata: {
    uid: string;
    resourceVersion: string;
    labels: Record<string, string>;
    managedFields: { manager: string; operation: string }[];
    deletionTimestamp?: string;
  };
  data: Record<string, string>;
  spec: { size: number; replicas: number; template: { spec: { containers: { image: string }[] } } };
  items: unknown[];
}

/** A direct call to the apiserver (as "someone else" on the spoke); throws unless 2xx. */
async function kube(
  method: KubeRequest['method'],
  path: string,
  body?: unknown,
  opts: { contentType?: string; query?: KubeRequest['query']; ok?: number[] } = {},
): Promise<KubeResponse & { body: Obj }> {
  // A manager of its own: without one the apiserver names it after the user agent (outpost-agent).
  const query = method === 'GET' || method === 'DELETE' ? opts.query : { fieldManager: 'spoke-user', ...opts.query };
  const res = await rest.request({ method, path, body, contentType: opts.contentType, query });
  const ok = opts.ok ?? [200, 201, 202];
  if (!ok.includes(res.status)) throw new Error(`${method} ${path}: HTTP ${res.status} ${JSON.stringify(res.body)}`);
  return res as KubeResponse & { body: Obj };
}

const ssaAs = (manager: string, path: string, obj: unknown, force = false) =>
  kube('PATCH', path, obj, {
    contentType: 'application/apply-patch+yaml',
    query: { fieldManager: manager, force: force ? 'true' : undefined },
  });

const cmPath = (ns: string, name = '') => `/api/v1/namespaces/${ns}/configmaps${name ? `/${name}` : ''}`;
const deployPath = (ns: string, name: string) => `/apis/apps/v1/namespaces/${ns}/deployments/${name}`;

const ns = (name: string): Manifest => ({ apiVersion: 'v1', kind: 'Namespace', metadata: { name } });
const cm = (namespace: string, name: string, data: unknown, annotations?: Record<string, string>): Manifest => ({
  apiVersion: 'v1',
  kind: 'ConfigMap',
  metadata: { name, namespace, ...(annotations ? { annotations } : {}) },
  data,
});
const deployment = (namespace: string, name: string, replicas: number): Manifest => ({
  apiVersion: 'apps/v1',
  kind: 'Deployment',
  metadata: { name, namespace },
  spec: {
    replicas,
    selector: { matchLabels: { app: name } },
    template: {
      metadata: { labels: { app: name } },
      spec: { containers: [{ name: 'app', image: 'registry.invalid/app:1' }] },
    },
  },
});

function manifestCond(status: WorkStatus, name: string, type: string): Condition {
  const m = status.resourceStatus.manifests.find((x) => x.resourceMeta.name === name);
  assert.ok(m, `no status for manifest ${name}`);
  const c = m.conditions.find((x) => x.type === type);
  assert.ok(c, `no ${type} condition for ${name}`);
  return c;
}
const workCond = (status: WorkStatus, type: string) => status.conditions.find((c) => c.type === type) as Condition;

async function createNamespace(name: string) {
  await kube('POST', '/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name } });
}

const objectId = (o: AppliedObject) => `${o.kind}/${o.namespace}/${o.name}`;

// ---------------------------------------------------------------------------------------

test('(a) Namespace, ConfigMap, Deployment, CRD and a custom resource listed before its CRD: all applied in order', async () => {
  const widget: Manifest = {
    apiVersion: 'a.example.com/v1',
    kind: 'Widget',
    metadata: { name: 'w1', namespace: 'a-ns' },
    spec: { size: 3 },
  };
  const crd: Manifest = {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: 'widgets.a.example.com' },
    spec: {
      group: 'a.example.com',
      scope: 'Namespaced',
      names: { plural: 'widgets', singular: 'widget', kind: 'Widget', listKind: 'WidgetList' },
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
  // Custom resource first, Namespace last: the applier must reorder.
  const w = work('a', [
    widget,
    cm('a-ns', 'settings', { mode: 'edge' }),
    deployment('a-ns', 'web', 2),
    crd,
    ns('a-ns'),
  ]);
  recorded.length = 0;
  const { status, applied } = await applier.apply(w, []);

  for (const name of ['w1', 'settings', 'web', 'widgets.a.example.com', 'a-ns']) {
    const c = manifestCond(status, name, 'Applied');
    assert.equal(c.status, 'True', `${name}: ${c.message}`);
  }
  assert.equal(workCond(status, 'Applied').status, 'True');
  assert.equal(workCond(status, 'Degraded').status, 'False');
  assert.equal(status.observedGeneration, 1);
  // No controllers run here: the Deployment never becomes available.
  assert.equal(manifestCond(status, 'web', 'Available').status, 'False');
  assert.equal(manifestCond(status, 'widgets.a.example.com', 'Available').status, 'True');
  assert.equal(manifestCond(status, 'a-ns', 'Available').status, 'True');
  assert.equal(manifestCond(status, 'settings', 'Available').status, 'True');
  assert.equal(workCond(status, 'Available').status, 'False');
  assert.equal(workCond(status, 'Progressing').status, 'True');

  // Status lists manifests in ordinal order, with the discovered resource names.
  assert.deepEqual(
    status.resourceStatus.manifests.map((m) => [
      m.resourceMeta.ordinal,
      m.resourceMeta.resource,
      m.resourceMeta.namespace,
    ]),
    [
      [0, 'widgets', 'a-ns'],
      [1, 'configmaps', 'a-ns'],
      [2, 'deployments', 'a-ns'],
      [3, 'customresourcedefinitions', ''],
      [4, 'namespaces', ''],
    ],
  );
  // Everything was created by this work, so all of it is owned, with UIDs.
  assert.equal(applied.length, 5);
  for (const o of applied) assert.match(o.uid, /^[0-9a-f-]{36}$/);

  // Order of writes: Namespace, then the CRD, then the custom resource.
  const writes = recorded.filter((r) => r.method === 'PATCH').map((r) => r.path);
  const at = (suffix: string) => writes.findIndex((p) => p.endsWith(suffix));
  assert.ok(at('/namespaces/a-ns') === 0, writes.join('\n'));
  assert.ok(at('/customresourcedefinitions/widgets.a.example.com') < at('/widgets/w1'), writes.join('\n'));

  const live = await kube('GET', cmPath('a-ns', 'settings'));
  const managers = live.body.metadata.managedFields.map((m) => `${m.manager}/${m.operation}`);
  assert.ok(managers.includes('outpost-agent/Apply'), managers.join(','));
  const cr = await kube('GET', '/apis/a.example.com/v1/namespaces/a-ns/widgets/w1');
  assert.equal(cr.body.spec.size, 3);

  // A second pass with the ledger: nothing changes, all still owned.
  const again = await applier.apply(w, applied);
  assert.equal(workCond(again.status, 'Applied').status, 'True');
  assert.deepEqual(again.applied.map(objectId).sort(), applied.map(objectId).sort());
});

test('(b) an invalid manifest and an unknown kind beside valid ones: the valid ones apply, the work is Degraded', async () => {
  const w = work('b', [
    ns('b-ns'),
    cm('b-ns', 'good', { a: '1' }),
    cm('b-ns', 'bad', 5),
    { apiVersion: 'nothing.example.com/v1', kind: 'Gadget', metadata: { name: 'g', namespace: 'b-ns' } },
    cm('b-ns', 'also-good', { b: '2' }),
  ]);
  const { status, applied } = await applier.apply(w, []);
  assert.equal(manifestCond(status, 'good', 'Applied').status, 'True');
  assert.equal(manifestCond(status, 'also-good', 'Applied').status, 'True');

  // The apiserver's own message, verbatim: send the same bad apply directly and compare.
  const direct = await rest.request({
    method: 'PATCH',
    path: cmPath('b-ns', 'bad'),
    body: cm('b-ns', 'bad', 5),
    contentType: 'application/apply-patch+yaml',
    query: { fieldManager: 'outpost-agent', fieldValidation: 'Strict' },
  });
  const bad = manifestCond(status, 'bad', 'Applied');
  assert.equal(bad.status, 'False');
  assert.equal(bad.reason, 'AppliedManifestFailed');
  assert.equal(bad.message, (direct.body as { message: string }).message);
  assert.match(bad.message, /expected map/);

  const unknown = manifestCond(status, 'g', 'Applied');
  assert.equal(unknown.status, 'False');
  assert.equal(unknown.reason, 'ResourceKindUnknown');
  assert.equal(unknown.message, 'no matches for kind "Gadget" in version "nothing.example.com/v1"');

  assert.equal(workCond(status, 'Applied').status, 'False');
  const degraded = workCond(status, 'Degraded');
  assert.equal(degraded.status, 'True');
  assert.ok(degraded.message.includes(bad.message), degraded.message);
  assert.ok(degraded.message.includes(unknown.message), degraded.message);
  assert.deepEqual(applied.map((o) => o.name).sort(), ['also-good', 'b-ns', 'good']);
  await kube('GET', cmPath('b-ns', 'good'));

  // Someone installs the Gadget CRD on the spoke: the next pass refreshes discovery once and applies it.
  await kube('POST', '/apis/apiextensions.k8s.io/v1/customresourcedefinitions', {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: 'gadgets.nothing.example.com' },
    spec: {
      group: 'nothing.example.com',
      scope: 'Namespaced',
      names: { plural: 'gadgets', singular: 'gadget', kind: 'Gadget' },
      versions: [
        {
          name: 'v1',
          served: true,
          storage: true,
          schema: { openAPIV3Schema: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true } },
        },
      ],
    },
  });
  await waitFor(
    async () => {
      const res = await rest.request({ method: 'GET', path: '/apis/nothing.example.com/v1' });
      return res.status === 200 ? true : undefined;
    },
    { timeoutMs: 15_000, description: 'the Gadget API to be served' },
  );
  recorded.length = 0;
  const second = await applier.apply(w, applied);
  assert.equal(manifestCond(second.status, 'g', 'Applied').status, 'True');
  assert.equal(recorded.filter((r) => r.path === '/apis').length, 1, 'one discovery refresh');
  // A third pass knows the kind: no discovery at all.
  recorded.length = 0;
  await applier.apply(w, second.applied);
  assert.equal(recorded.filter((r) => r.path === '/apis').length, 0);
});

test('a namespaced manifest without a namespace goes to default', async () => {
  const w = work(
    'default-ns',
    [{ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'no-ns' }, data: { a: 'b' } }],
    {
      manifestConfigs: [
        {
          resourceIdentifier: { group: '', resource: 'configmaps', name: 'no-ns' },
          feedbackRules: [{ type: 'JSONPaths', jsonPaths: [{ name: 'a', path: '.data.a' }] }],
        },
      ],
    },
  );
  const { status, applied } = await applier.apply(w, []);
  assert.equal(status.resourceStatus.manifests[0]?.resourceMeta.namespace, 'default');
  assert.deepEqual(status.resourceStatus.manifests[0]?.statusFeedback?.values, [
    { name: 'a', fieldValue: { type: 'String', string: 'b' } },
  ]);
  assert.deepEqual(applied.map(objectId), ['ConfigMap/default/no-ns']);
  await kube('GET', cmPath('default', 'no-ns'));
});

test('(c) a field owned by another manager: ServerSideApply without force reports ApplyConflict and leaves it; force, and the default, take it', async () => {
  await createNamespace('c-ns');
  await ssaAs('someone-else', cmPath('c-ns', 'shared'), cm('c-ns', 'shared', { key: 'theirs' }));

  const noForce: ManifestConfig[] = [
    {
      resourceIdentifier: { group: '', resource: 'configmaps', namespace: 'c-ns', name: 'shared' },
      updateStrategy: { type: 'ServerSideApply' },
    },
  ];
  const plain = work('c', [cm('c-ns', 'shared', { key: 'ours' })], { manifestConfigs: noForce });
  const first = await applier.apply(plain, []);
  const c = manifestCond(first.status, 'shared', 'Applied');
  assert.equal(c.status, 'False');
  assert.equal(c.reason, 'ApplyConflict');
  assert.equal(c.message, 'Apply failed with 1 conflict: conflict with "someone-else": .data.key');
  assert.equal(workCond(first.status, 'Degraded').status, 'True');
  assert.equal((await kube('GET', cmPath('c-ns', 'shared'))).body.data.key, 'theirs');
  // It exists (Available), but it is not this work's.
  assert.equal(manifestCond(first.status, 'shared', 'Available').status, 'True');
  assert.deepEqual(first.applied, []);

  const forceConfig: ManifestConfig[] = [
    {
      resourceIdentifier: { group: '', resource: 'configmaps', namespace: 'c-ns', name: 'shared' },
      updateStrategy: { type: 'ServerSideApply', serverSideApply: { force: true } },
    },
  ];
  const forced = await applier.apply({ ...plain, manifestConfigs: forceConfig }, []);
  assert.equal(manifestCond(forced.status, 'shared', 'Applied').status, 'True');
  assert.equal((await kube('GET', cmPath('c-ns', 'shared'))).body.data.key, 'ours');
  // Pre-existing and not adopted: applied, but not in the ledger.
  assert.deepEqual(forced.applied, []);

  // A work that names no strategy gets OCM's default (Update): the declared field is taken back.
  await ssaAs('someone-else', cmPath('c-ns', 'shared'), cm('c-ns', 'shared', { key: 'theirs' }), true);
  const byDefault = await applier.apply({ ...plain, manifestConfigs: [] }, []);
  assert.equal(manifestCond(byDefault.status, 'shared', 'Applied').status, 'True');
  assert.equal((await kube('GET', cmPath('c-ns', 'shared'))).body.data.key, 'ours');
  assert.deepEqual(byDefault.applied, [], 'taken over by force: still not claimed');

  // The adopt annotation makes it the work's.
  const adopting = work('c', [cm('c-ns', 'shared', { key: 'ours' }, { 'outpost.dev/adopt': 'true' })]);
  const adopted = await applier.apply(adopting, []);
  assert.deepEqual(adopted.applied.map(objectId), ['ConfigMap/c-ns/shared']);
});

test('(d) CreateOnly never overwrites, ReadOnly never writes and reports feedback, Update replaces', async () => {
  await createNamespace('d-ns');
  const configs = (name: string, type: 'CreateOnly' | 'ReadOnly' | 'Update', extra: Partial<ManifestConfig> = {}) => ({
    resourceIdentifier: { group: '', resource: 'configmaps', namespace: 'd-ns', name },
    updateStrategy: { type },
    ...extra,
  });
  const manifestConfigs: ManifestConfig[] = [
    configs('co', 'CreateOnly'),
    configs('ro', 'ReadOnly', {
      feedbackRules: [
        {
          type: 'JSONPaths',
          jsonPaths: [
            { name: 'color', path: '.data.color' },
            { name: 'labels', path: '.metadata.labels' },
          ],
        },
      ],
    }),
    configs('ro-missing', 'ReadOnly'),
    configs('up', 'Update'),
  ];
  await kube('POST', cmPath('d-ns'), cm('d-ns', 'ro', { color: 'blue' }));
  await kube(
    'PATCH',
    cmPath('d-ns', 'ro'),
    { metadata: { labels: { tier: 'edge' } } },
    {
      contentType: 'application/merge-patch+json',
    },
  );
  const roBefore = (await kube('GET', cmPath('d-ns', 'ro'))).body;

  const v1 = work(
    'd',
    [
      cm('d-ns', 'co', { v: '1' }),
      cm('d-ns', 'ro', { color: 'red' }),
      cm('d-ns', 'ro-missing', { x: '1' }),
      cm('d-ns', 'up', { v: '1' }),
    ],
    { manifestConfigs },
  );
  const first = await applier.apply(v1, []);
  assert.equal(manifestCond(first.status, 'co', 'Applied').status, 'True');
  assert.equal(manifestCond(first.status, 'up', 'Applied').status, 'True');
  const ro = manifestCond(first.status, 'ro', 'Applied');
  assert.equal(ro.status, 'True', ro.message);
  const missing = manifestCond(first.status, 'ro-missing', 'Applied');
  assert.equal(missing.status, 'False');
  assert.equal(missing.reason, 'ResourceNotFound');
  assert.equal(missing.message, 'configmaps "ro-missing" not found');
  assert.equal(manifestCond(first.status, 'ro-missing', 'Available').status, 'False');
  await kube('GET', cmPath('d-ns', 'ro-missing'), undefined, { ok: [404] });

  // ReadOnly: untouched (same resourceVersion, no outpost-agent manager), feedback reported.
  const roAfter = (await kube('GET', cmPath('d-ns', 'ro'))).body;
  assert.equal(roAfter.metadata.resourceVersion, roBefore.metadata.resourceVersion);
  assert.equal(roAfter.data.color, 'blue');
  assert.ok(!JSON.stringify(roAfter.metadata.managedFields).includes('outpost-agent'));
  const roStatus = first.status.resourceStatus.manifests.find((m) => m.resourceMeta.name === 'ro');
  assert.deepEqual(roStatus?.statusFeedback?.values, [
    { name: 'color', fieldValue: { type: 'String', string: 'blue' } },
    { name: 'labels', fieldValue: { type: 'JsonRaw', jsonRaw: '{"tier":"edge"}' } },
  ]);
  assert.equal(manifestCond(first.status, 'ro', 'StatusFeedbackSynced').status, 'True');
  // Created by the work: co and up. ReadOnly objects are never the work's.
  assert.deepEqual(first.applied.map((o) => o.name).sort(), ['co', 'up']);

  // Someone changes co; someone labels up.
  await kube(
    'PATCH',
    cmPath('d-ns', 'co'),
    { data: { v: 'changed-on-spoke' } },
    {
      contentType: 'application/merge-patch+json',
    },
  );
  await kube(
    'PATCH',
    cmPath('d-ns', 'up'),
    { metadata: { labels: { team: 'ops' } }, data: { extra: 'x' } },
    {
      contentType: 'application/merge-patch+json',
    },
  );
  const v2 = work(
    'd',
    [
      cm('d-ns', 'co', { v: '2' }),
      cm('d-ns', 'ro', { color: 'red' }),
      cm('d-ns', 'ro-missing', { x: '1' }),
      cm('d-ns', 'up', { v: '2' }),
    ],
    { manifestConfigs, generation: 2 },
  );
  const second = await applier.apply(v2, first.applied);
  assert.equal(manifestCond(second.status, 'co', 'Applied').status, 'True');
  assert.equal((await kube('GET', cmPath('d-ns', 'co'))).body.data.v, 'changed-on-spoke');
  const up = (await kube('GET', cmPath('d-ns', 'up'))).body;
  // Update replaces the data (the spoke's extra key is gone) and keeps merged labels.
  assert.deepEqual(up.data, { v: '2' });
  assert.equal(up.metadata.labels.team, 'ops');
  assert.ok(up.metadata.managedFields.some((m) => m.manager === 'outpost-agent' && m.operation === 'Update'));
  assert.deepEqual(second.applied.map((o) => o.name).sort(), ['co', 'up']);
  assert.equal(second.status.observedGeneration, 2);

  // An unchanged Update does not write.
  const rv = up.metadata.resourceVersion;
  await applier.apply(v2, second.applied);
  assert.equal((await kube('GET', cmPath('d-ns', 'up'))).body.metadata.resourceVersion, rv);
});

test('(e) ignoreFields lets another manager (a simulated HPA) own spec.replicas', async () => {
  await createNamespace('e-ns');
  const ignore = (name: string, condition: 'OnSpokeChange' | 'OnSpokePresent' | undefined): ManifestConfig => ({
    resourceIdentifier: { group: 'apps', resource: 'deployments', namespace: 'e-ns', name },
    updateStrategy: {
      type: 'ServerSideApply',
      serverSideApply: { ignoreFields: [{ ...(condition ? { condition } : {}), jsonPaths: ['.spec.replicas'] }] },
    },
  });
  const scale = (name: string, replicas: number) =>
    kube(
      'PATCH',
      `${deployPath('e-ns', name)}/scale`,
      { spec: { replicas } },
      {
        contentType: 'application/merge-patch+json',
        query: { fieldManager: 'hpa-controller' },
      },
    );
  const replicas = async (name: string) => (await kube('GET', deployPath('e-ns', name))).body.spec.replicas;

  const w = work(
    'e',
    [deployment('e-ns', 'change', 2), deployment('e-ns', 'present', 2), deployment('e-ns', 'plain', 2)],
    {
      manifestConfigs: [
        ignore('change', 'OnSpokeChange'),
        ignore('present', undefined),
        {
          resourceIdentifier: { group: 'apps', resource: 'deployments', namespace: 'e-ns', name: 'plain' },
          updateStrategy: { type: 'ServerSideApply' },
        },
      ],
    },
  );
  const first = await applier.apply(w, []);
  assert.equal(workCond(first.status, 'Applied').status, 'True');
  for (const n of ['change', 'present', 'plain']) assert.equal(await replicas(n), 2);

  // OnSpokePresent while the agent still owns replicas alone: a new value in the manifest is
  // not applied, and the field is not dropped either (SSA would reset it to 1).
  const w2 = { ...w, generation: 2, manifests: w.manifests.map((m) => structuredClone(m)) };
  for (const m of w2.manifests) (m.manifest.spec as { replicas: number }).replicas = 3;
  const second = await applier.apply(w2, first.applied);
  assert.equal(workCond(second.status, 'Applied').status, 'True');
  assert.equal(await replicas('present'), 2);
  assert.equal(await replicas('change'), 3); // only the agent had touched it: enforced
  assert.equal(await replicas('plain'), 3);

  // The HPA scales all three (an Update on the scale subresource, which takes ownership).
  for (const n of ['change', 'present', 'plain']) await scale(n, 7);
  const third = await applier.apply(w2, second.applied);
  for (const n of ['change', 'present']) {
    const c = manifestCond(third.status, n, 'Applied');
    assert.equal(c.status, 'True', c.message);
    assert.match(c.message, /left to the spoke: \.spec\.replicas/);
    assert.equal(await replicas(n), 7);
  }
  // Without ignoreFields the agent would fight the HPA: server-side apply (without force) reports the conflict.
  const plain = manifestCond(third.status, 'plain', 'Applied');
  assert.equal(plain.status, 'False');
  assert.equal(plain.reason, 'ApplyConflict');
  assert.match(plain.message, /conflict with "hpa-controller".*\.spec\.replicas/);
  assert.equal(await replicas('plain'), 7);
  // Other fields are still enforced under ignoreFields.
  const live = (await kube('GET', deployPath('e-ns', 'change'))).body;
  assert.equal(live.spec.template.spec.containers[0]?.image, 'registry.invalid/app:1');
});

test('(f) feedback values and Available for a Deployment whose status is patched ready', async () => {
  await createNamespace('f-ns');
  const w = work('f', [deployment('f-ns', 'fb', 3)], {
    manifestConfigs: [
      {
        resourceIdentifier: { group: 'apps', resource: 'deployments', namespace: 'f-ns', name: 'fb' },
        feedbackRules: [
          { type: 'WellKnownStatus' },
          {
            type: 'JSONPaths',
            jsonPaths: [
              { name: 'observed', path: '.status.observedGeneration' },
              { name: 'availableCondition', path: '.status.conditions[?(@.type=="Available")].status' },
            ],
          },
        ],
      },
    ],
  });
  const first = await applier.apply(w, []);
  assert.equal(manifestCond(first.status, 'fb', 'Available').status, 'False');
  assert.equal(workCond(first.status, 'Available').status, 'False');
  assert.equal(workCond(first.status, 'Progressing').status, 'True');
  const fb0 = first.status.resourceStatus.manifests[0]?.statusFeedback?.values ?? [];
  assert.deepEqual(fb0, []);

  await kube(
    'PATCH',
    `${deployPath('f-ns', 'fb')}/status`,
    {
      status: {
        observedGeneration: 1,
        replicas: 3,
        updatedReplicas: 3,
        readyReplicas: 3,
        availableReplicas: 3,
        conditions: [
          {
            type: 'Available',
            status: 'True',
            reason: 'MinimumReplicasAvailable',
            message: 'ok',
            lastUpdateTime: '2026-01-01T00:00:00Z',
            lastTransitionTime: '2026-01-01T00:00:00Z',
          },
        ],
      },
    },
    { contentType: 'application/merge-patch+json' },
  );
  const second = await applier.apply(w, first.applied);
  const avail = manifestCond(second.status, 'fb', 'Available');
  assert.equal(avail.status, 'True', avail.message);
  assert.equal(workCond(second.status, 'Available').status, 'True');
  assert.equal(workCond(second.status, 'Progressing').status, 'False');
  assert.deepEqual(second.status.resourceStatus.manifests[0]?.statusFeedback?.values, [
    { name: 'ReadyReplicas', fieldValue: { type: 'Integer', integer: 3 } },
    { name: 'Replicas', fieldValue: { type: 'Integer', integer: 3 } },
    { name: 'AvailableReplicas', fieldValue: { type: 'Integer', integer: 3 } },
    { name: 'observed', fieldValue: { type: 'Integer', integer: 1 } },
    { name: 'availableCondition', fieldValue: { type: 'String', string: 'True' } },
  ]);
  assert.equal(manifestCond(second.status, 'fb', 'StatusFeedbackSynced').status, 'True');
});

test('(g) delete: UID preconditions, foreground versus background, reverse order, pre-existing objects never listed', async () => {
  const crd: Manifest = {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: 'gizmos.g.example.com' },
    spec: {
      group: 'g.example.com',
      scope: 'Cluster',
      names: { plural: 'gizmos', singular: 'gizmo', kind: 'Gizmo' },
      versions: [
        {
          name: 'v1',
          served: true,
          storage: true,
          schema: { openAPIV3Schema: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true } },
        },
      ],
    },
  };
  await createNamespace('g-pre');
  await kube('POST', cmPath('g-pre'), cm('g-pre', 'pre', { owner: 'someone' }));
  const w = work('g', [
    ns('g-ns'),
    cm('g-ns', 'replaced', { v: '1' }),
    cm('g-ns', 'fg', { v: '1' }),
    cm('g-ns', 'bg', { v: '1' }),
    cm('g-pre', 'pre', { owner: 'someone' }),
    crd,
    { apiVersion: 'g.example.com/v1', kind: 'Gizmo', metadata: { name: 'gz' } },
  ]);
  const { status, applied } = await applier.apply(w, []);
  assert.equal(workCond(status, 'Applied').status, 'True');
  // The pre-existing ConfigMap was applied (Applied=True) but is not the work's.
  assert.equal(manifestCond(status, 'pre', 'Applied').status, 'True');
  assert.deepEqual(applied.map(objectId).sort(), [
    'ConfigMap/g-ns/bg',
    'ConfigMap/g-ns/fg',
    'ConfigMap/g-ns/replaced',
    'CustomResourceDefinition//gizmos.g.example.com',
    'Gizmo//gz',
    'Namespace//g-ns',
  ]);
  const byName = (n: string) => applied.find((o) => o.name === n) as AppliedObject;

  // Someone deletes "replaced" and creates another object under the same name.
  await kube('DELETE', cmPath('g-ns', 'replaced'));
  const stranger = await kube('POST', cmPath('g-ns'), cm('g-ns', 'replaced', { v: 'stranger' }));
  const r1 = await applier.delete([byName('replaced')], { foreground: false });
  assert.deepEqual(r1.orphaned.map(objectId), ['ConfigMap/g-ns/replaced']);
  assert.deepEqual(r1.deleted, []);
  assert.equal((await kube('GET', cmPath('g-ns', 'replaced'))).body.metadata.uid, stranger.body.metadata.uid);

  // Foreground: the apiserver keeps the object with the foregroundDeletion finalizer until
  // the garbage collector (not running here) finishes; the agent reports it pending.
  const r2 = await applier.delete([byName('fg')], { foreground: true });
  assert.equal(r2.pending.length, 1);
  assert.match(r2.pending[0]?.message ?? '', /foregroundDeletion/);
  const fgLive = (await kube('GET', cmPath('g-ns', 'fg'))).body;
  assert.ok(fgLive.metadata.deletionTimestamp);
  // Played garbage collector: drop the finalizer; the next pass sees it gone.
  await kube(
    'PATCH',
    cmPath('g-ns', 'fg'),
    { metadata: { finalizers: null } },
    {
      contentType: 'application/merge-patch+json',
    },
  );
  const r3 = await applier.delete([byName('fg')], { foreground: true });
  assert.deepEqual(r3.deleted.map(objectId), ['ConfigMap/g-ns/fg']);

  // Background: gone at once. Everything else in reverse apply order.
  recorded.length = 0;
  const rest = applied.filter((o) => !['replaced', 'fg'].includes(o.name));
  const r4 = await applier.delete(rest, { foreground: false });
  assert.deepEqual(r4.orphaned, []);
  await kube('GET', cmPath('g-ns', 'bg'), undefined, { ok: [404] });
  await kube('GET', '/apis/g.example.com/v1/gizmos/gz', undefined, { ok: [404] });
  const deletes = recorded.filter((r) => r.method === 'DELETE').map((r) => r.path);
  const at = (suffix: string) => deletes.findIndex((p) => p.endsWith(suffix));
  assert.ok(at('/configmaps/bg') < at('/gizmos/gz'), deletes.join('\n'));
  assert.ok(at('/gizmos/gz') < at('/customresourcedefinitions/gizmos.g.example.com'), deletes.join('\n'));
  assert.ok(at('/customresourcedefinitions/gizmos.g.example.com') < at('/namespaces/g-ns'), deletes.join('\n'));
  for (const r of recorded.filter((x) => x.method === 'DELETE')) {
    assert.match(JSON.stringify(r.body), /"preconditions":\{"uid":"[0-9a-f-]{36}"\}/);
  }
  // No namespace controller here: the Namespace stays Terminating, so it is pending. The
  // CRD waits for its cleanup finalizer (run by the apiserver itself) and goes soon after.
  const pending = r4.pending.map((p) => objectId(p.object));
  assert.ok(pending.includes('Namespace//g-ns'), pending.join(','));
  assert.match(r4.pending.find((p) => p.object.kind === 'Namespace')?.message ?? '', /finalizers: kubernetes/);
  assert.deepEqual([...r4.deleted.map(objectId), ...pending].sort(), [
    'ConfigMap/g-ns/bg',
    'CustomResourceDefinition//gizmos.g.example.com',
    'Gizmo//gz',
    'Namespace//g-ns',
  ]);
  await waitFor(
    async () => {
      const again = await applier.delete([byName('gizmos.g.example.com')], { foreground: false });
      return again.deleted.length === 1 ? true : undefined;
    },
    { timeoutMs: 15_000, description: 'the CRD to be gone' },
  );
  // The pre-existing object was never the work's and is still there.
  assert.equal((await kube('GET', cmPath('g-pre', 'pre'))).body.data.owner, 'someone');

  // Already gone counts as deleted.
  const r5 = await applier.delete([byName('bg')], { foreground: false });
  assert.deepEqual(r5.deleted.map(objectId), ['ConfigMap/g-ns/bg']);
});

test('(h) 1,000 ConfigMaps in one work, with bounded concurrency', { timeout: 120_000 }, async () => {
  await createNamespace('h-ns');
  const manifests = Array.from({ length: 1000 }, (_, i) =>
    cm('h-ns', `cm-${String(i).padStart(4, '0')}`, { index: String(i), payload: 'x'.repeat(64) }),
  );
  const w = work('h', manifests);
  maxInFlight = 0;
  const t0 = performance.now();
  const first = await applier.apply(w, []);
  const createSeconds = (performance.now() - t0) / 1000;
  assert.equal(workCond(first.status, 'Applied').status, 'True', workCond(first.status, 'Degraded').message);
  assert.equal(first.applied.length, 1000);
  const createdMax = maxInFlight;

  maxInFlight = 0;
  const t1 = performance.now();
  const second = await applier.apply(w, first.applied);
  const reapplySeconds = (performance.now() - t1) / 1000;
  assert.equal(second.applied.length, 1000);
  assert.ok(createdMax <= 8 && maxInFlight <= 8, `in flight: ${createdMax}, ${maxInFlight}`);

  const list = await waitFor(
    async () => {
      const res = await kube('GET', cmPath('h-ns'), undefined, {});
      const items = res.body.items;
      return items.length >= 1000 ? items : undefined;
    },
    { timeoutMs: 10_000, description: '1,000 ConfigMaps listed' },
  );
  assert.ok(list.length >= 1000);
  console.log(
    `(h) 1,000 ConfigMaps: first apply ${createSeconds.toFixed(2)} s, re-apply ${reapplySeconds.toFixed(2)} s, ` +
      `at most ${Math.max(createdMax, maxInFlight)} requests in flight`,
  );
});
