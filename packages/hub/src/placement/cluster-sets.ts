// OCM's ManagedClusterSets and ManagedClusterSetBindings: validation, membership, and which
// clusters a Placement may select from them. Pure, like the scheduler: the service passes the
// sets and bindings it read.
//
// Membership (OCM's ManagedClusterSet v1beta2):
// - ExclusiveClusterSetLabel (the default): clusters labelled
//   `cluster.open-cluster-management.io/clusterset=<set>`. OCM's hub labels a cluster that has
//   no such label with `default`; Outpost counts it in `default` without writing the label.
// - LabelSelector: clusters its labelSelector matches (`global` is the empty selector: all).
//
// What a Placement selects from, as in OCM: only sets bound to its namespace
// (ManagedClusterSetBindings), of those the ones spec.clusterSets names, or every bound one
// when it names none; a namespace with no binding selects nothing. Migration 14 bound `global`
// to `default` and to every namespace that held placements or worksets then, so what selected
// before sets existed still does.
import { matchesSelector, type Requirement, selectorFromObject } from '@outpost/shared';
import type { ClusterView, LabelSelector, PlacementCondition, PlacementMetadata, Validated } from './types.ts';
import { invalid, isObject, labelSelector, metadata, Problems } from './validate.ts';

export const clusterSetApiVersion = 'cluster.open-cluster-management.io/v1beta2';
const clusterSetApiVersions = [clusterSetApiVersion, 'cluster.open-cluster-management.io/v1beta1'];
/** The label that makes a cluster a member of an ExclusiveClusterSetLabel set. */
export const clusterSetLabel = 'cluster.open-cluster-management.io/clusterset';
export const defaultClusterSet = 'default';
export const globalClusterSet = 'global';
/** The sets every hub has, as OCM's hub makes them: they cannot be changed or deleted. */
export const builtInClusterSets: Readonly<Record<string, ClusterSetSpec>> = {
  [defaultClusterSet]: { clusterSelector: { selectorType: 'ExclusiveClusterSetLabel' } },
  [globalClusterSet]: { clusterSelector: { selectorType: 'LabelSelector', labelSelector: {} } },
};

export const clusterSetSelectorTypes = ['ExclusiveClusterSetLabel', 'LabelSelector'] as const;
export type ClusterSetSelectorType = (typeof clusterSetSelectorTypes)[number];

export interface ClusterSetSpec {
  clusterSelector: { selectorType: ClusterSetSelectorType; labelSelector?: LabelSelector };
}

export interface ManagedClusterSet {
  apiVersion: string;
  kind: 'ManagedClusterSet';
  metadata: PlacementMetadata;
  spec: ClusterSetSpec;
}

export interface ManagedClusterSetBinding {
  apiVersion: string;
  kind: 'ManagedClusterSetBinding';
  metadata: PlacementMetadata & { namespace: string };
  spec: { clusterSet: string };
}

/** A stored set, ready to test clusters with. */
export interface CompiledClusterSet {
  name: string;
  selectorType: ClusterSetSelectorType;
  selector: readonly Requirement[];
}

function kindAndVersion(input: Record<string, unknown>, kind: string, p: Problems): void {
  if (input.apiVersion !== undefined && !clusterSetApiVersions.includes(input.apiVersion as string)) {
    p.add('apiVersion', `must be ${clusterSetApiVersions.join(' or ')}`);
  }
  if (input.kind !== undefined && input.kind !== kind) p.add('kind', `must be ${kind}`);
  p.unknownFields(input, ['apiVersion', 'kind', 'metadata', 'spec', 'status'], '');
}

