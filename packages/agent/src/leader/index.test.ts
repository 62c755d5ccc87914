// Leader election against a real kube-apiserver (test/kube): one leader at a time, a clean
// hand-over on release, a takeover after a crashed leader's lease lapses, and no takeover
// of a lease that is being renewed, whatever the candidate's clock says.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { type KubeCluster, startCluster } from '../../../../test/kube/index.ts';
import type { KubeRest } from '../apply/rest.ts';
import { KubeConfigRest } from '../apply/rest.ts';
import { loadKubeconfigFile } from '../kube/config.ts';
import { LeaderElector } from './index.ts';

let cluster: KubeCluster;
let rest: KubeConfigRest;

before(
  async () => {
    cluster = await startCluster({ name: 'agent-leader' });
    rest = new KubeConfigRest(loadKubeconfigFile(cluster.kubeconfigPath));
    const ns = { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'leader' } };
    assert.equal((await rest.request({ method: 'POST', path: '/api/v1/namespaces', body: ns })).status, 201);
  },
  { timeout: 30 * 60_000 },
);
after(async () => {
  await rest?.close();
  await cluster?.stop();
});

const timing = { leaseDurationMs: 3_000, renewDeadlineMs: 2_000, retryPeriodMs: 250 };
const elector = (identity: string, now?: () => number) =>
  new LeaderElector(rest, { namespace: 'leader', identity, ...timing, ...(now ? { now } : {}) });

async function leaseHolder(): Promise<string | null | undefined> {
  const res = await rest.request({
    method: 'GET',
    path: '/apis/coordination.k8s.io/v1/namespaces/leader/leases/outpost-agent',
  });
  return (res.body as { spec?: { holderIdentity?: string | null } }).spec?.holderIdentity;
}

