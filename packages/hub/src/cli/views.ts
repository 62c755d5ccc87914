// How the CLI shows the objects `apply -f` takes (cli/objects.ts's kinds): the resources'
// shapes as the CLI reads them, `get`'s describe text and `list`'s table, one pair per kind.
import type { GitRepoSpec, GitRepoStatus } from '../gitrepos/types.ts';
import type { ManifestWorkReplicaSetStatus } from '../rollout/index.ts';
import { age, table } from './output.ts';

export interface Condition {
  type: string;
  status: string;
  reason?: string;
  message?: string;
  lastTransitionTime?: string;
}

export interface PlacementResource {
  metadata: { name: string; namespace?: string; creationTimestamp: string; generation?: number };
  spec: {
    numberOfClusters?: number;
    predicates?: unknown[];
    prioritizerPolicy?: { mode?: string };
    tolerations?: { key?: string; operator?: string; value?: string }[];
  };
  status: {
    numberOfSelectedClusters: number;
    decisionGroups: { decisionGroupName?: string; decisionGroupIndex?: number; clusterCount?: number }[];
    decisions?: { groupName: string; groupIndex: number; clusterNames: string[] }[];
    conditions: Condition[];
  };
}

export interface WorkSetResource {
  metadata: { name: string; namespace?: string; creationTimestamp: string; generation?: number };
  spec: {
    placementRefs: { name: string; rolloutStrategy?: { type?: string } }[];
    paused?: boolean;
    templating?: boolean;
    overrides?: { name: string }[];
    cascadeDeletionPolicy?: string;
    manifestWorkTemplate?: { workload?: { manifests?: unknown[] } };
  };
  status?: ManifestWorkReplicaSetStatus;
}

export interface GitRepoResource {
  metadata: {
    name: string;
    namespace?: string;
    creationTimestamp: string;
    generation?: number;
    annotations?: Record<string, string>;
  };
  spec: GitRepoSpec;
  status: GitRepoStatus;
}

const short = (commit: string | undefined) => (commit ? commit.slice(0, 12) : '-');
const conditionOf = (g: GitRepoResource, type: string) => g.status.conditions.find((c) => c.type === type);

export function gitRepoTable(items: GitRepoResource[]): string {
  return table(
    ['NAMESPACE', 'NAME', 'REPO', 'REF', 'COMMIT', 'READY', 'PAUSED', 'AGE'],
    items.map((g) => [
      g.metadata.namespace ?? 'default',
      g.metadata.name,
      g.spec.repo,
      g.spec.revision ?? g.spec.branch ?? 'HEAD',
      short(g.status.commit),
      conditionOf(g, 'Ready')?.status ?? '-',
      String(g.spec.paused === true),
      age(g.metadata.creationTimestamp),
    ]),
  );
}

/** `gitrepo status`: the commit, the conditions, then one row per path. */
export function gitRepoStatusText(g: GitRepoResource): string {
  const st = g.status;
  const s = st.summary;
  const lines = [
    `${g.metadata.name}: commit ${short(st.commit)} fetched ${st.fetchedAt ?? 'never'}; clusters total ${s.total}, applied ${s.applied}, available ${s.available}, degraded ${s.degraded}, progressing ${s.progressing}`,
    '',
    conditionTable(st.conditions).trimEnd(),
    '',
  ];
  const rows = st.paths.map((p) => [
    p.path,
    p.workset,
    short(p.commit),
    p.state ?? '-',
    p.held ? `${short(p.held.commit)}: ${p.held.deleting} of ${p.held.of}` : '-',
    p.error ?? p.message ?? '-',
  ]);
  const held = st.paths.find((p) => p.held)?.held;
  const confirm = held
    ? `\ncommit ${held.commit} is held by the deletion breaker; to roll it out: outpost-hub gitrepo confirm-deletions ${g.metadata.name} -n ${g.metadata.namespace ?? 'default'} --commit ${held.commit.slice(0, 12)}\n`
    : '';
  return `${lines.join('\n')}\n${rows.length ? table(['PATH', 'WORKSET', 'COMMIT', 'STATE', 'HELD', 'ERROR OR ROLLOUT'], rows) : 'no paths rendered yet\n'}${confirm}`;
}