/** Validates a ManagedClusterSet (cluster-scoped: a namespace is refused, not dropped). */
export function validateClusterSet(
  input: unknown,
  pathName?: string,
): Validated<ManagedClusterSet, 'CLUSTER_SET_INVALID'> {
  const p = new Problems();
  if (!isObject(input)) {
    p.add('', 'a ManagedClusterSet must be an object');
    return invalid('CLUSTER_SET_INVALID', 'ManagedClusterSet', p);
  }
  kindAndVersion(input, 'ManagedClusterSet', p);
  const rawNs = isObject(input.metadata) ? input.metadata.namespace : undefined;
  if (rawNs !== undefined && rawNs !== '') {
    p.add('metadata.namespace', 'a ManagedClusterSet is cluster-scoped: leave the namespace out');
  }
  const { namespace: _, ...meta } = metadata(input.metadata, p, pathName);
  const spec = input.spec ?? {};
  let selectorType: ClusterSetSelectorType = 'ExclusiveClusterSetLabel';
  let selector: LabelSelector | undefined;
  if (!isObject(spec)) p.add('spec', 'must be an object');
  else {
    p.unknownFields(spec, ['clusterSelector'], 'spec');
    const cs = spec.clusterSelector ?? {};
    if (!isObject(cs)) p.add('spec.clusterSelector', 'must be an object');
    else {
      p.unknownFields(cs, ['selectorType', 'labelSelector'], 'spec.clusterSelector');
      const t = cs.selectorType;
      // v1beta1's name for the label rule.
      if (t === 'LegacyClusterSetLabel') selectorType = 'ExclusiveClusterSetLabel';
      else if (t !== undefined && t !== null && t !== '') {
        if (!clusterSetSelectorTypes.includes(t as ClusterSetSelectorType)) {
          p.add('spec.clusterSelector.selectorType', `must be ${clusterSetSelectorTypes.join(' or ')}`);
        } else selectorType = t as ClusterSetSelectorType;
      }
      const hasSelector = cs.labelSelector !== undefined && cs.labelSelector !== null;
      if (selectorType === 'LabelSelector') {
        // OCM reads a missing selector as one that selects nothing; {} selects every cluster.
        if (!hasSelector) {
          p.add(
            'spec.clusterSelector.labelSelector',
            'is required with selectorType LabelSelector ({} selects every cluster, as the built-in set global does)',
          );
        }
        selector = labelSelector(cs.labelSelector, 'spec.clusterSelector.labelSelector', p);
      } else if (hasSelector) {
        // OCM's webhook refuses it too: the label alone says who is in an exclusive set.
        p.add(
          'spec.clusterSelector.labelSelector',
          `only with selectorType LabelSelector; an ExclusiveClusterSetLabel set holds the clusters labelled ${clusterSetLabel}=<set name>`,
        );
      }
    }
  }
  const name = meta.name;
  const builtIn = builtInClusterSets[name];
  const clusterSelector = selector ? { selectorType, labelSelector: selector } : { selectorType };
  if (builtIn && JSON.stringify(builtIn.clusterSelector) !== JSON.stringify(clusterSelector)) {
    p.add('spec.clusterSelector', `the built-in set ${name} is ${describeSelector(builtIn)} and cannot be changed`);
  }
  if (!p.empty) return invalid('CLUSTER_SET_INVALID', 'ManagedClusterSet', p);
  return {
    ok: true,
    value: { apiVersion: clusterSetApiVersion, kind: 'ManagedClusterSet', metadata: meta, spec: { clusterSelector } },
  };
}

/** Validates a ManagedClusterSetBinding: OCM requires its name to be the set it binds. */
export function validateClusterSetBinding(
  input: unknown,
  path?: { namespace: string; name: string },
): Validated<ManagedClusterSetBinding, 'CLUSTER_SET_BINDING_INVALID'> {
  const p = new Problems();
  if (!isObject(input)) {
    p.add('', 'a ManagedClusterSetBinding must be an object');
    return invalid('CLUSTER_SET_BINDING_INVALID', 'ManagedClusterSetBinding', p);
  }
  kindAndVersion(input, 'ManagedClusterSetBinding', p);
  const meta = metadata(input.metadata, p, path?.name);
  const rawNs = isObject(input.metadata) ? input.metadata.namespace : undefined;
  const namespace = meta.namespace ?? 'default';
  if (path && rawNs !== undefined && rawNs !== '' && rawNs !== path.namespace) {
    p.add('metadata.namespace', `${JSON.stringify(rawNs)} differs from the namespace in the path`);
  }
  const spec = input.spec;
  let clusterSet = '';
  if (!isObject(spec)) p.add('spec', 'must be an object with clusterSet');
  else {
    p.unknownFields(spec, ['clusterSet'], 'spec');
    if (typeof spec.clusterSet !== 'string' || !spec.clusterSet) p.add('spec.clusterSet', 'is required');
    else if (spec.clusterSet !== meta.name) {
      p.add('spec.clusterSet', `must equal metadata.name (${JSON.stringify(meta.name)}), as OCM requires`);
    } else clusterSet = spec.clusterSet;
  }
  if (!p.empty) return invalid('CLUSTER_SET_BINDING_INVALID', 'ManagedClusterSetBinding', p);
  return {
    ok: true,
    value: {
      apiVersion: clusterSetApiVersion,
      kind: 'ManagedClusterSetBinding',
      metadata: { ...meta, namespace: path?.namespace ?? namespace },
      spec: { clusterSet },
    },
  };
}

