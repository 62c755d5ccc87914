import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { availableDecisionGroups, planRollout, workSetSummary } from './plan.ts';
import { parseRolloutStrategy } from './strategy.ts';
import type { ClusterWorkStatus, RolloutCluster, RolloutPlan, RolloutPolicy } from './types.ts';

const T = Date.parse('2030-01-01T00:00:00Z');
const MIN = 60_000;

const policy = (spec: unknown): RolloutPolicy => {
  const r = parseRolloutStrategy(spec);
  if (!r.ok) assert.fail(JSON.stringify(r.error.details));
  return r.value;
};

const base: ClusterWorkStatus = {
  dispatched: false,
  applied: false,
  available: false,
  degraded: false,
  updated: false,
  reachable: true,
};
/** Statuses by story: `ago` values are minutes before T. */
const todo = (): ClusterWorkStatus => ({ ...base });
const sent = (ago = 1): ClusterWorkStatus => ({ ...base, dispatched: true, dispatchedAt: T - ago * MIN });
const applying = (ago = 1): ClusterWorkStatus => ({ ...sent(ago), updated: true, applied: true });
const ok = (since = 10, ago = since + 1): ClusterWorkStatus => ({
  ...sent(ago),
  updated: true,
  applied: true,
  available: true,
  succeededSince: T - since * MIN,
});
const degraded = (ago = 1): ClusterWorkStatus => ({ ...applying(ago), degraded: true });
const offline = (s: ClusterWorkStatus, forMinutes: number): ClusterWorkStatus => ({
  ...s,
  reachable: false,
  unreachableSince: T - forMinutes * MIN,
});

const c = (name: string, status: ClusterWorkStatus, groupIndex = 0, groupName = ''): RolloutCluster => ({
  name,
  groupIndex,
  groupName,
  status,
});
const names = (prefix: string, n: number, status: () => ClusterWorkStatus, groupIndex = 0, groupName = '') =>
  Array.from({ length: n }, (_, i) => c(`${prefix}${i}`, status(), groupIndex, groupName));

const buckets = (p: RolloutPlan) => ({
  toRollout: p.toRollout,
  pending: p.pending,
  inProgress: p.inProgress,
  succeeded: p.succeeded,
  failed: p.failed,
  timedOut: p.timedOut,
  skipped: p.skipped,
});
const state = (p: RolloutPlan, name: string) => p.clusters.find((x) => x.name === name);

describe('All', () => {
  it('hands every cluster the template at once', () => {
    const p = planRollout(policy({ type: 'All' }), names('c', 3, todo), T);
    assert.deepEqual(p.toRollout, ['c0', 'c1', 'c2']);
    assert.equal(p.complete, false);
    assert.equal(p.message, 'Rolling out: 0/3 succeeded; 3 to roll out now');
  });

  it('tolerates any number of failures and still rolls out the rest', () => {
    const p = planRollout(
      policy({ type: 'All', all: { progressDeadline: '10m' } }),
      [c('a', ok()), c('b', degraded()), c('c', sent(11)), c('d', todo()), c('e', applying(3))],
      T,
    );
    assert.deepEqual(buckets(p), {
      toRollout: ['d'],
      pending: [],
      inProgress: ['e'],
      succeeded: ['a'],
      failed: ['b'],
      timedOut: ['c'],
      skipped: [],
    });
    assert.equal(p.stopped, false);
    assert.equal(p.failures, 2);
    assert.equal(p.nextEvaluationAt, T + 7 * MIN); // e's deadline
  });

  it('has no soak time: success counts at once', () => {
    const p = planRollout(policy({ type: 'All' }), [c('a', ok(0))], T);
    assert.deepEqual(p.succeeded, ['a']);
    assert.equal(p.complete, true);
    assert.equal(p.message, 'Complete: 1/1 succeeded');
  });

  it('no clusters: nothing to do', () => {
    const p = planRollout(policy({}), [], T);
    assert.equal(p.complete, true);
    assert.equal(p.message, 'No clusters selected');
  });
});

