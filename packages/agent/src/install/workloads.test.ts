// The waits of `join --install` and `leave` against a small fake apiserver (pods, the Lease,
// the DaemonSet) and a fake hub view, with an injected clock: which states end them, which
// keep them waiting, and what the timeouts say.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { ClusterSelfView } from '@outpost/shared';
import type { KubeRequest, KubeResponse, KubeRest } from '../apply/rest.ts';
import { HubError } from '../transport/errors.ts';
import type { AppliedObject, DesiredWork } from '../work/types.ts';
import { type HubWatch, waitForAgent } from './index.ts';
import { installManifests } from './manifests.ts';
import { deleteWorkloads, waitForAgentStopped } from './workloads.ts';

interface World {
  pods: { name: string; deleting?: boolean }[];
  podsForbidden?: boolean;
  lease?: { holderIdentity?: string; renewTime?: string; leaseDurationSeconds?: number };
  ready?: number;
}

/** Answers GETs of pods, the Lease and the DaemonSet from `world`, calling `tick` after each. */
function fakeKube(world: World, tick: () => void): KubeRest {
  return {
    async request(req: KubeRequest): Promise<KubeResponse> {
      tick();
      const json = (body: unknown, status = 200): KubeResponse => ({ status, contentType: 'application/json', body });
      if (req.path.endsWith('/pods')) {
        if (world.podsForbidden) return json({ kind: 'Status', message: 'forbidden' }, 403);
        return json({
          items: world.pods.map((p) => ({
            metadata: { name: p.name, ...(p.deleting ? { deletionTimestamp: '2026-01-01T00:00:00Z' } : {}) },
          })),
        });
      }
      if (req.path.includes('/leases/')) return world.lease ? json({ spec: world.lease }) : json({}, 404);
      if (req.path.includes('/daemonsets/')) {
        return json({ status: { numberReady: world.ready ?? 0, desiredNumberScheduled: 1 } });
      }
      throw new Error(`unexpected ${req.method} ${req.path}`);
    },
  };
}

/** A clock that moves `stepMs` on every apiserver call. */
function clock(stepMs: number) {
  let t = Date.parse('2026-12-01T00:00:00Z');
  return { now: () => t, tick: () => (t += stepMs) };
}

const stopOpts = (c: { now: () => number }, lines: string[], timeoutMs = 60_000) => ({
  timeoutMs,
  progress: (l: string) => lines.push(l),
  now: c.now,
  pollMs: 0,
});

describe('waitForAgentStopped', () => {
  test('a released Lease and no pods: done at once, nothing said', async () => {
    const c = clock(100);
    const lines: string[] = [];
    await waitForAgentStopped(
      fakeKube({ pods: [], lease: { holderIdentity: '' } }, c.tick),
      'ns',
      'outpost-agent',
      stopOpts(c, lines),
    );
    await waitForAgentStopped(fakeKube({ pods: [] }, c.tick), 'ns', 'outpost-agent', stopOpts(c, lines));
    assert.deepEqual(lines, []);
  });

  test('a Lease no one renews is free once its duration passed by our clock (the holder’s clock is not trusted)', async () => {
    const c = clock(1_000);
    const lines: string[] = [];
    const started = c.now();
    // renewTime far in the future by our clock: a holder whose clock runs ahead.
    const world: World = {
      pods: [],
      lease: { holderIdentity: 'a-1', renewTime: '2030-01-01T00:00:00.000000Z', leaseDurationSeconds: 5 },
    };
    await waitForAgentStopped(fakeKube(world, c.tick), 'ns', 'outpost-agent', stopOpts(c, lines));
    const waited = c.now() - started;
    assert.ok(waited >= 5_000 && waited < 10_000, `waited ${waited} ms`);
    assert.match(lines[0] ?? '', /waiting for the agent to stop .*no agent pod left, Lease outpost-agent held by a-1/);
  });

  test('a Lease renewed all along: AGENT_LEAVE_TIMEOUT naming the holder', async () => {
    const c = clock(1_000);
    const world: World = { pods: [], lease: { holderIdentity: 'a-1', leaseDurationSeconds: 5 } };
    const kube = fakeKube(world, () => {
      c.tick();
      world.lease = { ...world.lease, renewTime: new Date(c.now()).toISOString() };
    });
    await assert.rejects(
      waitForAgentStopped(kube, 'ns', 'outpost-agent', stopOpts(c, [], 20_000)),
      (err: Error & { code?: string }) => {
        assert.equal(err.code, 'AGENT_LEAVE_TIMEOUT');
        assert.match(err.message, /Lease outpost-agent held by a-1/);
        assert.match(err.message, /nothing the works applied was touched/);
        return true;
      },
    );
  });

  test('a pod not yet being deleted keeps it waiting; terminating pods do not', async () => {
    const c = clock(1_000);
    const lines: string[] = [];
    const world: World = { pods: [{ name: 'outpost-agent-x1' }, { name: 'outpost-agent-x2', deleting: true }] };
    let calls = 0;
    const kube = fakeKube(world, () => {
      c.tick();
      if (++calls === 6) world.pods[0] = { name: 'outpost-agent-x1', deleting: true };
    });
    await waitForAgentStopped(kube, 'ns', 'outpost-agent', stopOpts(c, lines));
    assert.ok(calls >= 6);
    assert.match(lines[0] ?? '', /pod\(s\) still running: outpost-agent-x1, Lease outpost-agent free/);
  });
});

