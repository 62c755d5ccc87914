import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { KubeObject } from '../apply/kube.ts';
import type { KubeRequest, KubeRest, KubeStreamRest } from '../apply/rest.ts';
import { ManualClock } from '../testing/clock.ts';
import type { AppliedObject, DesiredWork } from '../work/types.ts';
import type { StatusWatchSource } from './status.ts';
import type { keepWatching, WatchHandlers, WatchTarget } from './watch.ts';
import { DriftWatcher, type DriftWatcherOptions, fingerprint, lastEditor } from './watcher.ts';
import { recordWrites } from './writes.ts';

const applied = (kind: string, resource: string, namespace: string, name: string, group = ''): AppliedObject => ({
  group,
  version: 'v1',
  kind,
  resource,
  namespace,
  name,
  uid: `uid-${name}`,
});
const work = (name: string, generation = 1): DesiredWork => ({ name, uid: `w-${name}`, generation, manifests: [] });
const snapshot = (ledger: Record<string, AppliedObject[]>) => ({
  works: new Map(Object.keys(ledger).map((n) => [n, work(n)])),
  ledger: new Map(Object.entries(ledger).map(([n, objects]) => [`w-${n}`, objects])),
});

const agentFields = (time: string) => ({
  manager: 'outpost-agent',
  operation: 'Apply',
  apiVersion: 'v1',
  time,
  fieldsType: 'FieldsV1',
  fieldsV1: { 'f:data': { 'f:value': {} } },
});
const editorFields = (manager: string, time: string, subresource?: string) => ({
  manager,
  operation: 'Update',
  apiVersion: 'v1',
  time,
  fieldsType: 'FieldsV1',
  fieldsV1: { 'f:data': { 'f:value': {} } },
  ...(subresource ? { subresource } : {}),
});
const live = (name: string, rv: string, managedFields: object[], uid = `uid-${name}`): KubeObject => ({
  apiVersion: 'v1',
  kind: 'ConfigMap',
  metadata: { name, namespace: 'shop', uid, resourceVersion: rv, managedFields } as KubeObject['metadata'],
});

function setup(options: Partial<DriftWatcherOptions> = {}, status?: StatusWatchSource) {
  const clock = new ManualClock();
  const watches = new Map<string, { target: WatchTarget; handlers: WatchHandlers; signal: AbortSignal }>();
  let starts = 0;
  const fakeKeepWatching: typeof keepWatching = async (_d, target, handlers, signal) => {
    starts++;
    watches.set(`${target.group}/${target.version}/${target.resource}/${target.namespace}`, {
      target,
      handlers,
      signal,
    });
  };
  const logs: { msg: string; obj: Record<string, unknown> }[] = [];
  const log = (obj: object, msg?: string) => logs.push({ msg: msg ?? '', obj: obj as Record<string, unknown> });
  const watcher = new DriftWatcher({
    rest: {} as KubeStreamRest,
    log: { info: log, warn: log, debug: () => {} },
    clock,
    keepWatching: fakeKeepWatching,
    options,
    ...(status ? { status } : {}),
  });
  const repairs: string[] = [];
  const stop = new AbortController();
  const handlers = (key: string) => {
    const w = watches.get(key);
    assert.ok(w, `no watch ${key}`);
    return w.handlers;
  };
  const cms = () => handlers('/v1/configmaps/shop');
  /** The log entries that announced a re-apply. */
  const detections = () => logs.filter((l) => l.msg === 'drift detected; re-applying the work').map((l) => l.obj);
  return {
    detections,
    clock,
    watcher,
    watches,
    starts: () => starts,
    logs,
    repairs,
    stop,
    cms,
    run: () => watcher.run((uid) => repairs.push(uid), stop.signal),
  };
}

describe('DriftWatcher: which watches', () => {
  test('one per resource and namespace, one per cluster-scoped resource; started and stopped with the ledger', () => {
    const t = setup();
    const ledger = {
      app: [
        applied('Namespace', 'namespaces', '', 'shop'),
        applied('ConfigMap', 'configmaps', 'shop', 'a'),
        applied('ConfigMap', 'configmaps', 'shop', 'b'),
        applied('Deployment', 'deployments', 'shop', 'web', 'apps'),
      ],
      tools: [applied('ConfigMap', 'configmaps', 'tools', 'c')],
    };
    t.watcher.sync(snapshot(ledger));
    assert.equal(t.starts(), 0, 'nothing is watched before run()');
    t.run();
    assert.deepEqual(t.watcher.watching, [
      '/v1/configmaps/shop',
      '/v1/configmaps/tools',
      '/v1/namespaces/',
      'apps/v1/deployments/shop',
    ]);
    const tools = t.watches.get('/v1/configmaps/tools');

    // The tools work is gone; the app work gains a CRD. Running watches are left alone.
    t.watcher.sync(
      snapshot({
        app: [
          ...ledger.app,
          applied('CustomResourceDefinition', 'customresourcedefinitions', '', 'gadgets', 'apiextensions.k8s.io'),
        ],
      }),
    );
    assert.deepEqual(t.watcher.watching, [
      '/v1/configmaps/shop',
      '/v1/namespaces/',
      'apiextensions.k8s.io/v1/customresourcedefinitions/',
      'apps/v1/deployments/shop',
    ]);
    assert.equal(tools?.signal.aborted, true, 'the watch of a resource no longer in the ledger stops');
    assert.equal(t.starts(), 5);

    t.watcher.sync(snapshot({}));
    assert.deepEqual(t.watcher.watching, []);
    t.stop.abort();
    assert.ok([...t.watches.values()].every((w) => w.signal.aborted));
  });
});