export function describeGitRepo(g: GitRepoResource): string {
  const lines = [
    `name:         ${g.metadata.name}`,
    `namespace:    ${g.metadata.namespace ?? 'default'}`,
    `created:      ${g.metadata.creationTimestamp} (${age(g.metadata.creationTimestamp)})`,
    `repo:         ${g.spec.repo}`,
    `ref:          ${g.spec.revision ? `revision ${g.spec.revision}` : g.spec.branch ? `branch ${g.spec.branch}` : "the repository's default branch (HEAD)"}`,
    `paths:        ${g.spec.paths.join(', ')}`,
    `polling:      ${g.spec.pollingInterval ?? '15s'}`,
    `placement:    ${g.spec.placementRef.name} (${g.spec.rolloutStrategy?.type ?? 'All'})`,
    `paused:       ${g.spec.paused === true}`,
    `deletes:      at most ${Math.round((g.spec.maxDeleteShare ?? 0.5) * 100)} % of a path's objects per commit unconfirmed`,
    ...(g.spec.overrides?.length ? [`overrides:    ${g.spec.overrides.map((o) => o.name).join(', ')}`] : []),
    ...(g.spec.helm ? [`helm:         ${helmText(g.spec.helm)}`] : []),
    // Write-only: the API shows only that they are set (and of which type).
    `credentials:  ${g.spec.credentials ? `${(g.spec.credentials as { type?: string }).type ?? ''} set`.trim() : '-'}`,
    `webhook:      ${g.spec.webhook ? 'secret set' : '-'}`,
    '',
  ];
  return `${lines.join('\n')}${gitRepoStatusText(g)}`;
}

/** spec.helm in one line: what a chart path is rendered with. */
function helmText(h: NonNullable<GitRepoResource['spec']['helm']>): string {
  const parts = [
    `release ${h.releaseName ?? '(the workset name)'}`,
    `namespace ${h.namespace ?? 'default'}`,
    ...(h.valuesFiles?.length ? [`valuesFiles ${h.valuesFiles.join(', ')}`] : []),
    ...(h.values ? [`values ${Object.keys(h.values).join(', ')}`] : []),
  ];
  return parts.join('; ');
}

/** Conditions as `kubectl describe` shows them. */
export function conditionTable(conditions: Condition[]): string {
  if (conditions.length === 0) return 'conditions:   none yet\n';
  return table(
    ['CONDITION', 'STATUS', 'REASON', 'SINCE', 'MESSAGE'],
    conditions.map((x) => [
      x.type,
      x.status,
      x.reason || '-',
      x.lastTransitionTime ? age(x.lastTransitionTime) : '-',
      (x.message ?? '').length > 100 ? `${(x.message as string).slice(0, 99)}…` : x.message || '-',
    ]),
  );
}

/** `placement get`: its selection, decisions by group, and conditions. */
export function describePlacement(p: PlacementResource): string {
  const tolerations = (p.spec.tolerations ?? []).map((t) => `${t.key ?? '*'}${t.value ? `=${t.value}` : ''}`);
  const lines = [
    `name:         ${p.metadata.name}`,
    `namespace:    ${p.metadata.namespace ?? 'default'}`,
    `created:      ${p.metadata.creationTimestamp} (${age(p.metadata.creationTimestamp)})`,
    `wants:        ${p.spec.numberOfClusters ?? 'every matching'} cluster(s), ${(p.spec.predicates ?? []).length} predicate(s)${p.spec.prioritizerPolicy?.mode ? `, prioritizers ${p.spec.prioritizerPolicy.mode}` : ''}`,
    `tolerations:  ${tolerations.join(', ') || '-'}`,
    `selected:     ${p.status.numberOfSelectedClusters}`,
    '',
  ];
  const decisions = p.status.decisions ?? [];
  lines.push(
    decisions.length
      ? table(
          ['GROUP', 'CLUSTERS'],
          decisions.map((d) => [
            d.groupName ? `${d.groupName} (#${d.groupIndex})` : `#${d.groupIndex}`,
            d.clusterNames.join(', ') || '-',
          ]),
        ).trimEnd()
      : 'decisions:    none',
    '',
    conditionTable(p.status.conditions).trimEnd(),
  );
  return `${lines.join('\n')}\n`;
}

/** `workset get`: what it hands out where, how, then its rollout (as `workset status`). */
export function describeWorkSet(w: WorkSetResource): string {
  const refs = w.spec.placementRefs.map((r) => `${r.name} (${r.rolloutStrategy?.type ?? 'All'})`);
  const lines = [
    `name:         ${w.metadata.name}`,
    `namespace:    ${w.metadata.namespace ?? 'default'}`,
    `created:      ${w.metadata.creationTimestamp} (${age(w.metadata.creationTimestamp)})`,
    `placements:   ${refs.join(', ') || '-'}`,
    `manifests:    ${w.spec.manifestWorkTemplate?.workload?.manifests?.length ?? 0}${w.spec.templating ? ' (templating)' : ''}`,
    `overrides:    ${(w.spec.overrides ?? []).map((o) => o.name).join(', ') || '-'}`,
    `paused:       ${w.spec.paused === true}`,
    `on delete:    ${w.spec.cascadeDeletionPolicy ?? 'Background'}`,
    '',
    w.status ? conditionTable(w.status.conditions).trimEnd() : 'status:       none yet (the controller has not run)',
    '',
  ];
  return `${lines.join('\n')}${w.status ? workSetStatusText(w) : ''}`;
}