describe('Progressive', () => {
  const concurrency: [number | string, number, number][] = [
    // [maxConcurrency, clusters, handed out now] — percentages round up, as sdk-go's
    [2, 5, 2],
    [1, 5, 1],
    [10, 3, 3],
    ['50%', 5, 3],
    ['25%', 10, 3],
    ['10%', 5, 1],
    ['1%', 200, 2],
    ['33%', 3, 1],
    ['100%', 4, 4],
  ];
  for (const [maxConcurrency, n, want] of concurrency) {
    it(`maxConcurrency ${maxConcurrency} over ${n} clusters hands out ${want}`, () => {
      const p = planRollout(policy({ type: 'Progressive', progressive: { maxConcurrency } }), names('c', n, todo), T);
      assert.equal(p.toRollout.length, want);
      assert.equal(p.pending.length, n - want);
    });
  }

  it('unset maxConcurrency hands out everything', () => {
    assert.equal(planRollout(policy({ type: 'Progressive' }), names('c', 7, todo), T).toRollout.length, 7);
  });

  it('clusters in flight hold their slots; candidates go by group, then name', () => {
    const p = planRollout(
      policy({ type: 'Progressive', progressive: { maxConcurrency: 3 } }),
      [c('a', todo(), 1), c('z', todo(), 0), c('m', applying(), 0), c('b', sent(), 1), c('y', todo(), 0)],
      T,
    );
    assert.deepEqual(p.inProgress, ['m', 'b']);
    assert.deepEqual(p.toRollout, ['y']);
    assert.deepEqual(p.pending, ['z', 'a']);
    assert.match(state(p, 'z')?.reason ?? '', /waiting for a free slot \(maxConcurrency 3\)/);
    // Group 0 before group 1 (sdk-go orders by name only).
    assert.deepEqual(
      p.clusters.map((x) => x.name),
      ['m', 'y', 'z', 'a', 'b'],
    );
  });

  it('minSuccessTime: a soaking cluster holds its slot until the soak ends', () => {
    const strategy = policy({ type: 'Progressive', progressive: { maxConcurrency: 1, minSuccessTime: '5m' } });
    const soaking = planRollout(strategy, [c('a', ok(2)), c('b', todo())], T);
    assert.equal(state(soaking, 'a')?.state, 'Soaking');
    assert.deepEqual(soaking.inProgress, ['a']);
    assert.deepEqual(soaking.toRollout, []);
    assert.equal(soaking.nextEvaluationAt, T + 3 * MIN);
    const soaked = planRollout(strategy, [c('a', ok(5)), c('b', todo())], T);
    assert.deepEqual(soaked.succeeded, ['a']);
    assert.deepEqual(soaked.toRollout, ['b']);
    assert.equal(soaked.nextEvaluationAt, undefined);
  });

  it('a success without succeededSince soaks from now', () => {
    const { succeededSince: _, ...noSince } = ok();
    const p = planRollout(
      policy({ type: 'Progressive', progressive: { minSuccessTime: '90s' } }),
      [c('a', noSince)],
      T,
    );
    assert.equal(state(p, 'a')?.state, 'Soaking');
    assert.equal(p.nextEvaluationAt, T + 90_000);
  });

  it('progressDeadline: not successful in time is TimedOut, a failure that stops the rollout', () => {
    const strategy = policy({ type: 'Progressive', progressive: { maxConcurrency: 1, progressDeadline: '10m' } });
    const before = planRollout(strategy, [c('a', applying(9)), c('b', todo())], T);
    assert.equal(state(before, 'a')?.state, 'Progressing');
    assert.equal(before.nextEvaluationAt, T + MIN);
    const after = planRollout(strategy, [c('a', applying(10)), c('b', todo())], T);
    assert.deepEqual(after.timedOut, ['a']);
    assert.equal(after.stopped, true);
    assert.deepEqual(after.pending, ['b']);
    assert.match(state(after, 'b')?.reason ?? '', /rollout stopped: maxFailures exceeded/);
    assert.equal(after.message, 'Stopped: 1 failure exceed maxFailures 0: 0/2 succeeded; 1 pending; timed out: a');
  });

  it('progressDeadline None waits for ever', () => {
    const p = planRollout(
      policy({ type: 'Progressive', progressive: { progressDeadline: 'None' } }),
      [c('a', sent(60 * 24))],
      T,
    );
    assert.equal(state(p, 'a')?.state, 'Progressing');
    assert.equal(p.nextEvaluationAt, undefined);
  });

  it('a success reached before the deadline is not undone by it', () => {
    const p = planRollout(
      policy({ type: 'Progressive', progressive: { progressDeadline: '10m', minSuccessTime: '10m' } }),
      [c('a', ok(5, 12))],
      T,
    );
    assert.equal(state(p, 'a')?.state, 'Soaking');
  });

  const tolerance: [string, number | string, ClusterWorkStatus[], boolean, number][] = [
    // [name, maxFailures, statuses of 10 clusters' first few, stopped?, resolved maxFailures]
    ['no failures tolerated by default', 0, [degraded()], true, 0],
    ['one failure within maxFailures 1', 1, [degraded()], false, 1],
    ['two failures exceed maxFailures 1', 1, [degraded(), degraded()], true, 1],
    ['20% of 10 clusters tolerates 2', '20%', [degraded(), degraded()], false, 2],
    ['15% of 10 rounds up to 2', '15%', [degraded(), degraded(), degraded()], true, 2],
    ['timeouts count like failures', 1, [degraded(), sent(30)], true, 1],
    ['maxFailures above the cluster count tolerates all', 50, [degraded(), degraded()], false, 10],
  ];
  for (const [name, maxFailures, first, stopped, resolved] of tolerance) {
    it(`maxFailures: ${name}`, () => {
      const clusters = [...first.map((s, i) => c(`f${i}`, s)), ...names('t', 10 - first.length, todo)];
      const p = planRollout(
        policy({ type: 'Progressive', progressive: { maxFailures, maxConcurrency: 1, progressDeadline: '20m' } }),
        clusters,
        T,
      );
      assert.equal(p.stopped, stopped);
      assert.equal(p.maxFailures, resolved);
      assert.equal(p.toRollout.length, stopped ? 0 : 1);
    });
  }

  it('a failed cluster holds no slot, and in-flight clusters carry on after a stop', () => {
    const strategy = policy({ type: 'Progressive', progressive: { maxConcurrency: 2, maxFailures: 1 } });
    const within = planRollout(strategy, [c('a', degraded()), c('b', applying()), c('c', todo()), c('d', todo())], T);
    assert.deepEqual(within.toRollout, ['c']);
    assert.match(state(within, 'a')?.reason ?? '', /degraded/);
    const over = planRollout(strategy, [c('a', degraded()), c('b', degraded()), c('c', applying()), c('d', todo())], T);
    assert.equal(over.stopped, true);
    assert.deepEqual(over.inProgress, ['c']);
    assert.deepEqual(over.pending, ['d']);
  });

  it('a degraded report for an older generation is not a failure', () => {
    const p = planRollout(policy({ type: 'Progressive' }), [c('a', { ...sent(), degraded: true, applied: true })], T);
    assert.equal(state(p, 'a')?.state, 'Progressing');
    assert.equal(p.failures, 0);
  });

  describe('mandatory decision groups', () => {
    const strategy = (extra: Record<string, unknown> = {}) =>
      policy({
        type: 'Progressive',
        progressive: {
          maxConcurrency: 1,
          maxFailures: 5,
          mandatoryDecisionGroups: [{ groupName: 'canary' }],
          ...extra,
        },
      });
    const fleet = (canary: () => ClusterWorkStatus, rest: () => ClusterWorkStatus = todo) => [
      ...names('k', 3, canary, 0, 'canary'),
      ...names('r', 4, rest, 1, ''),
    ];

    it('go first, whole, regardless of maxConcurrency', () => {
      const p = planRollout(strategy(), fleet(todo), T);
      assert.deepEqual(p.toRollout, ['k0', 'k1', 'k2']);
      assert.equal(p.pending.length, 4);
      assert.match(state(p, 'r0')?.reason ?? '', /waiting for mandatory group canary \(#0\)/);
      assert.deepEqual(p.currentGroup, { groupIndex: 0, groupName: 'canary', mandatory: true });
      assert.equal(p.maxFailures, 0);
    });
    it('must all succeed, soak included, before the rest start', () => {
      assert.deepEqual(planRollout(strategy(), fleet(applying), T).toRollout, []);
      assert.deepEqual(
        planRollout(
          strategy({ minSuccessTime: '5m' }),
          fleet(() => ok(1)),
          T,
        ).toRollout,
        [],
      );
      const done = planRollout(
        strategy({ minSuccessTime: '5m' }),
        fleet(() => ok(6)),
        T,
      );
      assert.deepEqual(done.toRollout, ['r0']); // then maxConcurrency 1
      assert.equal(done.maxFailures, 5);
    });
    it('tolerate no failure, whatever maxFailures says', () => {
      const clusters = fleet(ok);
      clusters[1] = c('k1', degraded(), 0, 'canary');
      const p = planRollout(strategy(), clusters, T);
      assert.equal(p.stopped, true);
      assert.deepEqual(p.toRollout, []);
      assert.match(p.message, /^Stopped: mandatory group canary \(#0\) failed on k1/);
    });
    it('can be named by index; several go one group at a time', () => {
      const s = policy({
        type: 'Progressive',
        progressive: { mandatoryDecisionGroups: [{ groupIndex: 2 }, { groupIndex: 0 }] },
      });
      const clusters = [c('a', todo(), 0), c('b', todo(), 1), c('x', todo(), 2)];
      const first = planRollout(s, clusters, T);
      assert.deepEqual(first.toRollout, ['a']);
      assert.match(state(first, 'x')?.reason ?? '', /waiting for mandatory group #0/);
      const second = planRollout(s, [c('a', ok(), 0), c('b', todo(), 1), c('x', todo(), 2)], T);
      assert.deepEqual(second.toRollout, ['x']);
      const rest = planRollout(s, [c('a', ok(), 0), c('b', todo(), 1), c('x', ok(), 2)], T);
      assert.deepEqual(rest.toRollout, ['b']);
    });
  });
});

describe('ProgressivePerGroup', () => {
  const strategy = (extra: Record<string, unknown> = {}) =>
    policy({ type: 'ProgressivePerGroup', progressivePerGroup: { progressDeadline: '30m', ...extra } });
  const groups = (g0: () => ClusterWorkStatus, g1: () => ClusterWorkStatus = todo, g2 = todo) => [
    ...names('a', 4, g0, 0, 'canary'),
    ...names('b', 4, g1, 1),
    ...names('c', 2, g2, 2),
  ];

  it('hands out the first group whole; later groups wait', () => {
    const p = planRollout(strategy(), groups(todo), T);
    assert.deepEqual(p.toRollout, ['a0', 'a1', 'a2', 'a3']);
    assert.equal(p.pending.length, 6);
    assert.match(state(p, 'b0')?.reason ?? '', /waiting for group canary \(#0\)/);
    assert.match(p.message, /^Rolling out group canary \(#0\)/);
  });
  it('moves on only when the group has nothing in flight', () => {
    const clusters = groups(ok);
    clusters[2] = c('a2', applying(), 0, 'canary');
    assert.deepEqual(planRollout(strategy(), clusters, T).toRollout, []);
    assert.deepEqual(planRollout(strategy(), groups(ok), T).toRollout, ['b0', 'b1', 'b2', 'b3']);
    assert.deepEqual(planRollout(strategy(), groups(ok, ok), T).toRollout, ['c0', 'c1']);
    const done = planRollout(strategy(), groups(ok, ok, ok), T);
    assert.equal(done.complete, true);
    assert.equal(done.message, 'Complete: 10/10 succeeded');
  });
  it('maxFailures is resolved over the current group', () => {
    const oneBad = groups(ok);
    oneBad[0] = c('a0', degraded(), 0, 'canary');
    // 25% of 4 = 1 failure tolerated: move on.
    const within = planRollout(strategy({ maxFailures: '25%' }), oneBad, T);
    assert.deepEqual(within.toRollout, ['b0', 'b1', 'b2', 'b3']);
    assert.equal(within.maxFailures, 1);
    // Default 0: stop in group 0.
    const stopped = planRollout(strategy(), oneBad, T);
    assert.equal(stopped.stopped, true);
    assert.deepEqual(stopped.currentGroup, { groupIndex: 0, groupName: 'canary', mandatory: false });
    assert.equal(stopped.pending.length, 6);
    assert.match(stopped.message, /^Stopped: group canary \(#0\): 1 failure exceed maxFailures 0/);
  });
  it('a timeout in the current group stops it too', () => {
    const clusters = groups(ok, ok);
    clusters[9] = c('c1', sent(31), 2);
    const p = planRollout(strategy({ maxFailures: 0 }), clusters, T);
    assert.deepEqual(p.timedOut, ['c1']);
    assert.equal(p.stopped, true);
  });
  it('mandatory groups first, tolerating nothing', () => {
    const s = strategy({ mandatoryDecisionGroups: [{ groupName: 'late' }], maxFailures: 4 });
    const clusters = [...names('a', 2, todo, 0), ...names('z', 2, todo, 1, 'late')];
    assert.deepEqual(planRollout(s, clusters, T).toRollout, ['z0', 'z1']);
    clusters[3] = c('z1', degraded(), 1, 'late');
    assert.equal(planRollout(s, clusters, T).stopped, true);
  });
  it('a split group (one name, several indexes) is mandatory as a whole', () => {
    const s = strategy({ mandatoryDecisionGroups: [{ groupName: 'canary' }] });
    const clusters = [
      ...names('a', 2, ok, 0, 'canary'),
      ...names('b', 2, todo, 1, 'canary'),
      ...names('c', 2, todo, 2),
    ];
    assert.deepEqual(planRollout(s, clusters, T).toRollout, ['b0', 'b1']);
  });
});

describe('offline clusters', () => {
  const progressive = (offlineClusters?: unknown, extra: Record<string, unknown> = {}) =>
    policy({
      type: 'Progressive',
      progressive: { maxConcurrency: 1, progressDeadline: '30m', ...extra },
      ...(offlineClusters ? { offlineClusters } : {}),
    });

  it('are never counted as succeeded, and are listed', () => {
    const p = planRollout(progressive(), [c('a', offline(ok(), 2)), c('b', ok())], T);
    assert.deepEqual(p.succeeded, ['b']);
    assert.deepEqual(p.offline, ['a']);
    assert.equal(state(p, 'a')?.state, 'Progressing');
    assert.match(state(p, 'a')?.reason ?? '', /offline for 2m; last reported successful/);
  });

  it('Wait (default): an offline cluster keeps its slot and the rollout waits', () => {
    const p = planRollout(progressive(), [c('a', offline(ok(), 120)), c('b', todo())], T);
    assert.deepEqual(p.inProgress, ['a']);
    assert.deepEqual(p.toRollout, []);
    // Its success came before it went away, so the deadline does not apply.
    assert.equal(p.timedOut.length, 0);
    assert.equal(p.nextEvaluationAt, undefined);
  });

  it('Wait: an offline cluster that never succeeded times out at the deadline', () => {
    const p = planRollout(progressive(), [c('a', offline(sent(31), 20))], T);
    assert.deepEqual(p.timedOut, ['a']);
    assert.match(state(p, 'a')?.reason ?? '', /not successful within progressDeadline 30m; offline for 20m/);
  });

  it('Wait: an offline cluster is still handed the template in its turn', () => {
    const p = planRollout(policy({ type: 'All' }), [c('a', offline(todo(), 5))], T);
    assert.deepEqual(p.toRollout, ['a']);
    assert.deepEqual(p.offline, ['a']);
  });

  it('Skip: after the timeout it is set aside, neither success nor failure, and frees its slot', () => {
    const s = progressive({ policy: 'Skip', timeout: '10m' });
    const early = planRollout(s, [c('a', offline(sent(), 4)), c('b', todo())], T);
    assert.deepEqual(early.inProgress, ['a']);
    assert.equal(early.nextEvaluationAt, T + 6 * MIN);
    const late = planRollout(s, [c('a', offline(sent(), 11)), c('b', todo()), c('x', offline(todo(), 60))], T);
    assert.deepEqual(late.skipped, ['a', 'x']);
    assert.deepEqual(late.toRollout, ['b']);
    assert.equal(late.failures, 0);
    assert.deepEqual(late.offline, ['a', 'x']);
    assert.match(state(late, 'x')?.reason ?? '', /offline for 1h \(offlineClusters: Skip\)/);
  });

  it('Skip: a skipped cluster is rolled out like any other when it returns', () => {
    const s = progressive({ policy: 'Skip' });
    assert.deepEqual(planRollout(s, [c('x', todo())], T).toRollout, ['x']);
  });

  it('Skip: the rollout can finish around skipped clusters, saying so', () => {
    const p = planRollout(progressive({ policy: 'Skip' }), [c('a', ok()), c('x', offline(todo(), 1))], T);
    assert.equal(p.complete, true);
    assert.equal(p.message, 'Finished with problems: 1/2 succeeded; skipped (offline): x; offline: x');
  });

  it('Skip never applies to mandatory groups: there it waits', () => {
    const s = progressive({ policy: 'Skip' }, { mandatoryDecisionGroups: [{ groupIndex: 0 }] });
    const p = planRollout(s, [c('k', offline(sent(), 60), 0), c('r', todo(), 1)], T);
    assert.equal(state(p, 'k')?.state, 'Progressing');
    assert.deepEqual(p.toRollout, []);
  });

  it('Fail: after the timeout it counts as a failure', () => {
    const s = progressive({ policy: 'Fail', timeout: '5m' }, { maxFailures: 1 });
    const one = planRollout(s, [c('a', offline(sent(), 6)), c('b', todo())], T);
    assert.deepEqual(one.failed, ['a']);
    assert.equal(one.stopped, false);
    assert.deepEqual(one.toRollout, ['b']);
    const two = planRollout(s, [c('a', offline(sent(), 6)), c('b', offline(todo(), 7)), c('c', todo())], T);
    assert.deepEqual(two.failed, ['a', 'b']);
    assert.equal(two.stopped, true);
    assert.match(state(two, 'a')?.reason ?? '', /offline for 6m \(offlineClusters: Fail\)/);
  });

  it('Fail in a mandatory group stops the rollout', () => {
    const s = progressive({ policy: 'Fail' }, { mandatoryDecisionGroups: [{ groupIndex: 0 }], maxFailures: 3 });
    const p = planRollout(s, [c('k', offline(ok(), 1), 0), c('r', todo(), 1)], T);
    assert.equal(p.stopped, true);
  });

  it('unreachable without a since time counts from now', () => {
    const s = progressive({ policy: 'Skip', timeout: '1m' });
    const p = planRollout(s, [c('a', { ...sent(), reachable: false })], T);
    assert.equal(state(p, 'a')?.state, 'Progressing');
    assert.equal(p.nextEvaluationAt, T + MIN);
  });
});

describe('pause, timing and summaries', () => {
  it('paused: plan as usual but hand nothing out', () => {
    const p = planRollout(policy({ type: 'Progressive', progressive: { maxConcurrency: 1 } }), names('c', 3, todo), T, {
      paused: true,
    });
    assert.equal(p.paused, true);
    assert.deepEqual(p.toRollout, []);
    assert.deepEqual(p.pending, ['c0', 'c1', 'c2']);
    assert.match(state(p, 'c0')?.reason ?? '', /^paused/);
    assert.match(state(p, 'c1')?.reason ?? '', /^waiting for a free slot/);
    assert.equal(p.message, 'Paused: 0/3 succeeded; 3 pending');
  });

  it('nextEvaluationAt is the earliest of soak ends, deadlines and offline timeouts', () => {
    const p = planRollout(
      policy({
        type: 'Progressive',
        progressive: { minSuccessTime: '10m', progressDeadline: '30m' },
        offlineClusters: { policy: 'Fail', timeout: '15m' },
      }),
      [c('soak', ok(3)), c('deadline', sent(25)), c('off', offline(sent(1), 12))],
      T,
    );
    assert.deepEqual(
      p.clusters.map((x) => [x.name, x.recheckAt === undefined ? undefined : (x.recheckAt - T) / MIN]),
      [
        ['deadline', 5],
        ['off', 3],
        ['soak', 7],
      ],
    );
    assert.equal(p.nextEvaluationAt, T + 3 * MIN);
  });

  it('is pure: the same inputs give the same plan, whatever the input order', () => {
    const s = policy({ type: 'Progressive', progressive: { maxConcurrency: 2, maxFailures: 1 } });
    const clusters = [c('d', todo(), 1), c('a', degraded()), c('c', applying(), 1), c('b', todo())];
    assert.deepEqual(planRollout(s, clusters, T), planRollout(s, [...clusters].reverse(), T));
  });

  it('workSetSummary and availableDecisionGroups count like OCM', () => {
    const clusters = [
      c('a', ok(), 0),
      c('b', degraded(), 0),
      c('c', applying(), 1),
      c('d', todo(), 2),
      c('e', ok(), 2),
    ];
    assert.deepEqual(workSetSummary(clusters), { total: 5, applied: 4, available: 2, degraded: 1, progressing: 1 });
    assert.equal(availableDecisionGroups(clusters), '0/3');
    assert.equal(availableDecisionGroups([c('a', ok(), 0), c('b', ok(), 1), c('c', todo(), 1)]), '1/2');
  });
});