test('DriftWatcher: the resources fresh status asks for are watched too, and it is told every object seen', () => {
  const seen: string[] = [];
  let targets = new Map<string, WatchTarget>();
  let changed = () => {};
  const source: StatusWatchSource = {
    targets: () => targets,
    onTargetsChanged: (l) => {
      changed = l;
    },
    observe: (key, o, deleted) => seen.push(`${key} ${o.metadata?.name}${deleted ? ' gone' : ''}`),
    listed: (key, objects) => seen.push(`${key} listed ${objects.length}`),
  };
  const t = setup({}, source);
  t.watcher.sync(snapshot({ app: [applied('ConfigMap', 'configmaps', 'shop', 'a')] }));
  t.run();
  assert.deepEqual(t.watcher.watching, ['/v1/configmaps/shop']);
  const ro = { group: 'apps', version: 'v1', resource: 'deployments', namespace: 'kube-system' };
  targets = new Map([['apps/v1/deployments/kube-system', ro]]);
  changed();
  assert.deepEqual(t.watcher.watching, ['/v1/configmaps/shop', 'apps/v1/deployments/kube-system']);
  const h = t.watches.get('apps/v1/deployments/kube-system')?.handlers;
  h?.listed([]);
  h?.event('MODIFIED', { metadata: { name: 'coredns', uid: 'u-dns', resourceVersion: '7' } });
  t.cms().event('DELETED', live('a', '9', []));
  assert.deepEqual(seen, [
    'apps/v1/deployments/kube-system listed 0',
    'apps/v1/deployments/kube-system coredns',
    '/v1/configmaps/shop a gone',
  ]);
  t.stop.abort();
});