describe('waitForAgentStopped without the right to list pods', () => {
  test('a 403 on pods leaves the Lease to decide, and says so once', async () => {
    const c = clock(1_000);
    const lines: string[] = [];
    const world: World = { pods: [{ name: 'hidden' }], podsForbidden: true, lease: { holderIdentity: 'a-1' } };
    await waitForAgentStopped(fakeKube(world, c.tick), 'ns', 'outpost-agent', {
      ...stopOpts(c, lines),
      everyMs: 60_000,
    });
    assert.equal(lines.filter((l) => /cannot list pods in ns \(forbidden\)/.test(l)).length, 1);
  });
});

/** Hub timestamps as the hub writes them (toISOString), `s` seconds into the day. */
const T = (s: number) => new Date(Date.parse('2026-12-01T00:00:00Z') + s * 1_000).toISOString();

describe('waitForAgent with the hub', () => {
  const daemonSet = installManifests({ namespace: 'ns' }).find((m) => m.kind === 'DaemonSet');
  assert.ok(daemonSet);
  const view = (lastSeen: string | undefined, available = 'True'): ClusterSelfView => ({
    cluster: 'c1',
    conditions: [{ type: 'Available', status: available as 'True', reason: 'AgentReporting', message: '' }],
    ...(lastSeen ? { lastSeen } : {}),
    serverTime: '2026-12-01T00:00:00.000Z',
  });
  const running = (c: { tick: () => void; now: () => number }): KubeRest => {
    const world: World = { pods: [], ready: 1, lease: { holderIdentity: 'a-1', leaseDurationSeconds: 15 } };
    return fakeKube(world, () => {
      c.tick();
      world.lease = { ...world.lease, renewTime: new Date(c.now()).toISOString() };
    });
  };

  test('Available from the baseline sighting alone is not enough; a newer one ends the wait', async () => {
    const c = clock(500);
    const answers = [view(T(1)), view(T(1)), view(T(2))];
    let reads = 0;
    const hub: HubWatch = {
      cluster: 'c1',
      baseline: T(1),
      read: async () => answers[Math.min(reads++, 2)] as ClusterSelfView,
    };
    const lines: string[] = [];
    await waitForAgent(running(c), daemonSet, { ...stopOpts(c, lines), hub, everyMs: 0 });
    assert.equal(reads, 3);
    assert.match(lines[0] ?? '', /the hub has not heard from an agent of c1 since the install/);
    assert.match(
      lines.at(-1) ?? '',
      /is running and leads \(1 pod\(s\) ready\); the hub reports cluster c1 Available \(agent seen 2026-12-01T00:00:02.000Z\)/,
    );
  });

  test('without a baseline the first answer is one; a hub away keeps it waiting; a refusal ends it', async () => {
    const c = clock(500);
    const lines: string[] = [];
    const seq: (ClusterSelfView | Error)[] = [
      view(T(5)),
      new HubError('AGENT_HUB_UNREACHABLE', 'connect ECONNREFUSED', { status: 0, transient: true }),
      view(T(6), 'Unknown'),
      view(T(7)),
    ];
    let i = 0;
    const hub: HubWatch = {
      cluster: 'c1',
      read: async () => {
        const next = seq[Math.min(i++, seq.length - 1)];
        if (next instanceof Error) throw next;
        return next as ClusterSelfView;
      },
    };
    await waitForAgent(running(c), daemonSet, { ...stopOpts(c, lines), hub, everyMs: 0 });
    assert.equal(hub.baseline, T(5));
    assert.ok(lines.some((l) => /hub unreachable \(connect ECONNREFUSED\)/.test(l)));
    assert.ok(lines.some((l) => /the hub reports cluster c1 Available=Unknown/.test(l)));

    const refused: HubWatch = {
      cluster: 'c1',
      read: async () => {
        throw new HubError('AGENT_CERT_REVOKED', 'revoked', { status: 401, transient: false });
      },
    };
    await assert.rejects(waitForAgent(running(c), daemonSet, { ...stopOpts(c, []), hub: refused }), /revoked/);
  });

  test('a hub without the read (404 NOT_FOUND) leaves the pod and the Lease to decide', async () => {
    const c = clock(500);
    const lines: string[] = [];
    const old: HubWatch = {
      cluster: 'c1',
      read: async () => {
        throw new HubError('NOT_FOUND', 'no route for GET /agent/v1/clusters/c1', { status: 404, transient: false });
      },
    };
    await waitForAgent(running(c), daemonSet, { ...stopOpts(c, lines), hub: old });
    assert.match(lines.at(-1) ?? '', /the hub is too old to report the cluster to its agent/);
  });
});