/** `workset status`: the summary, the conditions, then one row per cluster of the rollout. */
export function workSetStatusText(w: WorkSetResource): string {
  const st = w.status;
  if (!st) return `manifestworkreplicaset ${w.metadata.name}: no status yet (the controller has not run)\n`;
  const sum = (x: ManifestWorkReplicaSetStatus['summary']) =>
    `total ${x.total}, applied ${x.applied}, available ${x.available}, degraded ${x.degraded}, progressing ${x.progressing}`;
  const lines = [`${w.metadata.name}: ${sum(st.summary)}`];
  for (const p of st.placementSummary) {
    lines.push(`  placement ${p.name}: ${sum(p.summary)}; available groups ${p.availableDecisionGroups}`);
  }
  lines.push(`  conditions: ${st.conditions.map((c) => `${c.type}=${c.status}`).join(' ')}`);
  if (st.rollout?.message) lines.push(`  ${st.rollout.message}`);
  const rows = (st.rollout?.clusters ?? []).map((c) => [
    c.placement,
    c.groupName ? `${c.groupName} (#${c.groupIndex})` : `#${c.groupIndex}`,
    c.name,
    c.state,
    c.reason.length > 80 ? `${c.reason.slice(0, 79)}…` : c.reason || '-',
  ]);
  const omitted = st.rollout?.clustersOmitted ? `(${st.rollout.clustersOmitted} more clusters not listed)\n` : '';
  return `${lines.join('\n')}\n\n${rows.length ? table(['PLACEMENT', 'GROUP', 'CLUSTER', 'STATE', 'REASON'], rows) : 'no clusters selected\n'}${omitted}`;
}

export function placementTable(items: PlacementResource[]): string {
  return table(
    ['NAMESPACE', 'NAME', 'SELECTED', 'GROUPS', 'SATISFIED', 'AGE'],
    items.map((p) => [
      p.metadata.namespace ?? 'default',
      p.metadata.name,
      String(p.status.numberOfSelectedClusters),
      String(p.status.decisionGroups.length),
      p.status.conditions.find((c) => c.type === 'PlacementSatisfied')?.status ?? '-',
      age(p.metadata.creationTimestamp),
    ]),
  );
}

export interface ClusterSetResource {
  metadata: { name: string; creationTimestamp: string };
  spec: { clusterSelector: { selectorType: string; labelSelector?: { matchLabels?: Record<string, string> } } };
  status: { conditions: Condition[] };
}

export interface BindingResource {
  metadata: { name: string; namespace: string; creationTimestamp: string };
  status: { conditions: Condition[] };
}

export function clusterSetTable(items: ClusterSetResource[]): string {
  return table(
    ['NAME', 'SELECTOR', 'CLUSTERS', 'AGE'],
    items.map((s) => {
      const sel = s.spec.clusterSelector;
      const members = s.status.conditions.find((c) => c.type === 'ClusterSetEmpty');
      return [
        s.metadata.name,
        sel.selectorType === 'LabelSelector'
          ? `labels ${JSON.stringify(sel.labelSelector ?? {})}`
          : `label cluster.open-cluster-management.io/clusterset=${s.metadata.name}${s.metadata.name === 'default' ? ' (or none)' : ''}`,
        members?.message ?? '-',
        age(s.metadata.creationTimestamp),
      ];
    }),
  );
}

export function workSetTable(items: WorkSetResource[]): string {
  return table(
    ['NAMESPACE', 'NAME', 'PLACEMENTS', 'PAUSED', 'AGE'],
    items.map((w) => [
      w.metadata.namespace ?? 'default',
      w.metadata.name,
      w.spec.placementRefs.map((r) => r.name).join(',') || '-',
      String(w.spec.paused === true),
      age(w.metadata.creationTimestamp),
    ]),
  );
}

export interface WorkResource {
  metadata: {
    name: string;
    namespace: string;
    generation: number;
    deletionTimestamp?: string;
    creationTimestamp?: string;
    labels?: Record<string, string>;
  };
  spec?: {
    workload?: { manifests?: { kind?: string; metadata?: { name?: string; namespace?: string } }[] };
    deleteOption?: { propagationPolicy?: string };
  };
  status: {
    conditions?: Condition[];
    manifestCount: number;
    sizeBytes: number;
    observedGeneration?: number;
    observedAt?: string;
    resourceStatus?: { manifests?: { resourceMeta?: { ordinal?: number }; conditions?: Condition[] }[] };
  };
}

