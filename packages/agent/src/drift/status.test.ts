import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { ManifestConfig, WorkStatus } from '@outpost/shared';
import type { KubeObject } from '../apply/kube.ts';
import { manifestConditions, reasons, workConditions } from '../apply/status.ts';
import { ManualClock } from '../testing/clock.ts';
import type { DesiredWork } from '../work/types.ts';
import { keptBody, refreshedStatus, StatusRefresher } from './status.ts';
import { targetKey } from './watch.ts';

const deployment = (ready: number, generation = 1): KubeObject => ({
  apiVersion: 'apps/v1',
  kind: 'Deployment',
  metadata: { name: 'web', namespace: 'app', generation, uid: 'u-web' },
  spec: { replicas: 2 },
  status: {
    observedGeneration: generation,
    replicas: 2,
    updatedReplicas: 2,
    availableReplicas: ready,
    readyReplicas: ready,
  },
});
const gvk = { group: 'apps', version: 'v1', kind: 'Deployment' };
const target = { group: 'apps', version: 'v1', resource: 'deployments', namespace: 'app' };
const key = targetKey(target);
const config = (scrape?: 'Poll' | 'Watch'): ManifestConfig => ({
  resourceIdentifier: { group: 'apps', resource: 'deployments', namespace: 'app', name: 'web' },
  feedbackRules: [{ type: 'WellKnownStatus' }],
  ...(scrape ? { feedbackScrapeType: scrape } : {}),
});
const work = (scrape?: 'Poll' | 'Watch'): DesiredWork => ({
  name: 'w',
  uid: 'w-uid',
  generation: 3,
  manifests: [
    {
      key: 'apps|Deployment|app|web',
      ordinal: 0,
      manifest: { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'web', namespace: 'app' } },
    },
  ],
  manifestConfigs: [config(scrape)],
});
/** The status an apply reports for the Deployment as `live`. */
function applied(live: KubeObject, scrape?: 'Poll' | 'Watch'): WorkStatus {
  const conds = manifestConditions({
    applied: { ok: true, reason: reasons.applied, message: 'applied by server-side apply' },
    live,
    liveKnown: true,
    gvk,
    feedbackRules: config(scrape).feedbackRules,
  });
  const manifests = [
    { resourceMeta: { ...gvk, resource: 'deployments', namespace: 'app', name: 'web', ordinal: 0 }, ...conds },
  ];
  return {
    conditions: workConditions(manifests, 3),
    resourceStatus: { manifests },
    observedGeneration: 3,
    corrections: 2,
  };
}
const cond = (s: WorkStatus | undefined, type: string) => s?.conditions.find((c) => c.type === type)?.status;
const ready = (s: WorkStatus | undefined) =>
  s?.resourceStatus.manifests[0]?.statusFeedback?.values.find((v) => v.name === 'ReadyReplicas')?.fieldValue.integer;

describe('refreshedStatus', () => {
  test('Available and work conditions follow the object; Applied, corrections and other conditions stay', () => {
    const last = applied(deployment(0), 'Watch');
    last.conditions.push({ type: 'DeletionsHeld', status: 'True', reason: 'MassDeleteBreaker', message: 'held' });
    const next = refreshedStatus(last, new Map([[0, { live: deployment(2) }]]), new Map([[0, config('Watch')]]), false);
    assert.equal(cond(last, 'Available'), 'False');
    assert.equal(cond(next, 'Available'), 'True');
    assert.equal(cond(next, 'Progressing'), 'False');
    assert.equal(cond(next, 'DeletionsHeld'), 'True');
    assert.equal(next.corrections, 2);
    assert.equal(ready(next), 2, 'Watch: feedback follows at once');
    assert.deepEqual(
      next.resourceStatus.manifests[0]?.conditions.map((c) => c.type),
      last.resourceStatus.manifests[0]?.conditions.map((c) => c.type),
    );
  });

  test('an unchanged object yields the status the apply reported', () => {
    const last = applied(deployment(2), 'Watch');
    const next = refreshedStatus(last, new Map([[0, { live: deployment(2) }]]), new Map([[0, config('Watch')]]), false);
    assert.equal(next, last, 'the same status, not a copy');
  });

  test('Poll keeps the last feedback values until the scrape is due; a gone object is not available', () => {
    const last = applied(deployment(0));
    const observed = new Map([[0, { live: deployment(2) }]]);
    const between = refreshedStatus(last, observed, new Map([[0, config()]]), false);
    assert.equal(cond(between, 'Available'), 'True');
    assert.equal(ready(between), 0);
    assert.equal(ready(refreshedStatus(last, observed, new Map([[0, config()]]), true)), 2);
    const gone = refreshedStatus(last, new Map([[0, { live: undefined }]]), new Map([[0, config()]]), false);
    assert.equal(cond(gone, 'Available'), 'False');
  });
});