const obj = (kind: string, name: string, namespace = '', uid = `uid-${name}`): AppliedObject => ({
  group: kind === 'ClusterRole' ? 'rbac.authorization.k8s.io' : '',
  version: 'v1',
  kind,
  resource: `${kind.toLowerCase()}s`,
  namespace,
  name,
  uid,
});
const work = (name: string, deleteOption?: DesiredWork['deleteOption']): DesiredWork => ({
  name,
  uid: `w-${name}`,
  generation: 1,
  manifests: [],
  ...(deleteOption ? { deleteOption } : {}),
});

/** A fake apiserver that records DELETEs and answers each by `answer` (default 200, gone). */
function deletes(answer: (path: string) => KubeResponse | undefined = () => undefined) {
  const seen: { path: string; uid?: string }[] = [];
  const rest: KubeRest = {
    async request(req) {
      assert.equal(req.method, 'DELETE', `${req.method} ${req.path}`);
      seen.push({ path: req.path, uid: (req.body as { preconditions?: { uid?: string } }).preconditions?.uid });
      return answer(req.path) ?? { status: 200, contentType: 'application/json', body: { kind: 'Status' } };
    },
  };
  return { rest, seen };
}
const quiet = { warn() {}, debug() {} };

describe('deleteWorkloads', () => {
  test('each work under its delete option; Namespaces last; UID preconditions; unknown ledgers and the agent’s namespace kept', async () => {
    const { rest, seen } = deletes();
    const works = [
      work('app'),
      work('kept', { propagationPolicy: 'Orphan' }),
      work('some', {
        propagationPolicy: 'SelectivelyOrphan',
        selectivelyOrphans: {
          orphaningRules: [{ group: '', resource: 'configmaps', namespace: 'default', name: 'some-kept' }],
        },
      }),
    ];
    const snap = {
      works: new Map(works.map((w) => [w.name, w])),
      ledger: new Map<string, AppliedObject[]>([
        [
          'w-app',
          [
            obj('Namespace', 'app'),
            obj('ConfigMap', 'web', 'app'),
            obj('ClusterRole', 'reader'),
            obj('Namespace', 'outpost-agent'),
          ],
        ],
        ['w-kept', [obj('ConfigMap', 'kept-all', 'default')]],
        ['w-some', [obj('ConfigMap', 'some-kept', 'default'), obj('ConfigMap', 'some-gone', 'default')]],
        ['w-vanished', [obj('ConfigMap', 'mystery', 'default')]],
        ['w-empty', []],
      ]),
    };
    const lines: string[] = [];
    const r = await deleteWorkloads(rest, snap, {
      installNamespace: 'outpost-agent',
      progress: (l) => lines.push(l),
      log: quiet,
    });
    assert.deepEqual(r, {
      works: 4,
      deleted: 4,
      orphanedByPolicy: 2,
      unknownWork: 1,
      keptContainers: 1,
      notOurs: 0,
      finalizing: 0,
    });
    const paths = seen.map((d) => d.path);
    assert.deepEqual(paths.slice(-1), ['/api/v1/namespaces/app'], 'the Namespace goes last');
    assert.deepEqual([...paths].sort(), [
      '/api/v1/namespaces/app',
      '/api/v1/namespaces/app/configmaps/web',
      '/api/v1/namespaces/default/configmaps/some-gone',
      '/apis/rbac.authorization.k8s.io/v1/clusterroles/reader',
    ]);
    for (const d of seen) assert.equal(d.uid, `uid-${d.path.split('/').at(-1)}`, `${d.path} carries its UID`);
    assert.ok(lines.some((l) => /unknown work \(uid w-vanished\): keeping its 1 object/.test(l)));
    assert.ok(lines.some((l) => /leaving Namespace outpost-agent: the agent's own namespace/.test(l)));
  });

  test('an object that cannot be deleted stops it before any Namespace: AGENT_LEAVE_INCOMPLETE', async () => {
    const { rest, seen } = deletes((path) =>
      path.endsWith('/web')
        ? { status: 403, contentType: 'application/json', body: { kind: 'Status', message: 'forbidden' } }
        : path.endsWith('/gone-already')
          ? { status: 404, contentType: 'application/json', body: { kind: 'Status' } }
          : path.endsWith('/replaced')
            ? { status: 409, contentType: 'application/json', body: { kind: 'Status', message: 'uid mismatch' } }
            : path.endsWith('/stuck-final')
              ? {
                  status: 200,
                  contentType: 'application/json',
                  body: { metadata: { deletionTimestamp: '2026-12-01T00:00:00Z', finalizers: ['x/y'] } },
                }
              : undefined,
    );
    const snap = {
      works: new Map([['app', work('app')]]),
      ledger: new Map([
        [
          'w-app',
          [
            obj('Namespace', 'app'),
            obj('ConfigMap', 'web', 'app'),
            obj('ConfigMap', 'gone-already', 'app'),
            obj('ConfigMap', 'replaced', 'app'),
            obj('ConfigMap', 'stuck-final', 'app'),
            obj('ConfigMap', 'no-uid', 'app', ''),
          ],
        ],
      ]),
    };
    await assert.rejects(
      deleteWorkloads(rest, snap, { installNamespace: 'outpost-agent', progress: () => {}, log: quiet }),
      (err: Error & { code?: string }) => {
        assert.equal(err.code, 'AGENT_LEAVE_INCOMPLETE');
        assert.match(err.message, /1 object\(s\) .* could not be deleted \(first: ConfigMap app\/web: forbidden\)/);
        return true;
      },
    );
    assert.ok(!seen.some((d) => d.path === '/api/v1/namespaces/app'), 'the Namespace was not touched');
    assert.ok(!seen.some((d) => d.path.endsWith('/no-uid')), 'no DELETE without a UID precondition');
  });

  test('what a deletion would take along is kept: Namespaces and CRDs holding kept objects, the cluster’s namespaces; Orphan wins for shared objects', async () => {
    const { rest, seen } = deletes();
    const widget: AppliedObject = {
      group: 'w.io',
      version: 'v1',
      kind: 'Widget',
      resource: 'widgets',
      namespace: 'shared',
      name: 'w1',
      uid: 'uid-w1',
    };
    const crd: AppliedObject = {
      group: 'apiextensions.k8s.io',
      version: 'v1',
      kind: 'CustomResourceDefinition',
      resource: 'customresourcedefinitions',
      namespace: '',
      name: 'widgets.w.io',
      uid: 'uid-widgets.w.io',
    };
    const snap = {
      works: new Map([
        ['infra', work('infra')],
        ['pinned', work('pinned', { propagationPolicy: 'Orphan' })],
      ]),
      ledger: new Map([
        [
          'w-infra',
          [
            crd,
            obj('Namespace', 'shared'),
            obj('Namespace', 'default'),
            obj('Namespace', 'scratch'),
            obj('ConfigMap', 'both', 'shared'),
            obj('ConfigMap', 'tmp', 'scratch'),
          ],
        ],
        ['w-pinned', [widget, obj('ConfigMap', 'both', 'shared')]],
      ]),
    };
    const lines: string[] = [];
    const r = await deleteWorkloads(rest, snap, {
      installNamespace: 'outpost-agent',
      progress: (l) => lines.push(l),
      log: quiet,
    });
    assert.deepEqual(
      seen.map((d) => d.path),
      ['/api/v1/namespaces/scratch/configmaps/tmp', '/api/v1/namespaces/scratch'],
      'only what takes nothing kept along',
    );
    assert.equal(r.deleted, 2);
    assert.equal(r.orphanedByPolicy, 2, 'the Widget and the shared ConfigMap, once');
    assert.equal(r.keptContainers, 3, 'the CRD, Namespace shared and Namespace default');
    assert.ok(
      lines.some((l) =>
        /leaving CustomResourceDefinition\.apiextensions\.k8s\.io widgets\.w\.io: it defines Widget\.w\.io shared\/w1/.test(
          l,
        ),
      ),
    );
    assert.ok(lines.some((l) => /leaving Namespace shared: it holds/.test(l)));
    assert.ok(lines.some((l) => /leaving Namespace default: the cluster needs it/.test(l)));
  });
});
