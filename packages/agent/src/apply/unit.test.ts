// The apply engine's pure parts and its behaviour against small fakes of KubeRest: JSON
// paths, readiness, feedback, work conditions, ignoreFields decisions, discovery caching and
// refresh, deletion outcomes, manifestConfigs matching. The real-apiserver tests are in
// applier.test.ts.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { ManifestStatus } from '@outpost/shared';
import type { AppliedObject } from '../work/types.ts';
import { createdByOurApply, KubeApplier } from './applier.ts';
import { aggregateRuleConditions, ruleConditions, untilComplete } from './conditions.ts';
import { effectiveStrategy, findConfig } from './config.ts';
import { applyPhase, deleteObjects } from './delete.ts';
import { Discovery, mappingsFromCrd } from './discovery.ts';
import { applyIgnoreFields } from './ignore.ts';
import type { KubeObject } from './kube.ts';
import { deletePath, getPath, parsePath, setPath } from './paths.ts';
import { mapLimit } from './pool.ts';
import { type KubeRequest, type KubeResponse, type KubeRest, KubeUnreachableError } from './rest.ts';
import { feedback, readiness, workConditions } from './status.ts';
import { serverSideApply, strategies } from './strategies.ts';

const quiet = { debug() {}, info() {}, warn() {}, error() {} };
const noRetry = { attempts: 1, baseDelayMs: 1 };

function fakeRest(handler: (req: KubeRequest) => KubeResponse | Promise<KubeResponse>) {
  const calls: KubeRequest[] = [];
  const rest: KubeRest = {
    async request(req) {
      calls.push(req);
      return handler(req);
    },
  };
  return { rest, calls };
}
const json = (status: number, body: unknown, contentType = 'application/json'): KubeResponse => ({
  status,
  body,
  contentType,
});

describe('paths', () => {
  const obj = {
    metadata: { annotations: { 'example.com/key': 'v' } },
    spec: { replicas: 2, items: [{ name: 'a' }, { name: 'b', x: 1 }] },
    status: { conditions: [{ type: 'Ready', status: 'True' }] },
  };

  test('reads dotted, bracketed, indexed and filtered paths', () => {
    const get = (p: string) => {
      const segs = parsePath(p);
      assert.ok(!('error' in segs), p);
      return getPath(obj, segs);
    };
    assert.equal(get('.spec.replicas'), 2);
    assert.equal(get('{.spec.replicas}'), 2);
    assert.equal(get('$.spec.replicas'), 2);
    assert.equal(get(".metadata.annotations['example.com/key']"), 'v');
    assert.equal(get('.spec.items[1].x'), 1);
    assert.equal(get('.status.conditions[?(@.type=="Ready")].status'), 'True');
    assert.equal(get('.status.conditions[?(@.type=="Gone")].status'), undefined);
    assert.equal(get('.spec.nothing.deeper'), undefined);
  });

  test('refuses what it does not understand', () => {
    for (const p of ['spec.replicas', '.spec[*]', '.spec..x', '']) {
      const r = parsePath(p);
      assert.ok('error' in r, p);
    }
  });

  test('deletes and sets', () => {
    const o = structuredClone(obj);
    assert.equal(deletePath(o, parsePath('.spec.replicas') as never), true);
    assert.equal(o.spec.replicas, undefined);
    assert.equal(deletePath(o, parsePath('.spec.missing') as never), false);
    assert.equal(setPath(o, parsePath('.spec.items[0].name') as never, 'z'), true);
    assert.equal(o.spec.items[0]?.name, 'z');
    assert.equal(setPath(o, parsePath('.nope.x') as never, 1), false);
  });
});

