// Placement scheduling and rollout planning at fleet scale, in-process (pure functions, no hub,
// no kube cluster): 10,000 synthetic clusters with realistic labels, claims and a few hub
// taints, 100 placements with varied selectors, prioritizers, tolerations and decision groups.
//   (a) re-evaluating all 100 placements after one cluster's label changes, the hub's worst
//       case on a cluster update (OCM re-queues every placement too);
//   (b) planning one rollout step over 10,000 clusters;
// plus the figures around them: compiling placements, the first scheduling pass, re-evaluating
// only the placements the change can concern, rendering 10,000 per-cluster works.
// Inputs come from a seeded generator, so every run measures the same fleet.
import assert from 'node:assert/strict';
import {
  type ClusterView,
  type CompiledPlacement,
  compilePlacement,
  decisionCounts,
  matchesPredicates,
  type ScheduleResult,
  schedulePlacement,
  validatePlacement,
} from '../../packages/hub/src/placement/index.ts';
import {
  type ClusterWorkStatus,
  compileOverrides,
  parseRolloutStrategy,
  planRollout,
  type RolloutCluster,
  renderWork,
  validateWorkReplicaSet,
} from '../../packages/hub/src/rollout/index.ts';
import { quantile, report } from './lib.ts';

const clusterCount = Number(process.env.OUTPOST_BENCH_CLUSTERS ?? 10_000);
const placementCount = 100;
const now = Date.parse('2030-01-01T00:00:00Z');

// mulberry32: tiny, seeded, good enough to spread synthetic labels.
let seed = 0x5eed;
const random = () => {
  seed = (seed + 0x6d2b79f5) | 0;
  let t = seed;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
};
const pick = <T>(xs: readonly T[]): T => xs[Math.floor(random() * xs.length)] as T;

const regions = ['eu-west', 'eu-central', 'us-east', 'us-west', 'ap-south', 'ap-east', 'sa-east', 'af-south'];
const envs = ['prod', 'prod', 'prod', 'staging', 'dev'];
const tiers = ['store', 'store', 'factory', 'edge', 'core'];
const kubeVersions = ['v1.28.9', 'v1.29.6', 'v1.30.2', 'v1.31.1'];

function makeCluster(i: number): ClusterView {
  const region = pick(regions);
  const labels: Record<string, string> = {
    region,
    env: pick(envs),
    tier: pick(tiers),
    'topology.outpost.dev/zone': `${region}-${1 + Math.floor(random() * 3)}`,
    site: `site-${Math.floor(random() * 400)}`,
  };
  if (random() < 0.01) labels.canary = 'true';
  if (random() < 0.2) labels.gpu = pick(['a100', 'l4', 't4']);
  const claims: Record<string, string> = {
    kubeversion: pick(kubeVersions),
    'capacity.cpu': String(4 * (1 + Math.floor(random() * 16))),
    'capacity.memory': `${8 * (1 + Math.floor(random() * 32))}Gi`,
    nodecount: String(1 + Math.floor(random() * 20)),
    agentversion: pick(['0.9.0', '0.10.1', '0.11.0']),
  };
  const taints: ClusterView['taints'] =
    random() < 0.02
      ? [{ key: 'outpost.dev/unreachable', effect: 'NoSelect', timeAdded: now - random() * 3_600_000 }]
      : [];
  return { name: `cluster-${String(i).padStart(5, '0')}`, labels, claims, taints };
}

function makePlacement(i: number): unknown {
  const predicates: unknown[] = [];
  const kind = i % 5;
  if (kind === 0)
    predicates.push({
      requiredClusterSelector: { labelSelector: { matchLabels: { env: 'prod', region: pick(regions) } } },
    });
  if (kind === 1) {
    predicates.push({
      requiredClusterSelector: {
        labelSelector: {
          matchExpressions: [
            { key: 'tier', operator: 'In', values: ['store', 'factory'] },
            { key: 'env', operator: 'NotIn', values: ['dev'] },
          ],
        },
        claimSelector: { matchExpressions: [{ key: 'kubeversion', operator: 'In', values: ['v1.30.2', 'v1.31.1'] }] },
      },
    });
  }
  if (kind === 2) {
    // ORed predicates.
    predicates.push(
      { requiredClusterSelector: { labelSelector: { matchLabels: { region: pick(regions) } } } },
      { requiredClusterSelector: { labelSelector: { matchExpressions: [{ key: 'gpu', operator: 'Exists' }] } } },
    );
  }
  if (kind === 3)
    predicates.push({ requiredClusterSelector: { labelSelector: { matchLabels: { site: `site-${i}` } } } });
  // kind 4: no predicates (every cluster), as fleet-wide add-ons do.
  const spec: Record<string, unknown> = { predicates };
  if (i % 2 === 0) spec.numberOfClusters = 10 + ((i * 37) % 500);
  if (i % 3 === 0) {
    spec.prioritizerPolicy = {
      mode: 'Additive',
      configurations: [{ scoreCoordinate: { builtIn: 'ClaimValue', claim: 'capacity.cpu' }, weight: 2 }],
    };
  }
  if (i % 4 === 0)
    spec.tolerations = [{ key: 'outpost.dev/unreachable', operator: 'Exists', tolerationSeconds: 1_800 }];
  if (i % 7 === 0) {
    spec.decisionStrategy = {
      groupStrategy: {
        clustersPerDecisionGroup: '10%',
        decisionGroups: [
          { groupName: 'canary', groupClusterSelector: { labelSelector: { matchLabels: { canary: 'true' } } } },
        ],
      },
    };
  }
  return { metadata: { name: `placement-${i}` }, spec };
}

