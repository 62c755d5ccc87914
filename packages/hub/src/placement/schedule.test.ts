import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { toClusterView } from './cluster-view.ts';
import {
  compilePlacement,
  decisionCounts,
  matchesPredicates,
  type ScoreBreakdown,
  schedulePlacement,
  scoreClusters,
} from './schedule.ts';
import { placementStatus, selectedClusters } from './status.ts';
import type { ClusterView, Placement, ScheduleContext, TaintView } from './types.ts';
import { validatePlacement } from './validate.ts';
import { parseQuantity, resolveIntOrPercent } from './values.ts';

const T = Date.parse('2030-01-01T00:00:00Z');

const cluster = (
  name: string,
  labels: Record<string, string> = {},
  claims: Record<string, string> = {},
  taints: TaintView[] = [],
): ClusterView => ({ name, labels, claims, taints });

const place = (spec: Record<string, unknown>): Placement => {
  const r = validatePlacement({ metadata: { name: 'p' }, spec });
  if (!r.ok) assert.fail(JSON.stringify(r.error.details));
  return r.value;
};

const run = (spec: Record<string, unknown>, clusters: ClusterView[], ctx: Partial<ScheduleContext> = {}) =>
  schedulePlacement(place(spec), clusters, { now: T, ...ctx });

const fleet = [
  cluster('a', { env: 'prod', region: 'eu' }, { kubeversion: 'v1.30', cpu: '8' }),
  cluster('b', { env: 'prod', region: 'us' }, { kubeversion: 'v1.29', cpu: '16' }),
  cluster('c', { env: 'dev', region: 'eu' }, { cpu: '4' }),
  cluster('d', { env: 'dev' }),
  cluster('e', {}, { kubeversion: 'v1.30', cpu: 'lots' }),
];

const labelPredicate = (labelSelector: unknown) => ({ requiredClusterSelector: { labelSelector } });
const claimPredicate = (...matchExpressions: unknown[]) => ({
  requiredClusterSelector: { claimSelector: { matchExpressions } },
});

describe('predicates: OR across predicates, AND inside, Kubernetes selector semantics', () => {
  const cases: [string, unknown[], string[]][] = [
    ['no predicates select every cluster', [], ['a', 'b', 'c', 'd', 'e']],
    [
      'an empty requiredClusterSelector matches every cluster',
      [{ requiredClusterSelector: {} }],
      ['a', 'b', 'c', 'd', 'e'],
    ],
    ['matchLabels', [labelPredicate({ matchLabels: { env: 'prod' } })], ['a', 'b']],
    ['two matchLabels are ANDed', [labelPredicate({ matchLabels: { env: 'prod', region: 'eu' } })], ['a']],
    ['In', [labelPredicate({ matchExpressions: [{ key: 'region', operator: 'In', values: ['us', 'ap'] }] })], ['b']],
    [
      'NotIn also matches clusters without the label',
      [labelPredicate({ matchExpressions: [{ key: 'region', operator: 'NotIn', values: ['eu'] }] })],
      ['b', 'd', 'e'],
    ],
    ['Exists', [labelPredicate({ matchExpressions: [{ key: 'region', operator: 'Exists' }] })], ['a', 'b', 'c']],
    ['DoesNotExist', [labelPredicate({ matchExpressions: [{ key: 'region', operator: 'DoesNotExist' }] })], ['d', 'e']],
    [
      'matchLabels and matchExpressions are ANDed',
      [labelPredicate({ matchLabels: { env: 'dev' }, matchExpressions: [{ key: 'region', operator: 'Exists' }] })],
      ['c'],
    ],
    [
      'predicates are ORed',
      [labelPredicate({ matchLabels: { region: 'us' } }), labelPredicate({ matchLabels: { env: 'dev' } })],
      ['b', 'c', 'd'],
    ],
    ['claim In', [claimPredicate({ key: 'kubeversion', operator: 'In', values: ['v1.30'] })], ['a', 'e']],
    [
      'claim NotIn matches clusters without the claim',
      [claimPredicate({ key: 'kubeversion', operator: 'NotIn', values: ['v1.30'] })],
      ['b', 'c', 'd'],
    ],
    ['claim Exists', [claimPredicate({ key: 'cpu', operator: 'Exists' })], ['a', 'b', 'c', 'e']],
    ['claim DoesNotExist', [claimPredicate({ key: 'kubeversion', operator: 'DoesNotExist' })], ['c', 'd']],
    [
      'claim requirements are ANDed',
      [claimPredicate({ key: 'kubeversion', operator: 'Exists' }, { key: 'cpu', operator: 'In', values: ['8', '4'] })],
      ['a'],
    ],
    [
      'label and claim selectors of one predicate are ANDed',
      [
        {
          requiredClusterSelector: {
            labelSelector: { matchLabels: { region: 'eu' } },
            claimSelector: { matchExpressions: [{ key: 'kubeversion', operator: 'Exists' }] },
          },
        },
      ],
      ['a'],
    ],
    ['labels and claims are separate namespaces', [claimPredicate({ key: 'env', operator: 'Exists' })], []],
    ['a predicate matching nothing', [labelPredicate({ matchLabels: { env: 'qa' } })], []],
  ];
  for (const [name, predicates, want] of cases) {
    it(name, () => assert.deepEqual(run({ predicates }, fleet).selected, want));
  }

  it('matchesPredicates tells whether a cluster change can concern the placement', () => {
    const p = compilePlacement(place({ predicates: [labelPredicate({ matchLabels: { env: 'prod' } })] }));
    assert.equal(matchesPredicates(p, fleet[0] as ClusterView), true);
    assert.equal(matchesPredicates(p, fleet[2] as ClusterView), false);
    assert.equal(matchesPredicates(compilePlacement(place({})), fleet[2] as ClusterView), true);
  });
});