describe('readiness', () => {
  const dep = (spec: number, status: Record<string, number>, generation = 1): KubeObject => ({
    metadata: { generation },
    spec: { replicas: spec },
    status,
  });
  const gvk = (group: string, kind: string) => ({ group, version: 'v1', kind });

  test('Deployment: as kubectl rollout status decides', () => {
    const d = gvk('apps', 'Deployment');
    const full = { observedGeneration: 1, replicas: 3, updatedReplicas: 3, availableReplicas: 3, readyReplicas: 3 };
    assert.equal(readiness(d, dep(3, full)).available, true);
    assert.equal(readiness(d, dep(3, { ...full, observedGeneration: 0 })).available, false);
    assert.equal(readiness(d, dep(3, { ...full, updatedReplicas: 2 })).available, false);
    assert.equal(readiness(d, dep(3, { ...full, replicas: 4 })).available, false);
    assert.equal(readiness(d, dep(3, { ...full, availableReplicas: 2 })).available, false);
    assert.equal(readiness(d, dep(0, { observedGeneration: 1 })).available, true);
  });

  test('StatefulSet, DaemonSet, Job, Pod, CRD, Namespace, and presence for the rest', () => {
    assert.equal(
      readiness(gvk('apps', 'StatefulSet'), dep(2, { observedGeneration: 1, readyReplicas: 2, updatedReplicas: 2 }))
        .available,
      true,
    );
    assert.equal(
      readiness(gvk('apps', 'StatefulSet'), dep(2, { observedGeneration: 1, readyReplicas: 1 })).available,
      false,
    );
    const ds = (s: Record<string, number>) => ({
      metadata: { generation: 1 },
      status: { observedGeneration: 1, ...s },
    });
    assert.equal(
      readiness(
        gvk('apps', 'DaemonSet'),
        ds({ desiredNumberScheduled: 2, updatedNumberScheduled: 2, numberAvailable: 2 }),
      ).available,
      true,
    );
    assert.equal(
      readiness(
        gvk('apps', 'DaemonSet'),
        ds({ desiredNumberScheduled: 2, updatedNumberScheduled: 2, numberAvailable: 1 }),
      ).available,
      false,
    );
    const withCond = (type: string, status: string, extra = {}) => ({
      status: { conditions: [{ type, status }], ...extra },
    });
    assert.equal(readiness(gvk('batch', 'Job'), withCond('Complete', 'True')).available, true);
    const failedJob = readiness(gvk('batch', 'Job'), withCond('Failed', 'True'));
    assert.equal(failedJob.available, false);
    assert.match(failedJob.message, /failed/);
    assert.equal(readiness(gvk('', 'Pod'), withCond('Ready', 'True')).available, true);
    assert.equal(readiness(gvk('', 'Pod'), withCond('Ready', 'False', { phase: 'Pending' })).available, false);
    assert.equal(
      readiness(gvk('apiextensions.k8s.io', 'CustomResourceDefinition'), withCond('Established', 'True')).available,
      true,
    );
    assert.equal(readiness(gvk('', 'Namespace'), { status: { phase: 'Active' } }).available, true);
    assert.equal(readiness(gvk('', 'Namespace'), { status: { phase: 'Terminating' } }).available, false);
    assert.equal(readiness(gvk('', 'ConfigMap'), { data: {} }).available, true);
    assert.equal(readiness(gvk('', 'ConfigMap'), undefined).reason, 'ResourceNotFound');
    assert.equal(readiness(gvk('', 'ConfigMap'), { metadata: { deletionTimestamp: 'x' } }).available, false);
  });
});

describe('feedback', () => {
  const pod = {
    status: {
      phase: 'Running',
      conditions: [{ type: 'Ready', status: 'True' }],
      podIP: '10.0.0.1',
      score: 0.5,
      flag: true,
      big: 'x'.repeat(2000).split(''),
    },
  };
  test('well-known status of a Pod, and typed JSONPaths values', () => {
    const out = feedback({ group: '', version: 'v1', kind: 'Pod' }, pod, [
      { type: 'WellKnownStatus' },
      {
        type: 'JSONPaths',
        jsonPaths: [
          { name: 'ip', path: '.status.podIP' },
          { name: 'score', path: '.status.score' },
          { name: 'flag', path: '.status.flag' },
          { name: 'conds', path: '.status.conditions' },
          { name: 'missing', path: '.status.nothing' },
          { name: 'big', path: '.status.big' },
          { name: 'bad', path: 'status' },
        ],
      },
    ]);
    assert.deepEqual(out.values, [
      { name: 'PodReady', fieldValue: { type: 'String', string: 'True' } },
      { name: 'PodPhase', fieldValue: { type: 'String', string: 'Running' } },
      { name: 'ip', fieldValue: { type: 'String', string: '10.0.0.1' } },
      { name: 'score', fieldValue: { type: 'JsonRaw', jsonRaw: '0.5' } },
      { name: 'flag', fieldValue: { type: 'Boolean', boolean: true } },
      { name: 'conds', fieldValue: { type: 'JsonRaw', jsonRaw: '[{"type":"Ready","status":"True"}]' } },
    ]);
    assert.equal(out.errors.length, 2);
    assert.match(out.errors[0] ?? '', /longer than 1024/);
    assert.match(out.errors[1] ?? '', /unsupported JSON path/);
  });

  test('WellKnownStatus on a kind without one is an error', () => {
    const out = feedback({ group: '', version: 'v1', kind: 'ConfigMap' }, {}, [{ type: 'WellKnownStatus' }]);
    assert.deepEqual(out.values, []);
    assert.match(out.errors[0] ?? '', /no well-known status for ConfigMap/);
  });
});