const ms = (t0: number) => performance.now() - t0;

const clusters = Array.from({ length: clusterCount }, (_, i) => makeCluster(i));

let t0 = performance.now();
const compiled: CompiledPlacement[] = [];
for (let i = 0; i < placementCount; i++) {
  const v = validatePlacement(makePlacement(i));
  if (!v.ok) throw new Error(JSON.stringify(v.error));
  compiled.push(compilePlacement(v.value));
}
const compileMs = ms(t0);

/**
 * One full pass the way the hub runs it: each placement sees the hub-wide decision counts and
 * its previous decisions as a Set (what status.ts's selectedClusters returns).
 */
function scheduleAll(previous: ReadonlySet<string>[] | undefined, counts: Map<string, number>): ScheduleResult[] {
  return compiled.map((p, i) =>
    schedulePlacement(p, clusters, {
      now,
      previous: previous?.[i] ?? new Set<string>(),
      otherDecisionCounts: counts,
      countsIncludePrevious: true,
    }),
  );
}

t0 = performance.now();
let results = scheduleAll(undefined, new Map());
const selections = () => results.map((r) => new Set(r.selected));
const firstPassMs = ms(t0);
let counts = decisionCounts(results.map((r) => r.selected));
results = scheduleAll(selections(), counts); // settle Balance once
let previous = selections();
counts = decisionCounts(results.map((r) => r.selected));
const selectedTotal = results.reduce((n, r) => n + r.numberOfSelectedClusters, 0);

// (a) one cluster's label changes, then every placement is evaluated again.
const fullSamples: number[] = [];
const affectedSamples: number[] = [];
const affectedCounts: number[] = [];
const rounds = Number(process.env.OUTPOST_BENCH_ROUNDS ?? 30);
for (let round = 0; round < rounds; round++) {
  const index = Math.floor(random() * clusters.length);
  const before = clusters[index] as ClusterView;
  const after: ClusterView = { ...before, labels: { ...before.labels, region: pick(regions), env: pick(envs) } };
  clusters[index] = after;

  t0 = performance.now();
  const next = scheduleAll(previous, counts);
  fullSamples.push(ms(t0));

  // The cheaper path: only placements whose predicates match the cluster before or after.
  t0 = performance.now();
  const affected = compiled.filter((p) => matchesPredicates(p, before) || matchesPredicates(p, after));
  for (const p of affected) {
    const i = compiled.indexOf(p);
    schedulePlacement(p, clusters, {
      now,
      previous: previous[i] ?? new Set<string>(),
      otherDecisionCounts: counts,
      countsIncludePrevious: true,
    });
  }
  affectedSamples.push(ms(t0));
  affectedCounts.push(affected.length);

  results = next;
  previous = selections();
  counts = decisionCounts(results.map((r) => r.selected));
}