describe('taints and tolerations', () => {
  const taint = (key: string, effect: TaintView['effect'], ageSeconds?: number, value?: string): TaintView => {
    const t: TaintView = { key, effect };
    if (ageSeconds !== undefined) t.timeAdded = T - ageSeconds * 1_000;
    if (value !== undefined) t.value = value;
    return t;
  };
  const unreachable = (ageSeconds?: number) => taint('outpost.dev/unreachable', 'NoSelect', ageSeconds);
  const cases: [string, TaintView[], unknown[], boolean, number | undefined, string[]?][] = [
    // [name, taints of cluster x, tolerations, selected?, nextEvaluationAt, previous]
    ['no taint: selected', [], [], true, undefined],
    ['NoSelect without toleration: filtered out', [unreachable(10)], [], false, undefined],
    ['PreferNoSelect never filters', [taint('maintenance', 'PreferNoSelect', 10)], [], true, undefined],
    ['NoSelectIfNew filters a new cluster', [taint('draining', 'NoSelectIfNew', 10)], [], false, undefined],
    [
      'NoSelectIfNew keeps a cluster already selected',
      [taint('draining', 'NoSelectIfNew', 10)],
      [],
      true,
      undefined,
      ['x'],
    ],
    [
      'Exists on the key tolerates',
      [unreachable(10)],
      [{ key: 'outpost.dev/unreachable', operator: 'Exists' }],
      true,
      undefined,
    ],
    [
      "OCM's key of the hub's taint tolerates it",
      [unreachable(10)],
      [{ key: 'cluster.open-cluster-management.io/unreachable', operator: 'Exists' }],
      true,
      undefined,
    ],
    [
      "OCM's key of the other hub taint does not",
      [unreachable(10)],
      [{ key: 'cluster.open-cluster-management.io/unavailable', operator: 'Exists' }],
      false,
      undefined,
    ],
    [
      'a taint a user set with an OCM key is tolerated by that key',
      [taint('cluster.open-cluster-management.io/unreachable', 'NoSelect', 10)],
      [{ key: 'cluster.open-cluster-management.io/unreachable', operator: 'Exists' }],
      true,
      undefined,
    ],
    [
      'an empty key with Exists tolerates every taint',
      [unreachable(10), taint('x', 'NoSelect', 1)],
      [{ operator: 'Exists' }],
      true,
      undefined,
    ],
    [
      'Equal with the same value tolerates',
      [taint('dedicated', 'NoSelect', 1, 'gpu')],
      [{ key: 'dedicated', value: 'gpu' }],
      true,
      undefined,
    ],
    [
      'Equal with another value does not',
      [taint('dedicated', 'NoSelect', 1, 'gpu')],
      [{ key: 'dedicated', value: 'cpu' }],
      false,
      undefined,
    ],
    [
      'Equal without a value matches a taint without one',
      [taint('dedicated', 'NoSelect', 1)],
      [{ key: 'dedicated' }],
      true,
      undefined,
    ],
    [
      'another key does not tolerate',
      [unreachable(10)],
      [{ key: 'outpost.dev/unavailable', operator: 'Exists' }],
      false,
      undefined,
    ],
    [
      'another effect does not tolerate',
      [unreachable(10)],
      [{ key: 'outpost.dev/unreachable', operator: 'Exists', effect: 'NoSelectIfNew' }],
      false,
      undefined,
    ],
    [
      'the same effect tolerates',
      [unreachable(10)],
      [{ key: 'outpost.dev/unreachable', operator: 'Exists', effect: 'NoSelect' }],
      true,
      undefined,
    ],
    [
      'every taint must be tolerated',
      [unreachable(10), taint('outpost.dev/unavailable', 'NoSelect', 10)],
      [{ key: 'outpost.dev/unreachable', operator: 'Exists' }],
      false,
      undefined,
    ],
    [
      'tolerationSeconds not yet over: tolerated, and re-evaluate when it ends',
      [unreachable(100)],
      [{ key: 'outpost.dev/unreachable', operator: 'Exists', tolerationSeconds: 300 }],
      true,
      T + 200_000,
    ],
    [
      'tolerationSeconds over: filtered out',
      [unreachable(400)],
      [{ key: 'outpost.dev/unreachable', operator: 'Exists', tolerationSeconds: 300 }],
      false,
      undefined,
    ],
    [
      'tolerationSeconds ends exactly now: filtered out',
      [unreachable(300)],
      [{ key: 'outpost.dev/unreachable', operator: 'Exists', tolerationSeconds: 300 }],
      false,
      undefined,
    ],
    [
      'tolerationSeconds counts from timeAdded; a taint without one has lapsed',
      [unreachable(undefined)],
      [{ key: 'outpost.dev/unreachable', operator: 'Exists', tolerationSeconds: 300 }],
      false,
      undefined,
    ],
    [
      'an unbounded toleration outlasts a bounded one',
      [unreachable(100)],
      [{ key: 'outpost.dev/unreachable', operator: 'Exists', tolerationSeconds: 300 }, { operator: 'Exists' }],
      true,
      undefined,
    ],
    [
      'of two bounded tolerations the longer counts',
      [unreachable(100)],
      [
        { key: 'outpost.dev/unreachable', operator: 'Exists', tolerationSeconds: 300 },
        { key: 'outpost.dev/unreachable', operator: 'Exists', tolerationSeconds: 600 },
      ],
      true,
      T + 500_000,
    ],
    [
      'of two tolerated taints the earlier expiry counts',
      [unreachable(100), taint('outpost.dev/unavailable', 'NoSelect', 250)],
      [{ operator: 'Exists', tolerationSeconds: 300 }],
      true,
      T + 50_000,
    ],
  ];
  for (const [name, taints, tolerations, selected, next, previous] of cases) {
    it(name, () => {
      const r = run({ tolerations }, [cluster('x', {}, {}, taints)], previous ? { previous } : {});
      assert.deepEqual(r.selected, selected ? ['x'] : []);
      assert.equal(r.nextEvaluationAt, next);
    });
  }

  it('nextEvaluationAt is the earliest expiry over the fleet', () => {
    const tolerations = [{ key: 'outpost.dev/unreachable', operator: 'Exists', tolerationSeconds: 60 }];
    const r = run({ tolerations }, [
      cluster('x', {}, {}, [unreachable(10)]),
      cluster('y', {}, {}, [unreachable(30)]),
      cluster('z', {}, {}, [unreachable(90)]),
    ]);
    assert.deepEqual(r.selected, ['x', 'y']);
    assert.equal(r.nextEvaluationAt, T + 30_000);
    // At that moment y drops out and x is next.
    const later = run({ tolerations }, [
      cluster('x', {}, {}, [unreachable(40)]),
      cluster('y', {}, {}, [unreachable(60)]),
    ]);
    assert.deepEqual(later.selected, ['x']);
    assert.equal(later.nextEvaluationAt, T + 20_000);
  });

  it('the hub taint on a ManagedCluster resource reaches the scheduler with its time', () => {
    const view = toClusterView({
      metadata: { name: 'rack-1', uid: 'u', resourceVersion: '1', labels: { env: 'prod' }, creationTimestamp: '' },
      spec: {
        hubAcceptsClient: true,
        taints: [{ key: 'outpost.dev/unreachable', effect: 'NoSelect', timeAdded: new Date(T - 5_000).toISOString() }],
      },
      status: { conditions: [], clusterClaims: [{ name: 'kubeversion', value: 'v1.30' }] },
    });
    assert.deepEqual(view, {
      name: 'rack-1',
      labels: { env: 'prod' },
      claims: { kubeversion: 'v1.30' },
      taints: [{ key: 'outpost.dev/unreachable', effect: 'NoSelect', timeAdded: T - 5_000 }],
    });
    const r = schedulePlacement(
      place({ tolerations: [{ key: 'outpost.dev/unreachable', operator: 'Exists', tolerationSeconds: 60 }] }),
      [view],
      { now: T },
    );
    assert.deepEqual(r.selected, ['rack-1']);
    assert.equal(r.nextEvaluationAt, T + 55_000);
  });
});

