// ManifestWork as Outpost and OCM spell it (work.open-cluster-management.io/v1 is accepted
// as an alias). Shared because the hub validates it and the agent executes it.

export const workApiVersion = 'outpost.dev/v1alpha1';
export const ocmWorkApiVersion = 'work.open-cluster-management.io/v1';

export type Manifest = Record<string, unknown> & {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string } & Record<string, unknown>;
};

export const propagationPolicies = ['Foreground', 'Orphan', 'SelectivelyOrphan'] as const;
export type PropagationPolicy = (typeof propagationPolicies)[number];

export interface ResourceIdentifier {
  group: string;
  resource: string;
  namespace?: string;
  name: string;
}

export interface DeleteOption {
  propagationPolicy?: PropagationPolicy;
  selectivelyOrphans?: { orphaningRules?: ResourceIdentifier[] };
}

export const updateStrategyTypes = ['ServerSideApply', 'Update', 'CreateOnly', 'ReadOnly'] as const;
export type UpdateStrategyType = (typeof updateStrategyTypes)[number];

export interface IgnoreField {
  condition?: 'OnSpokePresent' | 'OnSpokeChange';
  jsonPaths: string[];
}

export interface ManifestConfig {
  resourceIdentifier: ResourceIdentifier;
  updateStrategy?: {
    type: UpdateStrategyType;
    serverSideApply?: { force?: boolean; fieldManager?: string; ignoreFields?: IgnoreField[] };
  };
  feedbackRules?: { type: 'WellKnownStatus' | 'JSONPaths'; jsonPaths?: { name: string; path: string }[] }[];
}

export interface ManifestWorkSpec {
  workload: { manifests: Manifest[] };
  deleteOption?: DeleteOption;
  manifestConfigs?: ManifestConfig[];
}

/**
 * The identity of a manifest inside a work: group, kind, namespace and name (not the
 * version: the same object under two versions is a duplicate).
 */
export function manifestKey(m: Pick<Manifest, 'apiVersion' | 'kind' | 'metadata'>): string {
  const slash = m.apiVersion.indexOf('/');
  const group = slash < 0 ? '' : m.apiVersion.slice(0, slash);
  return `${group}|${m.kind}|${m.metadata.namespace ?? ''}|${m.metadata.name}`;
}