describe('DriftWatcher: what is drift', () => {
  const ledger = {
    app: [applied('ConfigMap', 'configmaps', 'shop', 'a'), applied('ConfigMap', 'configmaps', 'shop', 'b')],
  };

  test('a deleted object of a work: one re-apply of that work after the debounce', async () => {
    const t = setup();
    t.watcher.sync(snapshot(ledger));
    t.run();
    t.cms().listed([live('a', '1', [agentFields('t1')]), live('b', '1', [agentFields('t1')])]);
    t.cms().event('DELETED', live('a', '2', []));
    await t.clock.advance(300);
    t.cms().event('DELETED', live('b', '3', []));
    await t.clock.advance(199);
    assert.deepEqual(t.repairs, []);
    await t.clock.advance(1);
    assert.deepEqual(t.repairs, ['w-app'], 'both deletions, one re-apply, 500 ms after the first');
    assert.deepEqual(t.detections()[0], {
      work: 'app',
      objects: [
        { kind: 'ConfigMap', namespace: 'shop', name: 'a', drift: 'deleted' },
        { kind: 'ConfigMap', namespace: 'shop', name: 'b', drift: 'deleted' },
      ],
    });
    await t.clock.advance(5_000);
    assert.deepEqual(t.repairs, ['w-app']);
  });

  test("the agent's own deletes, and objects of the same name that are not the ledger's, are not drift", async () => {
    const t = setup();
    t.watcher.sync(snapshot(ledger));
    t.run();
    const rest: KubeRest = { request: async () => ({ status: 200, contentType: '', body: {} }) };
    await recordWrites(rest, t.watcher).request({
      method: 'DELETE',
      path: '/api/v1/namespaces/shop/configmaps/a',
      body: { preconditions: { uid: 'uid-a' } },
    } as KubeRequest);
    t.cms().event('DELETED', live('a', '2', []));
    // The agent's own deletion finished: the work that waits for it gets its next pass at
    // once (to finish a deletion held by finalizers), without any debounce, and not as drift.
    assert.deepEqual(t.repairs, ['w-app']);
    t.cms().event('DELETED', live('b', '3', [], 'someone-elses-b'));
    t.cms().event('ADDED', live('b', '4', [editorFields('kubectl', 't2')], 'someone-elses-b'));
    await t.clock.advance(10_000);
    assert.deepEqual(t.repairs, ['w-app'], 'nothing more: not drift');
    assert.deepEqual(t.detections(), []);
  });

  test("an edit by another manager is drift; the agent's own writes and status updates are not", async () => {
    const t = setup();
    t.watcher.sync(snapshot(ledger));
    t.run();
    t.cms().listed([live('a', '1', [agentFields('t1')]), live('b', '1', [agentFields('t1')])]);
    // A controller writes status (a subresource): not drift.
    t.cms().event('MODIFIED', live('a', '2', [agentFields('t1'), editorFields('ctrl', 't2', 'status')]));
    // The agent's own write, and its event.
    const mine = live('a', '3', [agentFields('t3'), editorFields('ctrl', 't2', 'status')]);
    t.watcher.wrote(mine, false);
    t.cms().event('MODIFIED', mine);
    await t.clock.advance(10_000);
    assert.deepEqual(t.repairs, []);

    // kubectl edit takes data.value over.
    t.cms().event(
      'MODIFIED',
      live('a', '4', [{ ...agentFields('t3'), fieldsV1: {} }, editorFields('kubectl-edit', 't4')]),
    );
    await t.clock.advance(500);
    assert.deepEqual(t.repairs, ['w-app']);
    assert.deepEqual((t.detections()[0]?.objects as object[] | undefined)?.[0], {
      kind: 'ConfigMap',
      namespace: 'shop',
      name: 'a',
      drift: 'modified',
      by: 'kubectl-edit',
    });
  });

  test('a relist that misses an object of the ledger, or shows it edited, is drift', async () => {
    const t = setup();
    t.watcher.sync(snapshot(ledger));
    t.run();
    t.cms().listed([live('a', '1', [agentFields('t1')]), live('b', '1', [agentFields('t1')])]);
    // After 410 Gone: a is gone, b was edited while the watch was away.
    t.cms().listed([live('b', '9', [agentFields('t1'), editorFields('kubectl', 't9')])]);
    await t.clock.advance(500);
    assert.deepEqual(t.repairs, ['w-app']);
    const objects = (t.detections()[0]?.objects ?? []) as { name: string; drift: string }[];
    assert.deepEqual(
      objects.map((o) => `${o.name} ${o.drift}`),
      ['b modified', 'a deleted'],
    );
  });

  test('an object that drifts again right after each repair waits twice as long each time', async () => {
    const t = setup({ debounceMs: 500, fightWindowMs: 5_000, maxDelayMs: 2_000 });
    t.watcher.sync(snapshot(ledger));
    t.run();
    t.cms().listed([live('a', '1', [agentFields('t1')])]);
    const waits: number[] = [];
    let rv = 1;
    for (let round = 0; round < 5; round++) {
      t.cms().event('MODIFIED', live('a', String(++rv), [editorFields('fighter', `f${rv}`)]));
      const before = t.clock.now();
      const repaired = t.repairs.length;
      while (t.repairs.length === repaired) await t.clock.advance(100);
      waits.push(t.clock.now() - before);
      // The repair (a forced apply) writes; the fighter answers 100 ms later.
      t.watcher.wrote(live('a', String(++rv), [agentFields(`a${rv}`)]), false);
      await t.clock.advance(100);
    }
    assert.deepEqual(waits, [500, 1_000, 2_000, 2_000, 2_000]);
    // Quiet for longer than the fight window: back to the debounce.
    await t.clock.advance(6_000);
    t.cms().event('MODIFIED', live('a', String(++rv), [editorFields('someone', `s${rv}`)]));
    await t.clock.advance(500);
    assert.equal(t.repairs.length, 6);
  });

  test('a timer that ends a little early still repairs, and later drift of the work is repaired too', async () => {
    // Node's timers count from the event loop's cached time, so one set after a busy moment
    // can end a few ms before Date.now() reaches its due time.
    const t = setup({ debounceMs: 500 });
    t.clock.early = 3;
    t.watcher.sync(snapshot(ledger));
    t.run();
    t.cms().listed([live('a', '1', [agentFields('t1')]), live('b', '1', [agentFields('t1')])]);
    t.cms().event('DELETED', live('a', '2', []));
    await t.clock.advance(497);
    assert.deepEqual(t.repairs, [], 'not due yet');
    await t.clock.advance(3);
    assert.deepEqual(t.repairs, ['w-app'], 'repaired when due');
    t.cms().event('MODIFIED', live('b', '3', [editorFields('kubectl-patch', 't2')]));
    await t.clock.advance(500);
    assert.deepEqual(t.repairs, ['w-app', 'w-app'], 'the next drift of the work is repaired as well');
  });
});