describe('prioritizers score in [-100, 100] like OCM', () => {
  const scores = (b: ScoreBreakdown, name: string) => [...(b.prioritizers.find((p) => p.name === name)?.scores ?? [])];
  const exact = (...configurations: unknown[]) => place({ prioritizerPolicy: { mode: 'Exact', configurations } });

  it('Steady: 100 for clusters already selected, 0 for the others', () => {
    const b = scoreClusters(exact({ scoreCoordinate: { builtIn: 'Steady' } }), fleet, { now: T, previous: ['b', 'd'] });
    assert.deepEqual(scores(b, 'Steady'), [0, 100, 0, 100, 0]);
  });

  it('Balance: 100 when no other placement chose the cluster, -100 for the busiest', () => {
    const counts = new Map([
      ['a', 4],
      ['b', 2],
      ['c', 1],
    ]);
    const b = scoreClusters(exact({ scoreCoordinate: { builtIn: 'Balance' } }), fleet, {
      now: T,
      otherDecisionCounts: counts,
    });
    // 2·trunc(100·(0.5 − count/max)): 4/4 → -100, 2/4 → 0, 1/4 → 50; none → 100.
    assert.deepEqual(scores(b, 'Balance'), [-100, 0, 50, 100, 100]);
  });

  it('Balance: the maximum is taken over every cluster, selected or not', () => {
    const counts = new Map([
      ['a', 4],
      ['zz', 8],
    ]);
    const b = scoreClusters(exact({ scoreCoordinate: { builtIn: 'Balance' } }), fleet.slice(0, 2), {
      now: T,
      otherDecisionCounts: counts,
    });
    assert.deepEqual(scores(b, 'Balance'), [0, 100]);
  });

  it('Balance: with one hub-wide map, this placement’s own decisions are subtracted', () => {
    const counts = new Map([
      ['a', 3],
      ['b', 2],
    ]);
    const b = scoreClusters(exact({ scoreCoordinate: { builtIn: 'Balance' } }), fleet.slice(0, 3), {
      now: T,
      otherDecisionCounts: counts,
      countsIncludePrevious: true,
      previous: ['a'],
    });
    // Others: a 2, b 2, c 0 → a and b are the busiest.
    assert.deepEqual(scores(b, 'Balance'), [-100, -100, 100]);
  });

  it('ClaimValue: min-max scaled; equal values all 100; missing or unparsable neutral', () => {
    const b = scoreClusters(exact({ scoreCoordinate: { builtIn: 'ClaimValue', claim: 'cpu' } }), fleet, { now: T });
    // cpu a 8, b 16, c 4, d none, e "lots": min 4, max 16 → a trunc((4/12 − .5)·200) = -33.
    assert.deepEqual(scores(b, 'ClaimValue/cpu'), [-33, 100, -100, 0, 0]);
    const same = scoreClusters(exact({ scoreCoordinate: { builtIn: 'ClaimValue', claim: 'cpu' } }), fleet.slice(0, 1), {
      now: T,
    });
    assert.deepEqual(scores(same, 'ClaimValue/cpu'), [100]);
  });

  it('ClaimValue reads Kubernetes quantities', () => {
    const mem = [
      cluster('m1', {}, { mem: '512Mi' }),
      cluster('m2', {}, { mem: '16Gi' }),
      cluster('m3', {}, { mem: '8Gi' }),
    ];
    const b = scoreClusters(exact({ scoreCoordinate: { builtIn: 'ClaimValue', claim: 'mem' } }), mem, { now: T });
    assert.deepEqual(scores(b, 'ClaimValue/mem'), [-100, 100, -3]);
  });

  it('the total is Σ weight·score; weight 0 disables; Additive adds Steady and Balance at weight 1', () => {
    const ctx = { now: T, previous: ['c'] };
    const weighted = scoreClusters(
      exact(
        { scoreCoordinate: { builtIn: 'ClaimValue', claim: 'cpu' }, weight: 2 },
        { scoreCoordinate: { builtIn: 'Steady' }, weight: -1 },
      ),
      fleet,
      ctx,
    );
    assert.deepEqual([...weighted.total], [-66, 200, -300, 0, 0]);
    const additive = scoreClusters(place({}), fleet, ctx);
    assert.deepEqual(
      additive.prioritizers.map((p) => [p.name, p.weight]),
      [
        ['Steady', 1],
        ['Balance', 1],
      ],
    );
    assert.deepEqual([...additive.total], [100, 100, 200, 100, 100]);
    const steadyOff = scoreClusters(
      place({ prioritizerPolicy: { configurations: [{ scoreCoordinate: { builtIn: 'Steady' }, weight: 0 }] } }),
      fleet,
      ctx,
    );
    assert.deepEqual(
      steadyOff.prioritizers.map((p) => p.name),
      ['Balance'],
    );
  });
});