describe('work conditions', () => {
  const m = (name: string, applied: boolean, available: boolean, message = ''): ManifestStatus => ({
    resourceMeta: {
      group: '',
      version: 'v1',
      kind: 'ConfigMap',
      resource: 'configmaps',
      namespace: 'n',
      name,
      ordinal: 0,
    },
    conditions: [
      { type: 'Applied', status: applied ? 'True' : 'False', reason: 'x', message },
      { type: 'Available', status: available ? 'True' : 'False', reason: 'y', message: '' },
    ],
  });
  const get = (cs: ReturnType<typeof workConditions>, t: string) => cs.find((c) => c.type === t);

  test('all good', () => {
    const cs = workConditions([m('a', true, true), m('b', true, true)], 4);
    assert.deepEqual(
      cs.map((c) => [c.type, c.status, c.observedGeneration]),
      [
        ['Applied', 'True', 4],
        ['Available', 'True', 4],
        ['Progressing', 'False', 4],
        ['Degraded', 'False', 4],
      ],
    );
  });

  test('failures: Degraded carries the first messages verbatim, bounded', () => {
    const many = Array.from({ length: 6 }, (_, i) => m(`f${i}`, false, false, `boom ${i}`));
    const cs = workConditions([m('ok', true, false), ...many], 1);
    assert.equal(get(cs, 'Applied')?.status, 'False');
    assert.equal(get(cs, 'Available')?.status, 'False');
    assert.equal(get(cs, 'Progressing')?.status, 'True');
    const d = get(cs, 'Degraded');
    assert.equal(d?.status, 'True');
    assert.equal(d?.message, 'ConfigMap n/f0: boom 0\nConfigMap n/f1: boom 1\nConfigMap n/f2: boom 2\n… and 3 more');
    const huge = workConditions([m('h', false, false, 'z'.repeat(10_000))], 1);
    assert.ok((get(huge, 'Degraded')?.message.length ?? 0) <= 2048);
  });

  test('an empty work is applied and available', () => {
    const cs = workConditions([], 1);
    assert.equal(get(cs, 'Applied')?.status, 'True');
    assert.equal(get(cs, 'Available')?.status, 'True');
  });
});

describe('ignoreFields', () => {
  const desired = { spec: { replicas: 3, template: { x: 1 } } };
  const liveOwnedBy = (...managers: [string, string][]): KubeObject => ({
    metadata: {
      managedFields: managers.map(([manager, operation]) => ({
        manager,
        operation,
        fieldsType: 'FieldsV1',
        fieldsV1: { 'f:spec': { 'f:replicas': {} } },
      })),
    },
    spec: { replicas: 7, template: { x: 1 } },
  });
  const rule = (condition?: 'OnSpokeChange' | 'OnSpokePresent') => [
    { ...(condition ? { condition } : {}), jsonPaths: ['.spec.replicas'] },
  ];
  const replicas = (o: KubeObject) => (o.spec as { replicas?: number }).replicas;

  test('OnSpokeChange: enforced while only the agent owns the field', () => {
    const out = applyIgnoreFields(
      desired,
      liveOwnedBy(['outpost-agent', 'Apply']),
      rule('OnSpokeChange'),
      'outpost-agent',
    );
    assert.equal(replicas(out.body), 3);
    assert.deepEqual(out.actions, [{ path: '.spec.replicas', action: 'kept' }]);
  });

  test('OnSpokeChange: dropped once another manager owns it', () => {
    const out = applyIgnoreFields(desired, liveOwnedBy(['hpa', 'Update']), rule('OnSpokeChange'), 'outpost-agent');
    assert.equal(replicas(out.body), undefined);
    assert.deepEqual(out.actions, [{ path: '.spec.replicas', action: 'dropped' }]);
  });

  test('OnSpokePresent (the default): pinned to the live value while the agent owns it alone', () => {
    const out = applyIgnoreFields(desired, liveOwnedBy(['outpost-agent', 'Apply']), rule(), 'outpost-agent');
    assert.equal(replicas(out.body), 7);
    assert.deepEqual(out.actions, [{ path: '.spec.replicas', action: 'pinned' }]);
  });

  test('OnSpokePresent: dropped when shared with another manager or not the agent’s', () => {
    for (const owners of [
      [['outpost-agent', 'Apply'] as [string, string], ['hpa', 'Update'] as [string, string]],
      [['kubectl', 'Update'] as [string, string]],
    ]) {
      const out = applyIgnoreFields(desired, liveOwnedBy(...owners), rule('OnSpokePresent'), 'outpost-agent');
      assert.equal(replicas(out.body), undefined);
    }
  });

  test('absent on the spoke: the manifest value is applied; the input is never mutated', () => {
    const out = applyIgnoreFields(desired, { spec: {} }, rule(), 'outpost-agent');
    assert.equal(replicas(out.body), 3);
    assert.equal(desired.spec.replicas, 3);
  });
});