describe('leader election (real kube-apiserver)', () => {
  test('one leader; a released lease is taken at the next try; a crashed leader after the lease lapses', async () => {
    const a = elector('replica-a');
    const b = elector('replica-b');
    const stopA = new AbortController();
    await a.acquire(stopA.signal);
    assert.equal(await leaseHolder(), 'replica-a');
    const holdingA = a.hold(stopA.signal);

    // B waits while A renews.
    const stopB = new AbortController();
    let bLeads = false;
    const waiters: string[] = [];
    const acquiringB = b
      .acquire(stopB.signal, (h) => waiters.push(h))
      .then(() => {
        bLeads = true;
      });
    await new Promise((r) => setTimeout(r, timing.leaseDurationMs * 1.5));
    assert.equal(bLeads, false, 'a renewed lease must not be taken');
    assert.deepEqual(waiters, ['replica-a']);

    // A stops cleanly: releases; B leads at its next try.
    const released = performance.now();
    stopA.abort();
    assert.equal(await holdingA, 'released');
    await acquiringB;
    const handOverMs = performance.now() - released;
    assert.ok(handOverMs < timing.retryPeriodMs + 1_000, `hand-over took ${handOverMs.toFixed(0)} ms`);
    assert.equal(await leaseHolder(), 'replica-b');

    // B "crashes": it stops renewing without releasing. A takes over once the lease lapses.
    const crashed = performance.now();
    const stopA2 = new AbortController();
    await a.acquire(stopA2.signal);
    const takeoverMs = performance.now() - crashed;
    assert.ok(takeoverMs >= timing.leaseDurationMs - 100, `took over after only ${takeoverMs.toFixed(0)} ms`);
    assert.ok(takeoverMs < timing.leaseDurationMs + 2_000, `takeover took ${takeoverMs.toFixed(0)} ms`);
    assert.equal(await leaseHolder(), 'replica-a');
    console.log(
      `leader election: hand-over on release ${handOverMs.toFixed(0)} ms; takeover after a crash ${takeoverMs.toFixed(0)} ms (lease ${timing.leaseDurationMs} ms)`,
    );

    // A candidate whose clock runs an hour ahead still waits for the holder to go silent.
    const skewed = elector('replica-skewed', () => Date.now() + 3_600_000);
    const stopSkewed = new AbortController();
    const holdingA2 = a.hold(stopA2.signal);
    let skewedLeads = false;
    const acquiringSkewed = skewed.acquire(stopSkewed.signal).then(
      () => {
        skewedLeads = true;
      },
      () => {},
    );
    await new Promise((r) => setTimeout(r, timing.leaseDurationMs * 1.5));
    assert.equal(skewedLeads, false, 'clock skew must not make a second leader');
    stopSkewed.abort();
    await acquiringSkewed;
    stopA2.abort();
    assert.equal(await holdingA2, 'released');
    stopB.abort();
  });

  test('a leader that cannot renew stops leading within the renew deadline', async () => {
    const a = elector('replica-c');
    const stop = new AbortController();
    await a.acquire(stop.signal);
    // Someone else takes the lease by force (an admin, or a partitioned leader's successor).
    const path = '/apis/coordination.k8s.io/v1/namespaces/leader/leases/outpost-agent';
    const lease = (await rest.request({ method: 'GET', path })).body as { spec: Record<string, unknown> };
    lease.spec.holderIdentity = 'replica-d';
    assert.equal((await rest.request({ method: 'PUT', path, body: lease })).status, 200);
    const started = performance.now();
    assert.equal(await a.hold(stop.signal), 'lost');
    assert.ok(performance.now() - started < timing.renewDeadlineMs + 1_000);
  });

  test('a leader whose apiserver hangs stops leading by the renew deadline, not when the request gives up', async () => {
    // Answers normally until `hang` is set, then never answers (until the caller's signal aborts).
    let hang = false;
    const hanging: KubeRest = {
      request: (req) => {
        if (!hang) return rest.request(req);
        return new Promise((_, reject) => {
          req.signal?.addEventListener('abort', () => reject(req.signal?.reason), { once: true });
        });
      },
    };
    const a = new LeaderElector(hanging, { namespace: 'leader', identity: 'replica-e', ...timing });
    const stop = new AbortController();
    await a.acquire(stop.signal);
    const renewedBy = Date.now();
    hang = true;
    assert.equal(await a.hold(stop.signal), 'lost');
    const ledFor = Date.now() - renewedBy;
    // Others may take over leaseDuration after the last renewal; we must have stopped before.
    assert.ok(ledFor <= timing.renewDeadlineMs + 300, `still leading ${ledFor} ms after the last renewal`);
    assert.ok(ledFor < timing.leaseDurationMs);
  });

  test('a Lease someone else already watched lapse is taken at once; one still renewed is not', async () => {
    // A holder that stopped renewing (killed): its Lease names it with an old renewTime.
    const dead = elector('replica-dead');
    const stopDead = new AbortController();
    await dead.acquire(stopDead.signal);
    const got = await rest.request({
      method: 'GET',
      path: '/apis/coordination.k8s.io/v1/namespaces/leader/leases/outpost-agent',
    });
    const spec = (got.body as { spec: { holderIdentity: string; renewTime: string } }).spec;
    stopDead.abort(); // never held, never released: the Lease stays as it is

    // What leave's stop-wait saw: this holder and renewTime, unchanged for a whole lease.
    const taker = elector('replica-leave');
    taker.assumeObserved({ holder: spec.holderIdentity, renewTime: spec.renewTime, at: Date.now() - 3_500 });
    const t0 = Date.now();
    const stop = new AbortController();
    await taker.acquire(stop.signal);
    assert.ok(Date.now() - t0 < 1_000, `took ${Date.now() - t0} ms`);
    assert.equal(await leaseHolder(), 'replica-leave');

    // Seen only just now: a fresh watcher waits a whole lease as usual.
    const late = elector('replica-late');
    late.assumeObserved({ holder: 'replica-leave', renewTime: 'whatever changed since', at: Date.now() });
    const holding = taker.hold(stop.signal);
    const stopLate = new AbortController();
    let lateLeads = false;
    const acquiring = late.acquire(stopLate.signal).then(() => {
      lateLeads = true;
    });
    await new Promise((r) => setTimeout(r, timing.leaseDurationMs * 1.5));
    assert.equal(lateLeads, false, 'a renewed lease is not taken, whatever was assumed');
    stop.abort();
    await holding;
    stopLate.abort();
    await acquiring.catch(() => {});
  });
});