describe('numberOfClusters picks the best scores, ties by name', () => {
  const byCpu = (weight: number) => ({
    prioritizerPolicy: {
      mode: 'Exact',
      configurations: [{ scoreCoordinate: { builtIn: 'ClaimValue', claim: 'cpu' }, weight }],
    },
  });
  const cases: [string, Record<string, unknown>, Partial<ScheduleContext>, string[]][] = [
    ['unset selects every feasible cluster', {}, {}, ['a', 'b', 'c', 'd', 'e']],
    ['ties broken by name', { numberOfClusters: 2, prioritizerPolicy: { mode: 'Exact' } }, {}, ['a', 'b']],
    ['highest score first', { numberOfClusters: 1, ...byCpu(1) }, {}, ['b']],
    ['two highest, result sorted by name', { numberOfClusters: 2, ...byCpu(1) }, {}, ['b', 'd']],
    ['a negative weight prefers the lowest', { numberOfClusters: 1, ...byCpu(-1) }, {}, ['c']],
    ['Steady keeps the previous choice among equals', { numberOfClusters: 2 }, { previous: ['d', 'e'] }, ['d', 'e']],
    [
      'Balance avoids busy clusters',
      { numberOfClusters: 2 },
      {
        otherDecisionCounts: new Map([
          ['a', 3],
          ['b', 3],
          ['c', 1],
        ]),
      },
      ['d', 'e'],
    ],
  ];
  for (const [name, spec, ctx, want] of cases) it(name, () => assert.deepEqual(run(spec, fleet, ctx).selected, want));

  it('numberOfClusters 0 selects none and is satisfied', () => {
    const r = run({ numberOfClusters: 0 }, fleet);
    assert.deepEqual(r.selected, []);
    assert.deepEqual(r.decisions, []);
    assert.equal(r.conditions[0]?.status, 'True');
  });

  it('fewer feasible than wanted: all of them, the rest unscheduled, not satisfied', () => {
    const r = run({ numberOfClusters: 4, predicates: [labelPredicate({ matchLabels: { env: 'prod' } })] }, fleet);
    assert.deepEqual(r.selected, ['a', 'b']);
    assert.equal(r.unscheduled, 2);
    assert.equal(r.feasibleCount, 2);
    assert.deepEqual(r.conditions[0], {
      type: 'PlacementSatisfied',
      status: 'False',
      reason: 'NotAllDecisionsScheduled',
      message: '2 cluster decisions unscheduled: only 2 feasible',
    });
  });

  it('the satisfied condition says why', () => {
    assert.equal(run({}, []).conditions[0]?.reason, 'NoManagedClusters');
    assert.equal(
      run({ predicates: [labelPredicate({ matchLabels: { env: 'qa' } })] }, fleet).conditions[0]?.reason,
      'NoManagedClusterMatched',
    );
    assert.deepEqual(run({}, fleet).conditions, [
      { type: 'PlacementSatisfied', status: 'True', reason: 'AllDecisionsScheduled', message: '5 clusters selected' },
      {
        type: 'PlacementMisconfigured',
        status: 'False',
        reason: 'Configured',
        message: 'placement configuration check passed',
      },
    ]);
  });

  it('is deterministic whatever the input order', () => {
    const spec = { numberOfClusters: 3, ...byCpu(1) };
    const want = run(spec, fleet);
    for (const order of [
      [4, 3, 2, 1, 0],
      [2, 0, 4, 1, 3],
    ]) {
      assert.deepEqual(
        run(
          spec,
          order.map((i) => fleet[i] as ClusterView),
        ),
        want,
      );
    }
  });

  it('the heap selection agrees with a full sort on a larger fleet', () => {
    const many = Array.from({ length: 500 }, (_, i) =>
      cluster(`c${String(i).padStart(3, '0')}`, {}, { load: String((i * 7919) % 97) }),
    );
    const spec = { numberOfClusters: 25, ...byCpu(1) };
    (spec.prioritizerPolicy.configurations[0] as { scoreCoordinate: { claim: string } }).scoreCoordinate.claim = 'load';
    const got = run(spec, many).selected;
    const { total } = scoreClusters(place(spec), many, { now: T });
    const want = many
      .map((c, i) => ({ name: c.name, s: total[i] as number }))
      .sort((x, y) => y.s - x.s || (x.name < y.name ? -1 : 1))
      .slice(0, 25)
      .map((x) => x.name)
      .sort();
    assert.deepEqual(got, want);
  });
});

