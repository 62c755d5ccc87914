// The waits of `join --install` and `leave` against a small fake apiserver (pods, the Lease,
// the DaemonSet) and a fake hub view, with an injected clock: which states end them, which
// keep them waiting, and what the timeouts say.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { ClusterSelfView } from '@outpost/shared';
import type { KubeRequest, KubeResponse, KubeRest } from '../apply/rest.ts';
import { HubError } from '../transport/errors.ts';
import { type HubWatch, waitForAgent } from './index.ts';
import { installManifests } from './manifests.ts';
import { waitForAgentStopped } from './workloads.ts';

interface World {
  pods: { name: string; deleting?: boolean }[];
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
    const answers = [view('T1'), view('T1'), view('T2')];
    let reads = 0;
    const hub: HubWatch = {
      cluster: 'c1',
      baseline: 'T1',
      read: async () => answers[Math.min(reads++, 2)] as ClusterSelfView,
    };
    const lines: string[] = [];
    await waitForAgent(running(c), daemonSet, { ...stopOpts(c, lines), hub, everyMs: 0 });
    assert.equal(reads, 3);
    assert.match(lines[0] ?? '', /the hub has not heard from an agent of c1 since the install/);
    assert.match(
      lines.at(-1) ?? '',
      /is running and leads \(1 pod\(s\) ready\); the hub reports cluster c1 Available \(agent seen T2\)/,
    );
  });

  test('without a baseline the first answer is one; a hub away keeps it waiting; a refusal ends it', async () => {
    const c = clock(500);
    const lines: string[] = [];
    const seq: (ClusterSelfView | Error)[] = [
      view('T5'),
      new HubError('AGENT_HUB_UNREACHABLE', 'connect ECONNREFUSED', { status: 0, transient: true }),
      view('T6', 'Unknown'),
      view('T7'),
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
    assert.equal(hub.baseline, 'T5');
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
});