describe('DriftWatcher: corrections', () => {
  const a = applied('ConfigMap', 'configmaps', 'shop', 'a');

  test('recreated and restored objects count, cumulatively; first applies, no-op re-applies and new generations do not', async () => {
    const t = setup();
    const w = work('app');
    t.run();

    // First apply: creates a.
    let probe = t.watcher.applying(w, []);
    t.watcher.wrote(live('a', '1', [agentFields('t1')]), true);
    assert.equal(probe.done([a]), 0);
    t.watcher.sync(snapshot({ app: [a] }));
    t.cms().listed([live('a', '1', [agentFields('t1')])]);

    // Deleted by hand, recreated under a new UID.
    t.cms().event('DELETED', live('a', '2', []));
    probe = t.watcher.applying(w, [a]);
    t.watcher.wrote(live('a', '3', [agentFields('t3')], 'uid-a2'), true);
    const a2 = { ...a, uid: 'uid-a2' };
    assert.equal(probe.done([a2]), 1);
    t.watcher.sync(snapshot({ app: [a2] }));

    // A label nobody applied: suspected, but the re-apply changes nothing (the apiserver
    // answers the object as it is).
    const labelled = live(
      'a',
      '4',
      [agentFields('t3'), { ...editorFields('kubectl-label', 't4'), fieldsV1: {} }],
      'uid-a2',
    );
    t.cms().event('MODIFIED', labelled);
    probe = t.watcher.applying(w, [a2]);
    t.watcher.wrote(labelled, false);
    assert.equal(probe.done([a2]), 1);

    // The value taken over by hand, then the apply takes it back (forced): restored.
    t.cms().event(
      'MODIFIED',
      live('a', '5', [{ ...agentFields('t3'), fieldsV1: {} }, editorFields('kubectl-edit', 't5')], 'uid-a2'),
    );
    probe = t.watcher.applying(w, [a2]);
    t.watcher.wrote(live('a', '6', [agentFields('t6')], 'uid-a2'), false);
    assert.equal(probe.done([a2]), 2);

    // Edited again, but the next apply is of a new generation: a change, not a correction.
    t.cms().event(
      'MODIFIED',
      live('a', '7', [{ ...agentFields('t6'), fieldsV1: {} }, editorFields('kubectl-edit', 't7')], 'uid-a2'),
    );
    probe = t.watcher.applying(work('app', 2), [a2]);
    t.watcher.wrote(live('a', '8', [agentFields('t8')], 'uid-a2'), false);
    assert.equal(probe.done([a2]), 2);

    assert.deepEqual(
      t.logs.filter((l) => l.msg === 'drift corrected').map((l) => l.obj),
      [
        { work: 'app', kind: 'ConfigMap', namespace: 'shop', name: 'a', how: 'recreated' },
        { work: 'app', kind: 'ConfigMap', namespace: 'shop', name: 'a', how: 'restored' },
      ],
    );
  });

  test("the event of the agent's own write arriving before its answer neither triggers a repair nor hides the correction", async () => {
    const t = setup();
    const w = work('app');
    t.run();
    let probe = t.watcher.applying(w, []);
    t.watcher.wrote(live('a', '1', [agentFields('t1')]), true);
    probe.done([a]);
    t.watcher.sync(snapshot({ app: [a] }));
    t.cms().listed([live('a', '1', [agentFields('t1')])]);

    t.cms().event(
      'MODIFIED',
      live('a', '2', [{ ...agentFields('t1'), fieldsV1: {} }, editorFields('kubectl-edit', 't2')]),
    );
    // A periodic re-apply runs before the debounce ends; its write's event comes first.
    probe = t.watcher.applying(w, [a]);
    const repaired = live('a', '3', [agentFields('t3')]);
    t.cms().event('MODIFIED', repaired);
    t.watcher.wrote(repaired, false);
    assert.equal(probe.done([a]), 1);
    await t.clock.advance(5_000);
    assert.deepEqual(t.repairs, [], 'repaired meanwhile: no second re-apply');
  });
});

describe('fingerprint and lastEditor', () => {
  test('only the main resource counts; without managedFields the resourceVersion does', () => {
    const base = live('a', '1', [agentFields('t1')]);
    assert.equal(
      fingerprint(base),
      fingerprint(live('a', '2', [agentFields('t1'), editorFields('ctrl', 't2', 'status')])),
    );
    assert.notEqual(fingerprint(base), fingerprint(live('a', '2', [agentFields('t2')])));
    assert.notEqual(fingerprint(live('a', '1', [])), fingerprint(live('a', '2', [])));
    assert.equal(
      lastEditor(
        live('a', '3', [
          editorFields('old', '2026-01-01T00:00:00Z'),
          editorFields('new', '2026-01-02T00:00:00Z'),
          agentFields('2026-01-03T00:00:00Z'),
        ]),
        'outpost-agent',
      ),
      'new',
    );
  });
});