describe('Steady keeps decisions stable as the fleet changes', () => {
  it('a new, equally good cluster does not displace a selected one', () => {
    const spec = { numberOfClusters: 2 };
    const first = run(spec, [cluster('m'), cluster('n'), cluster('o')]);
    assert.deepEqual(first.selected, ['m', 'n']);
    // "a" sorts first and would win a tie on name alone.
    const withNew = [cluster('a'), cluster('m'), cluster('n'), cluster('o')];
    assert.deepEqual(run(spec, withNew).selected, ['a', 'm']);
    assert.deepEqual(run(spec, withNew, { previous: first.selected }).selected, ['m', 'n']);
  });

  it('a selected cluster that stops matching is replaced', () => {
    const spec = { numberOfClusters: 2, predicates: [labelPredicate({ matchLabels: { env: 'prod' } })] };
    const clusters = [cluster('m', { env: 'prod' }), cluster('n', { env: 'dev' }), cluster('o', { env: 'prod' })];
    assert.deepEqual(run(spec, clusters, { previous: ['m', 'n'] }).selected, ['m', 'o']);
  });

  it('Steady outweighed: a heavier prioritizer can still move decisions', () => {
    const spec = {
      numberOfClusters: 1,
      prioritizerPolicy: {
        configurations: [{ scoreCoordinate: { builtIn: 'ClaimValue', claim: 'cpu' }, weight: 3 }],
      },
    };
    // c (cpu 4) was chosen; b (cpu 16) beats Steady's +100 with 3·200.
    assert.deepEqual(run(spec, fleet, { previous: ['c'] }).selected, ['b']);
  });
});