describe('discovery', () => {
  const aggregated = {
    kind: 'APIGroupDiscoveryList',
    items: [
      {
        metadata: {},
        versions: [
          {
            version: 'v1',
            resources: [
              { resource: 'configmaps', scope: 'Namespaced', responseKind: { kind: 'ConfigMap' } },
              { resource: 'namespaces', scope: 'Cluster', responseKind: { kind: 'Namespace' } },
            ],
          },
        ],
      },
    ],
  };
  const aggCt = 'application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList';

  test('aggregated discovery, cached; one refresh per pass for an unknown kind, shared', async () => {
    const { rest, calls } = fakeRest((req) =>
      json(200, req.path === '/api' ? aggregated : { kind: 'APIGroupDiscoveryList', items: [] }, aggCt),
    );
    const d = new Discovery(rest, { retry: noRetry, concurrency: 4, registeredGraceMs: 1000 });
    let mark = d.mark();
    const cmv = await d.lookup({ group: '', version: 'v1', kind: 'ConfigMap' }, mark);
    assert.deepEqual(cmv, { group: '', version: 'v1', kind: 'ConfigMap', resource: 'configmaps', namespaced: true });
    assert.equal(calls.length, 2);
    // Unknown kinds in the same pass: no further refresh (the first lookup's counted).
    assert.equal(await d.lookup({ group: 'x.io', version: 'v1', kind: 'X' }, mark), undefined);
    assert.equal(calls.length, 2);
    // Next pass: one refresh, shared by concurrent lookups.
    mark = d.mark();
    const both = await Promise.all([
      d.lookup({ group: 'x.io', version: 'v1', kind: 'X' }, mark),
      d.lookup({ group: 'y.io', version: 'v1', kind: 'Y' }, mark),
    ]);
    assert.deepEqual(both, [undefined, undefined]);
    assert.equal(calls.length, 4);
    // Known kinds never refresh.
    mark = d.mark();
    await d.lookup({ group: '', version: 'v1', kind: 'Namespace' }, mark);
    assert.equal(calls.length, 4);
  });

  test('plain discovery when the apiserver does not aggregate; subresources skipped, broken groups skipped', async () => {
    const { rest } = fakeRest((req) => {
      switch (req.path) {
        case '/api':
          return json(200, { kind: 'APIVersions', versions: ['v1'] });
        case '/apis':
          return json(200, {
            kind: 'APIGroupList',
            groups: [
              { name: 'apps', versions: [{ version: 'v1' }] },
              { name: 'metrics.k8s.io', versions: [{ version: 'v1beta1' }] },
            ],
          });
        case '/api/v1':
          return json(200, {
            resources: [
              { name: 'pods', kind: 'Pod', namespaced: true },
              { name: 'pods/status', kind: 'Pod', namespaced: true },
            ],
          });
        case '/apis/apps/v1':
          return json(200, { resources: [{ name: 'deployments', kind: 'Deployment', namespaced: true }] });
        default:
          return json(503, { message: 'service unavailable' });
      }
    });
    const d = new Discovery(rest, { retry: noRetry, concurrency: 2, registeredGraceMs: 1000 });
    const mark = d.mark();
    assert.equal((await d.lookup({ group: '', version: 'v1', kind: 'Pod' }, mark))?.resource, 'pods');
    assert.equal((await d.lookup({ group: 'apps', version: 'v1', kind: 'Deployment' }, mark))?.resource, 'deployments');
  });

  test('kinds registered from a CRD are found without a refresh', async () => {
    const { rest, calls } = fakeRest(() => json(200, { kind: 'APIGroupDiscoveryList', items: [] }, aggCt));
    const d = new Discovery(rest, { retry: noRetry, concurrency: 2, registeredGraceMs: 1000 });
    await d.refresh();
    d.register(
      mappingsFromCrd({
        spec: {
          group: 'w.io',
          scope: 'Cluster',
          names: { kind: 'W', plural: 'ws' },
          versions: [
            { name: 'v1', served: true },
            { name: 'v0', served: false },
          ],
        },
      }),
    );
    const mark = d.mark();
    assert.deepEqual(await d.lookup({ group: 'w.io', version: 'v1', kind: 'W' }, mark), {
      group: 'w.io',
      version: 'v1',
      kind: 'W',
      resource: 'ws',
      namespaced: false,
    });
    assert.equal(calls.length, 2);
  });
});