// (b) one rollout step over 10,000 clusters in 10 decision groups, mid-rollout.
const statusOf = (r: number): ClusterWorkStatus => {
  const base: ClusterWorkStatus = {
    dispatched: false,
    applied: false,
    available: false,
    degraded: false,
    updated: false,
    reachable: true,
  };
  if (r < 0.3) {
    return {
      ...base,
      dispatched: true,
      dispatchedAt: now - 3_600_000,
      updated: true,
      applied: true,
      available: true,
      succeededSince: now - 1_800_000 * random(),
    };
  }
  if (r < 0.4)
    return {
      ...base,
      dispatched: true,
      dispatchedAt: now - 600_000 * random(),
      updated: random() < 0.5,
      applied: true,
    };
  if (r < 0.41)
    return { ...base, dispatched: true, dispatchedAt: now - 60_000, updated: true, applied: true, degraded: true };
  if (r < 0.43) return { ...base, reachable: false, unreachableSince: now - 3_600_000 * random() };
  return base;
};
const rolloutClusters: RolloutCluster[] = clusters.map((c, i) => ({
  name: c.name,
  groupIndex: Math.floor((i * 10) / clusters.length),
  groupName: i < clusters.length / 10 ? 'canary' : '',
  status: statusOf(random()),
}));
const progressive = parseRolloutStrategy({
  type: 'Progressive',
  progressive: { maxConcurrency: '5%', maxFailures: '2%', minSuccessTime: '5m', progressDeadline: '30m' },
  offlineClusters: { policy: 'Skip', timeout: '10m' },
});
const perGroup = parseRolloutStrategy({
  type: 'ProgressivePerGroup',
  progressivePerGroup: { maxFailures: '5%', minSuccessTime: '5m', progressDeadline: '30m' },
});
assert.ok(progressive.ok && perGroup.ok);
const planSamples: number[] = [];
const perGroupSamples: number[] = [];
let lastPlan = planRollout(progressive.value, rolloutClusters, now);
for (let i = 0; i < 20; i++) {
  t0 = performance.now();
  lastPlan = planRollout(progressive.value, rolloutClusters, now);
  planSamples.push(ms(t0));
  t0 = performance.now();
  planRollout(perGroup.value, rolloutClusters, now);
  perGroupSamples.push(ms(t0));
}

// Rendering each cluster's work from a template with references and two overrides.
const ws = validateWorkReplicaSet({
  metadata: { name: 'agent-config' },
  spec: {
    placementRefs: [{ name: 'placement-4' }],
    templating: true,
    manifestWorkTemplate: {
      workload: {
        manifests: [
          {
            apiVersion: 'apps/v1',
            kind: 'Deployment',
            metadata: { name: 'collector', namespace: 'ops', labels: { region: '{{ .labels.region }}' } },
            spec: {
              replicas: 1,
              template: {
                spec: {
                  containers: [
                    {
                      name: 'c',
                      image: 'registry.{{ .labels.region }}.example.com/collector:2.1',
                      args: ['--cluster={{ .clusterName }}'],
                    },
                  ],
                },
              },
            },
          },
          {
            apiVersion: 'v1',
            kind: 'ConfigMap',
            metadata: { name: 'collector', namespace: 'ops' },
            data: { k8s: '{{ .claims.kubeversion }}', zone: '{{ .labels.topology.outpost.dev/zone }}' },
          },
        ],
      },
    },
    overrides: [
      {
        name: 'gpu',
        clusterSelector: { labelSelector: { matchExpressions: [{ key: 'gpu', operator: 'Exists' }] } },
        patches: [{ manifest: { kind: 'Deployment', name: 'collector' }, patch: { spec: { replicas: 2 } } }],
      },
      {
        name: 'factory',
        clusterSelector: { labelSelector: { matchLabels: { tier: 'factory' } } },
        patches: [{ manifest: { kind: 'ConfigMap', name: 'collector' }, patch: { data: { mode: 'ot' } } }],
      },
    ],
  },
});
if (!ws.ok) throw new Error(JSON.stringify(ws.error));
const overrides = compileOverrides(ws.value.spec.overrides);
t0 = performance.now();
for (const c of clusters) {
  const r = renderWork(ws.value.spec.manifestWorkTemplate, c, overrides, ws.value.spec.templating === true);
  if (!r.ok) throw new Error(r.error.message);
}
const renderMs = ms(t0);

const median = (xs: number[]) => quantile([...xs], 0.5);
report(
  'placement',
  {
    reevaluate_all_placements_after_label_change_p50: {
      value: median(fullSamples),
      unit: 'ms',
      target: '< 1000 (100 placements × 10,000 clusters)',
    },
    reevaluate_all_placements_after_label_change_max: { value: Math.max(...fullSamples), unit: 'ms', target: '< 1000' },
    reevaluate_affected_placements_only_p50: { value: median(affectedSamples), unit: 'ms' },
    affected_placements_per_change_p50: { value: median(affectedCounts), unit: 'placements' },
    first_schedule_all_placements: { value: firstPassMs, unit: 'ms' },
    compile_placements: { value: compileMs, unit: 'ms' },
    rollout_plan_progressive_10k_p50: { value: median(planSamples), unit: 'ms', target: '< 100' },
    rollout_plan_progressive_per_group_10k_p50: { value: median(perGroupSamples), unit: 'ms', target: '< 100' },
    render_works_10k_clusters: { value: renderMs, unit: 'ms' },
    clusters: { value: clusterCount, unit: 'count' },
    placements: { value: placementCount, unit: 'count' },
    decisions_total: { value: selectedTotal, unit: 'count' },
  },
  {
    rounds,
    lastPlan: {
      message: lastPlan.message,
      toRollout: lastPlan.toRollout.length,
      nextEvaluationAt: lastPlan.nextEvaluationAt,
    },
  },
);