export function compileClusterSet(name: string, spec: ClusterSetSpec): CompiledClusterSet {
  const { selectorType, labelSelector: ls } = spec.clusterSelector;
  return { name, selectorType, selector: selectorType === 'LabelSelector' ? selectorFromObject(ls ?? {}) : [] };
}

/** The ExclusiveClusterSetLabel set a cluster (its labels) is in: its set label, else default. */
export function exclusiveSetOf(labels: Readonly<Record<string, string>>): string {
  return labels[clusterSetLabel] || defaultClusterSet;
}

/** Whether a cluster (its labels) is a member of the set. */
export function inClusterSet(set: CompiledClusterSet, labels: Readonly<Record<string, string>>): boolean {
  if (set.selectorType === 'LabelSelector') return matchesSelector(set.selector, labels);
  return exclusiveSetOf(labels) === set.name;
}

function describeSelector(spec: ClusterSetSpec): string {
  return spec.clusterSelector.selectorType === 'LabelSelector'
    ? 'a label selector'
    : `the clusters labelled ${clusterSetLabel}=<set name>`;
}

/** The sets a Placement selects from, and why it may select none. */
export interface SetRestriction {
  /** The sets whose members the placement may select. */
  sets: readonly CompiledClusterSet[];
  /** Bound set names that do not exist (shown in its condition). */
  missing: readonly string[];
  /** Whether any set it may use is bound to its namespace. */
  bound: boolean;
}

/**
 * The sets a Placement selects from: `clusterSets` it names, `bindings` the set names bound
 * to its namespace, `sets` every stored set by name.
 */
export function setRestriction(
  clusterSets: readonly string[] | undefined,
  bindings: ReadonlySet<string>,
  sets: ReadonlyMap<string, CompiledClusterSet>,
): SetRestriction {
  const named = clusterSets && clusterSets.length > 0 ? clusterSets : undefined;
  const wanted = named ? named.filter((s) => bindings.has(s)) : [...bindings].sort();
  const out: CompiledClusterSet[] = [];
  const missing: string[] = [];
  for (const name of new Set(wanted)) {
    const set = sets.get(name);
    if (set) out.push(set);
    else missing.push(name);
  }
  return { sets: out, missing, bound: wanted.length > 0 };
}

/** The clusters a restriction leaves: the members of its sets. */
export function restrictClusters(r: SetRestriction, clusters: readonly ClusterView[]): readonly ClusterView[] {
  // global (the empty selector) holds every cluster: no need to test each.
  if (r.sets.some((s) => s.selectorType === 'LabelSelector' && s.selector.length === 0)) return clusters;
  return clusters.filter((c) => r.sets.some((s) => inClusterSet(s, c.labels)));
}

/**
 * OCM's PlacementSatisfied reasons when the sets leave nothing to select; undefined while the
 * sets hold clusters (the scheduler's own condition then says what it chose).
 */
export function setsCondition(
  r: SetRestriction,
  clusterSets: readonly string[] | undefined,
  members: number,
  clusterCount: number,
): PlacementCondition | undefined {
  if (members > 0 || clusterCount === 0) return undefined;
  if (!r.bound) {
    return {
      type: 'PlacementSatisfied',
      status: 'False',
      reason: 'NoManagedClusterSetBindings',
      message: clusterSets?.length
        ? `none of the cluster sets ${clusterSets.join(', ')} is bound to this namespace (ManagedClusterSetBinding)`
        : 'no cluster set is bound to this namespace (ManagedClusterSetBinding)',
    };
  }
  const names = [...r.sets.map((s) => s.name), ...r.missing];
  const missing = r.missing.length ? `; ${r.missing.join(', ')} do${r.missing.length === 1 ? 'es' : ''} not exist` : '';
  return {
    type: 'PlacementSatisfied',
    status: 'False',
    reason: 'AllManagedClusterSetsEmpty',
    message: `the cluster sets ${names.join(', ')} have no member cluster${missing}`,
  };
}