describe('deletion', () => {
  const obj = (kind: string, namespace: string, name: string, uid = `uid-${name}`): AppliedObject => ({
    group: kind === 'CustomResourceDefinition' ? 'apiextensions.k8s.io' : kind === 'Widget' ? 'w.io' : '',
    version: 'v1',
    kind,
    resource: `${kind.toLowerCase()}s`,
    namespace,
    name,
    uid,
  });

  test('reverse apply order and every outcome', async () => {
    const { rest, calls } = fakeRest((req) => {
      const name = req.path.split('/').at(-1);
      switch (name) {
        case 'gone':
          return json(404, { kind: 'Status', message: 'not found', reason: 'NotFound' });
        case 'replaced':
          return json(409, {
            kind: 'Status',
            message: 'the UID in the precondition does not match',
            reason: 'Conflict',
          });
        case 'finalized':
          return json(200, {
            kind: 'ConfigMap',
            metadata: { deletionTimestamp: 'now', finalizers: ['example.com/f'] },
          });
        case 'accepted':
          return json(202, { kind: 'Pod', metadata: {} });
        case 'refused':
          return json(403, { kind: 'Status', message: 'forbidden: nope', reason: 'Forbidden' });
        case 'offline':
          throw new KubeUnreachableError('no answer');
        default:
          return json(200, { kind: 'Status', status: 'Success' });
      }
    });
    const objects = [
      obj('Namespace', '', 'ns'),
      obj('CustomResourceDefinition', '', 'crd'),
      obj('Widget', '', 'cluster-widget'),
      obj('ConfigMap', 'ns', 'ok'),
      obj('ConfigMap', 'ns', 'gone'),
      obj('ConfigMap', 'ns', 'replaced'),
      obj('ConfigMap', 'ns', 'finalized'),
      obj('Pod', 'ns', 'accepted'),
      obj('ConfigMap', 'ns', 'refused'),
      obj('ConfigMap', 'ns', 'offline'),
      obj('ConfigMap', 'ns', 'no-uid', ''),
    ];
    const r = await deleteObjects({ rest, concurrency: 1, retry: noRetry, log: quiet }, objects, { foreground: true });
    assert.deepEqual(
      calls.map((c) => c.path.split('/').at(-1)),
      ['ok', 'gone', 'replaced', 'finalized', 'accepted', 'refused', 'offline', 'cluster-widget', 'crd', 'ns'],
    );
    const firstBody = calls[0]?.body as { propagationPolicy?: string; preconditions?: unknown } | undefined;
    assert.deepEqual(firstBody?.preconditions, { uid: 'uid-ok' });
    assert.equal(firstBody?.propagationPolicy, 'Foreground');
    assert.deepEqual(
      r.deleted.map((o) => o.name),
      ['ok', 'gone', 'cluster-widget', 'crd', 'ns'],
    );
    assert.deepEqual(
      r.orphaned.map((o) => o.name),
      ['replaced', 'no-uid'],
    );
    assert.deepEqual(
      r.pending.map((p) => [p.object.name, p.message]),
      [
        ['finalized', 'being deleted, waiting for finalizers: example.com/f'],
        ['accepted', 'being deleted'],
        ['refused', 'forbidden: nope'],
        ['offline', 'no answer'],
      ],
    );
    assert.deepEqual(
      objects.map((o) => applyPhase(o)),
      [0, 1, 2, 3, 3, 3, 3, 3, 3, 3, 3],
    );
  });
});