describe('decision groups', () => {
  const ten = Array.from({ length: 10 }, (_, i) =>
    cluster(`c${i}`, { ...(i % 4 === 0 ? { canary: 'true' } : {}), ...(i < 2 ? { site: 'lab' } : {}) }),
  );
  const groups = (spec: Record<string, unknown>, clusters = ten) =>
    run(spec, clusters).decisions.map((g) => [g.groupIndex, g.groupName, g.clusterNames.join(',')]);
  const strategy = (groupStrategy: unknown) => ({ decisionStrategy: { groupStrategy } });

  it('by default one unnamed group holds everything', () => {
    assert.deepEqual(groups({}, ten.slice(0, 3)), [[0, '', 'c0,c1,c2']]);
  });
  it('clustersPerDecisionGroup as a count chunks by name', () => {
    assert.deepEqual(groups(strategy({ clustersPerDecisionGroup: 4 })), [
      [0, '', 'c0,c1,c2,c3'],
      [1, '', 'c4,c5,c6,c7'],
      [2, '', 'c8,c9'],
    ]);
  });
  it('a percentage rounds up (25% of 10 is 3)', () => {
    assert.deepEqual(
      groups(strategy({ clustersPerDecisionGroup: '25%' })).map((g) => g[2]),
      ['c0,c1,c2', 'c3,c4,c5', 'c6,c7,c8', 'c9'],
    );
    assert.equal(groups(strategy({ clustersPerDecisionGroup: '1%' })).length, 10);
  });
  it('a count above the selection is one group', () => {
    assert.deepEqual(groups(strategy({ clustersPerDecisionGroup: 50 }), ten.slice(0, 2)), [[0, '', 'c0,c1']]);
  });
  it('explicit groups first, the rest after them', () => {
    assert.deepEqual(
      groups(
        strategy({
          clustersPerDecisionGroup: 5,
          decisionGroups: [
            { groupName: 'canary', groupClusterSelector: { labelSelector: { matchLabels: { canary: 'true' } } } },
          ],
        }),
      ),
      [
        [0, 'canary', 'c0,c4,c8'],
        [1, '', 'c1,c2,c3,c5,c6'],
        [2, '', 'c7,c9'],
      ],
    );
  });
  it('a cluster matching two groups joins the first; an empty group leaves no gap', () => {
    assert.deepEqual(
      groups(
        strategy({
          decisionGroups: [
            { groupName: 'lab', groupClusterSelector: { labelSelector: { matchLabels: { site: 'lab' } } } },
            { groupName: 'none', groupClusterSelector: { labelSelector: { matchLabels: { site: 'moon' } } } },
            { groupName: 'canary', groupClusterSelector: { labelSelector: { matchLabels: { canary: 'true' } } } },
          ],
        }),
      ),
      [
        [0, 'lab', 'c0,c1'],
        [1, 'canary', 'c4,c8'],
        [2, '', 'c2,c3,c5,c6,c7,c9'],
      ],
    );
  });
  it('an explicit group larger than clustersPerDecisionGroup splits under one name', () => {
    assert.deepEqual(
      groups(
        strategy({
          clustersPerDecisionGroup: 2,
          decisionGroups: [
            { groupName: 'canary', groupClusterSelector: { labelSelector: { matchLabels: { canary: 'true' } } } },
          ],
        }),
        ten.slice(0, 9),
      ).slice(0, 3),
      [
        [0, 'canary', 'c0,c4'],
        [1, 'canary', 'c8'],
        [2, '', 'c1,c2'],
      ],
    );
  });
  it('group selectors see claims too, and only selected clusters', () => {
    assert.deepEqual(
      groups(
        {
          predicates: [labelPredicate({ matchLabels: { region: 'eu' } })],
          ...strategy({
            decisionGroups: [
              {
                groupName: 'new-k8s',
                groupClusterSelector: {
                  claimSelector: { matchExpressions: [{ key: 'kubeversion', operator: 'In', values: ['v1.30'] }] },
                },
              },
            ],
          }),
        },
        fleet,
      ),
      [
        [0, 'new-k8s', 'a'],
        [1, '', 'c'],
      ],
    );
  });
  it('no selection, no groups', () => assert.deepEqual(groups({ numberOfClusters: 0 }), []));
});