/** Manifest rows `work get` shows at most (a work may hold 10,000). */
export const describedManifests = 200;

/** `work get`: the work, its conditions, then each manifest with what the agent reported of it. */
export function describeWork(w: WorkResource): string {
  const labels = Object.entries(w.metadata.labels ?? {}).map(([k, v]) => `${k}=${v}`);
  const st = w.status;
  const lines = [
    `name:         ${w.metadata.name}`,
    `cluster:      ${w.metadata.namespace}`,
    `labels:       ${labels.join(', ') || '-'}`,
    `created:      ${w.metadata.creationTimestamp ? `${w.metadata.creationTimestamp} (${age(w.metadata.creationTimestamp)})` : '-'}`,
    `generation:   ${w.metadata.generation} (the agent reported ${st.observedGeneration ?? 'none yet'}${st.observedAt ? `, ${age(st.observedAt)} ago` : ''})`,
    `size:         ${st.manifestCount} manifest(s), ${st.sizeBytes} bytes`,
    `on delete:    ${w.spec?.deleteOption?.propagationPolicy ?? 'Foreground'}`,
  ];
  if (w.metadata.deletionTimestamp) lines.push(`deleting:     since ${w.metadata.deletionTimestamp}`);
  lines.push('', conditionTable(st.conditions ?? []).trimEnd(), '');
  const reported = new Map<number, Condition[]>();
  for (const m of st.resourceStatus?.manifests ?? []) {
    if (typeof m.resourceMeta?.ordinal === 'number') reported.set(m.resourceMeta.ordinal, m.conditions ?? []);
  }
  const manifests = w.spec?.workload?.manifests ?? [];
  const of = (c: Condition[] | undefined, type: string) => c?.find((x) => x.type === type)?.status ?? '-';
  const rows = manifests.slice(0, describedManifests).map((m, i) => {
    const c = reported.get(i);
    const problem = c?.find((x) => x.status !== 'True' && x.message);
    const ns = m.metadata?.namespace;
    return [
      String(i),
      m.kind ?? '-',
      `${ns ? `${ns}/` : ''}${m.metadata?.name ?? '-'}`,
      of(c, 'Applied'),
      of(c, 'Available'),
      problem?.message ? problem.message.slice(0, 80) : '-',
    ];
  });
  lines.push(
    rows.length
      ? table(['#', 'KIND', 'NAME', 'APPLIED', 'AVAILABLE', 'MESSAGE'], rows).trimEnd()
      : 'manifests:    none',
  );
  if (manifests.length > describedManifests) {
    lines.push(`(${manifests.length - describedManifests} more manifests; -o yaml shows them all)`);
  }
  return `${lines.join('\n')}\n`;
}

export function workTable(items: WorkResource[]): string {
  const cond = (w: WorkResource, t: string) => w.status.conditions?.find((c) => c.type === t)?.status ?? '-';
  return table(
    ['CLUSTER', 'NAME', 'GENERATION', 'MANIFESTS', 'SIZE', 'APPLIED', 'AVAILABLE', 'DEGRADED', 'DELETING'],
    items.map((w) => [
      w.metadata.namespace,
      w.metadata.name,
      String(w.metadata.generation),
      String(w.status.manifestCount),
      w.status.sizeBytes >= 1024 * 1024
        ? `${(w.status.sizeBytes / 1024 / 1024).toFixed(1)}Mi`
        : `${Math.ceil(w.status.sizeBytes / 1024)}Ki`,
      cond(w, 'Applied'),
      cond(w, 'Available'),
      cond(w, 'Degraded'),
      w.metadata.deletionTimestamp ? 'yes' : '-',
    ]),
  );
}

/** `clusterset get`: its row, then its conditions. */
export function describeClusterSet(s: ClusterSetResource): string {
  return `${clusterSetTable([s])}\n${conditionTable(s.status.conditions)}`;
}

export function bindingTable(items: BindingResource[]): string {
  return table(
    ['NAMESPACE', 'NAME', 'BOUND', 'AGE'],
    items.map((b) => [
      b.metadata.namespace,
      b.metadata.name,
      b.status.conditions.find((c) => c.type === 'Bound')?.status ?? '-',
      age(b.metadata.creationTimestamp),
    ]),
  );
}

/** `clustersetbinding get`: its row, then its conditions. */
export function describeBinding(b: BindingResource): string {
  return `${bindingTable([b])}\n${conditionTable(b.status.conditions)}`;
}