describe('applier against fakes', () => {
  test('manifestConfigs match by group, resource, namespace (defaulted or as written) and name, * for any', () => {
    const cfg = (namespace: string | undefined, name: string) => ({
      resourceIdentifier: {
        group: 'apps',
        resource: 'deployments',
        ...(namespace === undefined ? {} : { namespace }),
        name,
      },
    });
    const o = { group: 'apps', resource: 'deployments', namespace: 'default', rawNamespace: '', name: 'web' };
    assert.ok(findConfig([cfg('default', 'web')], o));
    assert.ok(findConfig([cfg(undefined, 'web')], o));
    assert.ok(findConfig([cfg('*', '*')], o));
    assert.equal(findConfig([cfg('other', 'web')], o), undefined);
    assert.equal(findConfig([cfg('default', 'api')], o), undefined);
    assert.equal(
      findConfig([{ resourceIdentifier: { group: '', resource: 'deployments', name: 'web' } }], o),
      undefined,
    );
  });

  test('manifestConfigs as OCM writes them: group omitted means the core group, * within names, merged per part', () => {
    const o = { group: '', resource: 'configmaps', namespace: 'ns', rawNamespace: 'ns', name: 'keep-me' };
    const feedbackRules = [{ type: 'JSONPaths' as const, jsonPaths: [{ name: 'v', path: '.data.value' }] }];
    const updateStrategy = { type: 'ReadOnly' as const };
    assert.ok(findConfig([{ resourceIdentifier: { resource: 'configmaps', namespace: 'ns', name: 'keep-me' } }], o));
    assert.ok(findConfig([{ resourceIdentifier: { resource: 'configmaps', namespace: 'n*', name: 'keep-*' } }], o));
    assert.ok(findConfig([{ resourceIdentifier: { resource: 'configmaps', namespace: 'ns', name: '*-me' } }], o));
    assert.equal(
      findConfig([{ resourceIdentifier: { resource: 'configmaps', namespace: 'ns', name: 'keep' } }], o),
      undefined,
    );
    assert.equal(
      findConfig([{ resourceIdentifier: { resource: 'configmaps', name: 'keep-me' } }], o),
      undefined,
      'no namespace: cluster-scoped',
    );
    assert.equal(
      findConfig(
        [{ resourceIdentifier: { group: 'apps', resource: 'configmaps', namespace: 'ns', name: 'keep-me' } }],
        o,
      ),
      undefined,
    );
    // OCM merges every matching entry: the first to set each part decides it.
    const merged = findConfig(
      [
        { resourceIdentifier: { resource: 'configmaps', namespace: '*', name: '*' }, feedbackRules },
        {
          resourceIdentifier: { resource: 'configmaps', namespace: 'ns', name: 'keep-me' },
          updateStrategy,
          feedbackScrapeType: 'Watch',
        },
        {
          resourceIdentifier: { resource: 'configmaps', namespace: 'ns', name: 'keep-me' },
          updateStrategy: { type: 'Update' },
        },
      ],
      o,
    );
    assert.deepEqual(merged?.feedbackRules, feedbackRules);
    assert.deepEqual(merged?.updateStrategy, updateStrategy);
    assert.equal(merged?.feedbackScrapeType, undefined, 'the last match decides the scrape type, as in OCM');
  });

  test('the default update strategy takes declared fields back; an explicit ServerSideApply does not force', () => {
    assert.deepEqual(effectiveStrategy(undefined), {
      type: 'ServerSideApply',
      force: false,
      forceOnConflict: true,
      fieldManager: undefined,
      ignoreFields: [],
    });
    const feedbackOnly = { resourceIdentifier: { resource: 'configmaps', name: 'a' } };
    assert.equal(effectiveStrategy(feedbackOnly).forceOnConflict, true, 'a config without updateStrategy: the default');
    const ssa = effectiveStrategy({ ...feedbackOnly, updateStrategy: { type: 'ServerSideApply' } });
    assert.equal(ssa.force || ssa.forceOnConflict, false);
    const forced = effectiveStrategy({
      ...feedbackOnly,
      updateStrategy: { type: 'ServerSideApply', serverSideApply: { force: true, fieldManager: 'work-agent-x' } },
    });
    assert.equal(forced.force, true);
    assert.equal(forced.fieldManager, 'work-agent-x');
  });

  test('server-side apply that forces on a conflict: one more request, only after a conflict', async () => {
    const conflict = json(409, {
      kind: 'Status',
      reason: 'Conflict',
      message: 'Apply failed with 1 conflict: conflict with "kubectl-patch"',
    });
    const live = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'a', uid: 'u1' }, data: { v: '1' } };
    const input = (rest: KubeRest, forceOnConflict: boolean) => ({
      rest,
      ref: { group: '', version: 'v1', resource: 'configmaps', namespace: 'ns' },
      name: 'a',
      body: live,
      fieldManager: 'outpost-agent',
      force: false,
      forceOnConflict,
      ignoreFields: [],
      retry: noRetry,
    });
    const fought = fakeRest((req) => (req.query?.force === 'true' ? json(200, live) : conflict));
    const taken = await serverSideApply(input(fought.rest, true));
    assert.equal(taken.ok && taken.forced, true);
    assert.deepEqual(
      fought.calls.map((c) => c.query?.force),
      [undefined, 'true'],
    );
    const polite = fakeRest(() => conflict);
    const reported = await serverSideApply(input(polite.rest, false));
    assert.equal(reported.ok, false);
    assert.equal(!reported.ok && reported.reason, 'ApplyConflict');
    assert.equal(polite.calls.length, 1);
    const quietRest = fakeRest(() => json(200, live));
    const plain = await serverSideApply(input(quietRest.rest, true));
    assert.equal(plain.ok && plain.forced, undefined, 'no conflict: not forced');
    assert.equal(quietRest.calls.length, 1);
  });

  test('an unreachable apiserver fails every manifest as ApiServerUnavailable; an abort rejects', async () => {
    const { rest } = fakeRest(() => {
      throw new KubeUnreachableError('connect ECONNREFUSED 127.0.0.1:1');
    });
    const applier = new KubeApplier({ rest, log: quiet }, { retry: noRetry });
    const w = {
      name: 'w',
      uid: 'u',
      generation: 3,
      manifests: [
        { key: 'k', ordinal: 0, manifest: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'a' } } },
        { key: 'k2', ordinal: 1, manifest: { apiVersion: 'v1', kind: 'ConfigMap', metadata: {} } as never },
      ],
    };
    const { status, applied } = await applier.apply(w, []);
    assert.deepEqual(applied, []);
    const [a, b] = status.resourceStatus.manifests;
    assert.equal(a?.conditions[0]?.reason, 'ApiServerUnavailable');
    assert.match(a?.conditions[0]?.message ?? '', /ECONNREFUSED/);
    assert.equal(b?.conditions[0]?.reason, 'ManifestInvalid');
    assert.equal(b?.conditions[0]?.message, 'the manifest has no metadata.name');
    assert.equal(status.observedGeneration, 3);

    const ac = new AbortController();
    ac.abort(new Error('stopping'));
    await assert.rejects(applier.apply(w, [], ac.signal), /stopping/);
  });

  test('mapLimit keeps order and the bound', async () => {
    let inFlight = 0;
    let max = 0;
    const out = await mapLimit([5, 1, 4, 2, 3], 2, async (n) => {
      inFlight++;
      max = Math.max(max, inFlight);
      await new Promise((r) => setImmediate(r));
      inFlight--;
      return n * 10;
    });
    assert.deepEqual(out, [50, 10, 40, 20, 30]);
    assert.equal(max, 2);
  });
});