describe('status', () => {
  it('summarises the groups OCM-style, keeps the decisions, and times condition transitions', () => {
    const spec = {
      tolerations: [{ key: 'outpost.dev/unreachable', operator: 'Exists', tolerationSeconds: 60 }],
      decisionStrategy: { groupStrategy: { clustersPerDecisionGroup: 2 } },
    };
    const clusters = [
      cluster('x'),
      cluster('y', {}, {}, [{ key: 'outpost.dev/unreachable', effect: 'NoSelect', timeAdded: T }]),
      cluster('z'),
    ];
    const first = placementStatus(run(spec, clusters), undefined, T);
    assert.equal(first.numberOfSelectedClusters, 3);
    assert.deepEqual(first.decisionGroups, [
      { decisionGroupIndex: 0, decisionGroupName: '', clusterCount: 2 },
      { decisionGroupIndex: 1, decisionGroupName: '', clusterCount: 1 },
    ]);
    assert.deepEqual(first.decisions[1], { groupName: '', groupIndex: 1, clusterNames: ['z'] });
    assert.equal(first.nextEvaluationTime, new Date(T + 60_000).toISOString());
    assert.deepEqual(
      first.conditions.map((c) => [c.type, c.status, c.lastTransitionTime]),
      [
        ['PlacementMisconfigured', 'False', new Date(T).toISOString()],
        ['PlacementSatisfied', 'True', new Date(T).toISOString()],
      ],
    );
    assert.deepEqual([...selectedClusters(first)], ['x', 'y', 'z']);

    // Same outcome later: transition times stay. Nothing selected: Satisfied flips and moves.
    const later = T + 30_000;
    const second = placementStatus(run(spec, clusters, { now: later }), first, later);
    assert.deepEqual(second.conditions, first.conditions);
    const third = placementStatus(
      run({ numberOfClusters: 1, predicates: [labelPredicate({ matchLabels: { a: 'b' } })] }, clusters),
      second,
      later,
    );
    assert.deepEqual(
      third.conditions.map((c) => [c.type, c.status, c.lastTransitionTime]),
      [
        ['PlacementMisconfigured', 'False', new Date(T).toISOString()],
        ['PlacementSatisfied', 'False', new Date(later).toISOString()],
      ],
    );
    assert.equal(third.nextEvaluationTime, undefined);
  });

  it('decisionCounts builds the Balance map from many placements', () => {
    assert.deepEqual(
      [...decisionCounts([['a', 'b'], ['a'], new Set(['b', 'c'])])],
      [
        ['a', 2],
        ['b', 2],
        ['c', 1],
      ],
    );
  });
});

describe('values', () => {
  const quantities: [string, number | undefined][] = [
    ['42', 42],
    ['-1.5', -1.5],
    ['1e3', 1000],
    ['3800m', 3.8],
    ['2k', 2000],
    ['16Gi', 16 * 2 ** 30],
    ['512Mi', 512 * 2 ** 20],
    ['1.5G', 1.5e9],
    [' 7 ', 7],
    ['v1.30.2', undefined],
    ['', undefined],
    ['12 cores', undefined],
    ['0x10', undefined],
  ];
  for (const [text, want] of quantities)
    it(`parseQuantity(${JSON.stringify(text)})`, () => assert.equal(parseQuantity(text), want));
  it('percentages round up', () => {
    assert.equal(resolveIntOrPercent('25%', 10), 3);
    assert.equal(resolveIntOrPercent('10%', 5), 1);
    assert.equal(resolveIntOrPercent('100%', 7), 7);
    assert.equal(resolveIntOrPercent('0%', 7), 0);
    assert.equal(resolveIntOrPercent(4, 7), 4);
  });
});