test("a Job's completion: the manifest's and the work's Complete condition follow, once", () => {
  const jobGvk = { group: 'batch', version: 'v1', kind: 'Job' };
  const job = (complete: boolean): KubeObject => ({
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: { name: 'j', namespace: 'app' },
    status: { conditions: [{ type: 'Complete', status: complete ? 'True' : 'False' }] },
  });
  const cfg: ManifestConfig = {
    resourceIdentifier: { group: 'batch', resource: 'jobs', namespace: 'app', name: 'j' },
    conditionRules: [{ type: 'WellKnownConditions', condition: 'Complete' }],
  };
  const conds = manifestConditions({
    applied: { ok: true, reason: reasons.applied, message: '' },
    live: job(false),
    liveKnown: true,
    gvk: jobGvk,
    conditionRules: cfg.conditionRules,
  });
  const manifests = [
    { resourceMeta: { ...jobGvk, resource: 'jobs', namespace: 'app', name: 'j', ordinal: 0 }, ...conds },
  ];
  const last: WorkStatus = {
    conditions: workConditions(manifests, 1),
    resourceStatus: { manifests },
    observedGeneration: 1,
  };
  assert.equal(cond(last, 'Complete'), 'False');
  const next = refreshedStatus(last, new Map([[0, { live: job(true) }]]), new Map([[0, cfg]]), false);
  assert.equal(cond(next, 'Complete'), 'True');
  assert.equal(next.conditions.filter((c) => c.type === 'Complete').length, 1);
  assert.equal(
    next.resourceStatus.manifests[0]?.conditions.find((c) => c.type === 'Complete')?.message,
    'Job is finished',
  );
});