test('createdByOurApply: our Apply entry carrying the creation time means our apply created the object', () => {
  const received = '2026-11-21T09:59:59.500Z';
  const obj = (entries: { manager: string; operation: string; time: string }[]) => ({
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name: 'x', creationTimestamp: '2026-11-21T10:00:00Z', managedFields: entries },
  });
  const ours = obj([{ manager: 'outpost-agent', operation: 'Apply', time: '2026-11-21T10:00:00Z' }]);
  assert.equal(createdByOurApply(ours, 'outpost-agent', false, received), true);
  // Created in the second the work arrived in (creationTimestamp has whole seconds).
  assert.equal(createdByOurApply(ours, 'outpost-agent', false, '2026-11-21T10:00:00.900Z'), true);
  // Our entry's stamp against the creation at 10:00:00 and the work's arrival.
  const stamped = (time: string, arrived: string) =>
    createdByOurApply(obj([{ manager: 'outpost-agent', operation: 'Apply', time }]), 'outpost-agent', false, arrived);
  // The apiserver stamps our entry before the creation: a second boundary between the two
  // leaves the entry a second older than the object.
  assert.equal(stamped('2026-11-21T09:59:59Z', received), true);
  // An entry stamped before the work arrived is not from this work's apply.
  assert.equal(stamped('2026-11-21T09:59:59Z', '2026-11-21T10:00:00.100Z'), false);
  // An entry stamped after the creation is a later apply that changed fields, not the create.
  assert.equal(stamped('2026-11-21T10:00:01Z', received), false);
  // Nor an entry far older than the object (an object re-created around copied metadata).
  assert.equal(stamped('2026-11-21T09:59:30Z', '2026-11-21T09:59:00Z'), false);
  // Someone else created it; our apply came later.
  assert.equal(
    createdByOurApply(
      obj([
        { manager: 'kubectl-create', operation: 'Update', time: '2026-11-21T10:00:00Z' },
        { manager: 'outpost-agent', operation: 'Apply', time: '2026-11-21T10:05:00Z' },
      ]),
      'outpost-agent',
      false,
      received,
    ),
    false,
  );
  assert.equal(
    createdByOurApply(
      obj([{ manager: 'other', operation: 'Apply', time: '2026-11-21T10:00:00Z' }]),
      'outpost-agent',
      false,
      received,
    ),
    false,
  );
  assert.equal(createdByOurApply(undefined, 'outpost-agent', false, received), false);
});

test('createdByOurApply never claims an object older than the work: left behind by an Orphan delete, or made by another work', () => {
  // Our create of an earlier work left exactly what our own create leaves: only its age tells.
  const ours = {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: {
      name: 'x',
      creationTimestamp: '2026-11-21T10:00:00Z',
      managedFields: [{ manager: 'outpost-agent', operation: 'Apply', time: '2026-11-21T10:00:00Z' }],
    },
  };
  assert.equal(createdByOurApply(ours, 'outpost-agent', false, '2026-11-21T10:00:01Z'), false);
  assert.equal(createdByOurApply(ours, 'outpost-agent', false, '2026-11-22T00:00:00Z'), false);
  // A work stored by an older agent has no arrival time: nothing is claimed this way.
  assert.equal(createdByOurApply(ours, 'outpost-agent', false, undefined), false);
});

test('createdByOurApply never claims an object another manager created or a forced apply took', () => {
  const at = '2026-11-21T10:00:00Z';
  const received = '2026-11-21T09:00:00Z';
  const obj = (entries: { manager: string; operation: string; time: string; subresource?: string }[]) => ({
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name: 'x', creationTimestamp: at, managedFields: entries },
  });
  // Created by someone else in the same second as our apply: their entry is still there.
  const shared = obj([
    { manager: 'someone-else', operation: 'Apply', time: at },
    { manager: 'outpost-agent', operation: 'Apply', time: at },
  ]);
  assert.equal(createdByOurApply(shared, 'outpost-agent', false, received), false);
  // A forced apply may have taken every field from the creator: never claimed that way.
  assert.equal(
    createdByOurApply(
      obj([{ manager: 'outpost-agent', operation: 'Apply', time: at }]),
      'outpost-agent',
      true,
      received,
    ),
    false,
  );
  // A controller writing status does not make the object someone else's.
  const withStatus = obj([
    { manager: 'outpost-agent', operation: 'Apply', time: at },
    { manager: 'kube-controller-manager', operation: 'Update', time: at, subresource: 'status' },
  ]);
  assert.equal(createdByOurApply(withStatus, 'outpost-agent', false, received), true);
});