describe('StatusRefresher', () => {
  const setup = (scrape?: 'Poll' | 'Watch') => {
    const clock = new ManualClock();
    const refresher = new StatusRefresher({ clock });
    const refreshes: number[] = [];
    const stop = new AbortController();
    let targetsChanged = 0;
    refresher.onTargetsChanged(() => targetsChanged++);
    refresher.run(() => refreshes.push(clock.now()), stop.signal);
    const w = work(scrape);
    refresher.reported(w, applied(deployment(0), scrape), false);
    return { clock, refresher, refreshes, stop, w, targetsChanged: () => targetsChanged };
  };

  test("watches every manifest's resource, and forgets a work that leaves", () => {
    const { refresher, w, targetsChanged, stop } = setup();
    assert.deepEqual([...refresher.targets().keys()], [key]);
    assert.equal(targetsChanged(), 1);
    refresher.reported({ ...w, deleting: true }, applied(deployment(0)), false);
    assert.equal(refresher.targets().size, 0);
    stop.abort();
  });

  test('a burst of events is one refresh; the next waits for the minimum interval', async () => {
    const { clock, refresher, refreshes, w, stop } = setup('Watch');
    for (let i = 0; i < 5; i++) refresher.observe(key, deployment(1), false);
    refresher.observe(key, { ...deployment(1), metadata: { name: 'other' } }, false);
    await clock.advance(49);
    assert.deepEqual(refreshes, []);
    await clock.advance(1);
    assert.deepEqual(refreshes, [50]);
    assert.equal(cond(refresher.compute(w), 'Available'), 'False');
    refresher.observe(key, deployment(2), false);
    await clock.advance(1_000);
    assert.deepEqual(refreshes, [50, 550]);
    const next = refresher.compute(w);
    assert.equal(cond(next, 'Available'), 'True');
    assert.equal(ready(next), 2);
    assert.equal(refresher.compute(w), undefined, 'nothing seen since: nothing to compute');
    refresher.observe(key, deployment(1), false);
    assert.equal(refresher.compute({ ...w, generation: 4 }), undefined, 'a newer generation: the apply reports');
    stop.abort();
  });

  test('a new report of the work keeps what was seen of its objects; a work gone forgets them', () => {
    const { refresher, w, stop, targetsChanged } = setup('Watch');
    refresher.observe(key, deployment(2), false);
    refresher.reported(w, applied(deployment(0), 'Watch'), false);
    assert.equal(targetsChanged(), 1, 'the same targets: no watch change');
    assert.equal(cond(refresher.compute(w), 'Available'), 'True', 'the state seen before the report');
    refresher.reported(w, applied(deployment(0), 'Watch'), true);
    assert.equal(refresher.targets().size, 0);
    refresher.reported(w, applied(deployment(0), 'Watch'), false);
    refresher.observe(key, { ...deployment(0), metadata: { name: 'web' } }, false);
    assert.equal(cond(refresher.compute(w), 'Available'), undefined, 'nothing new against the report');
    stop.abort();
  });

  test('Poll: feedback scraped on the timer', async () => {
    const { clock, refresher, refreshes, w, stop } = setup();
    refresher.observe(key, deployment(2), false);
    await clock.advance(100);
    assert.equal(refreshes.length, 1);
    const first = refresher.compute(w);
    assert.equal(cond(first, 'Available'), 'True');
    assert.equal(ready(first), 0);
    await clock.advance(30_000);
    assert.equal(refreshes.length, 2);
    assert.equal(ready(refresher.compute(w)), 2);
    stop.abort();
  });

  test('a list that lacks an object means it is gone', async () => {
    const { clock, refresher, refreshes, w, stop } = setup();
    refresher.listed(key, []);
    await clock.advance(100);
    assert.equal(refreshes.length, 1);
    const status = refresher.compute(w);
    assert.equal(
      status?.resourceStatus.manifests[0]?.conditions.find((c) => c.type === 'Available')?.reason,
      reasons.notFound,
    );
    stop.abort();
  });
});

test('keptBody: managedFields never; a CRD keeps no spec, known by its watch even as a list item without kind', () => {
  const crdTarget = {
    group: 'apiextensions.k8s.io',
    version: 'v1',
    resource: 'customresourcedefinitions',
    namespace: '',
  };
  // The items of a list response carry no apiVersion or kind.
  const listed: KubeObject = {
    metadata: { name: 'gadgets.example.com', uid: 'u-crd', managedFields: [{ manager: 'outpost-agent' }] },
    spec: { group: 'example.com', versions: [{ name: 'v1', schema: { openAPIV3Schema: { type: 'object' } } }] },
    status: { conditions: [{ type: 'Established', status: 'True' }] },
  } as KubeObject;
  const crd = keptBody(listed, crdTarget);
  assert.equal(crd.spec, undefined);
  assert.equal(crd.metadata?.managedFields, undefined);
  assert.deepEqual(crd.status, listed.status);
  assert.equal(crd.metadata?.name, 'gadgets.example.com');

  const kept = keptBody({ ...deployment(2), metadata: { ...deployment(2).metadata, managedFields: [] } }, target);
  assert.deepEqual(kept.spec, { replicas: 2 }, 'other kinds keep their spec: readiness and feedback read it');
  assert.equal(kept.metadata?.managedFields, undefined);
});