describe('conditionRules (WellKnownConditions)', () => {
  const job = (conditions: { type: string; status: string }[]) => ({
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: { name: 'j' },
    status: { conditions },
  });
  const jobGvk = { group: 'batch', version: 'v1', kind: 'Job' };
  const rules = [{ type: 'WellKnownConditions' as const, condition: 'Complete' }];

  test('a Job is Complete once Complete or Failed is True; a Pod once it succeeded or failed; others get nothing', () => {
    assert.deepEqual(ruleConditions(jobGvk, job([{ type: 'Complete', status: 'True' }]), rules), [
      { type: 'Complete', status: 'True', reason: 'ConditionRuleEvaluated', message: 'Job is finished' },
    ]);
    assert.equal(ruleConditions(jobGvk, job([{ type: 'Failed', status: 'True' }]), rules)[0]?.status, 'True');
    assert.equal(
      ruleConditions(jobGvk, job([]), [{ type: 'WellKnownConditions' }])[0]?.status,
      'False',
      'Complete by default',
    );
    const pod = { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p' }, status: { phase: 'Succeeded' } };
    assert.deepEqual(
      ruleConditions({ group: '', version: 'v1', kind: 'Pod' }, pod, [{ ...rules[0], message: 'done' } as never]),
      [{ type: 'Complete', status: 'True', reason: 'ConditionRuleEvaluated', message: 'done' }],
    );
    assert.deepEqual(ruleConditions({ group: 'apps', version: 'v1', kind: 'Deployment' }, job([]), rules), []);
    assert.deepEqual(ruleConditions(jobGvk, undefined, rules), [], 'a missing object: no condition');
  });

  test('a manifest whose object is Complete is read, no longer written', async () => {
    let live = job([{ type: 'Complete', status: 'False' }]);
    const { rest, calls } = fakeRest((req) =>
      json(200, req.method === 'GET' ? live : { ...live, metadata: { name: 'j', uid: 'u' } }),
    );
    const input = {
      rest,
      ref: { group: 'batch', version: 'v1', resource: 'jobs', namespace: 'n' },
      name: 'j',
      body: job([]) as KubeObject,
      fieldManager: 'outpost-agent',
      force: false,
      ignoreFields: [],
      retry: noRetry,
    };
    const apply = untilComplete(strategies.ServerSideApply, jobGvk, rules);
    assert.equal((await apply(input)).ok, true);
    assert.deepEqual(
      calls.map((c) => c.method),
      ['GET', 'PATCH'],
    );
    live = job([{ type: 'Complete', status: 'True' }]);
    const done = await apply(input);
    assert.equal(done.ok && done.message, 'complete: no longer updated (conditionRules)');
    assert.deepEqual(
      calls.map((c) => c.method),
      ['GET', 'PATCH', 'GET'],
    );
    assert.equal(
      untilComplete(strategies.ServerSideApply, jobGvk, undefined),
      strategies.ServerSideApply,
      'no rule: no read',
    );
  });

  test('the work carries the rule conditions aggregated: False wins, then Unknown, else True', () => {
    const manifest = (ordinal: number, status: 'True' | 'False') => ({
      resourceMeta: {
        group: 'batch',
        version: 'v1',
        kind: 'Job',
        resource: 'jobs',
        namespace: 'n',
        name: `j${ordinal}`,
        ordinal,
      },
      conditions: [
        { type: 'Applied', status: 'True' as const, reason: 'AppliedManifestComplete', message: '' },
        { type: 'Available', status: 'True' as const, reason: 'ResourceAvailable', message: '' },
        { type: 'Complete', status, reason: 'ConditionRuleEvaluated', message: `j${ordinal}` },
      ],
    });
    const done = workConditions([manifest(0, 'True'), manifest(1, 'True')], 4).find((c) => c.type === 'Complete');
    assert.deepEqual(done, {
      type: 'Complete',
      status: 'True',
      reason: 'ConditionRulesAggregated',
      message: 'Aggregated from 2 manifest conditions',
      observedGeneration: 4,
    });
    assert.equal(aggregateRuleConditions([manifest(0, 'True'), manifest(1, 'False')], 4)[0]?.status, 'False');
    assert.equal(aggregateRuleConditions([manifest(0, 'False')], 4)[0]?.message, 'j0');
  });
});
