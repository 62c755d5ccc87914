// ManifestWork as Outpost and OCM spell it (work.open-cluster-management.io/v1 is accepted
// as an alias). Shared because the hub validates it and the agent executes it.

export const workApiVersion = 'outpost.dev/v1alpha1';
export const ocmWorkApiVersion = 'work.open-cluster-management.io/v1';

export type Manifest = Record<string, unknown> & {
  apiVersion: string;
  kind: string;
  /** `name` is always there but in a manifest that has only `generateName`, which the agent refuses alone. */
  metadata: { name: string; namespace?: string; generateName?: string } & Record<string, unknown>;
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
  // A manifest with only generateName (which the agent refuses alone) is keyed by it: '~'
  // is never part of a name, so it cannot collide with a named manifest.
  const name = m.metadata.name ?? `~${String(m.metadata.generateName ?? '')}`;
  return `${group}|${m.kind}|${m.metadata.namespace ?? ''}|${name}`;
}

/** The deepest `kind: List` inside a `kind: List` that is expanded (kubectl flattens nested lists too). */
const listDepth = 8;

/**
 * A manifest list with every list object (`kind: List`, or a typed list such as
 * `ConfigMapList`, with an `items` array) replaced by its items, in order, as kubectl does
 * with the files it applies. Items of a typed list that omit `apiVersion` or `kind` take
 * the list's. Each manifest comes with its path for messages (`[3]`, `[3].items[1]`).
 * Anything that is not a list object passes unchanged (its problems are the caller's).
 */
export function expandManifestLists(manifests: readonly unknown[]): { manifest: unknown; path: string }[] {
  const out: { manifest: unknown; path: string }[] = [];
  const visit = (m: unknown, path: string, depth: number) => {
    const list = listItems(m);
    if (!list || depth >= listDepth) {
      out.push({ manifest: m, path });
      return;
    }
    list.items.forEach((item, i) => {
      visit(list.fill(item), `${path}.items[${i}]`, depth + 1);
    });
  };
  manifests.forEach((m, i) => {
    visit(m, `[${i}]`, 0);
  });
  return out;
}

function listItems(m: unknown): { items: unknown[]; fill: (item: unknown) => unknown } | undefined {
  if (typeof m !== 'object' || m === null || Array.isArray(m)) return undefined;
  const o = m as Record<string, unknown>;
  if (typeof o.kind !== 'string' || !o.kind.endsWith('List') || !Array.isArray(o.items)) return undefined;
  const itemKind = o.kind === 'List' ? undefined : o.kind.slice(0, -'List'.length);
  return {
    items: o.items,
    fill: (item) => {
      if (typeof item !== 'object' || item === null || Array.isArray(item) || itemKind === undefined) return item;
      const it = item as Record<string, unknown>;
      return { apiVersion: it.apiVersion ?? o.apiVersion, kind: it.kind ?? itemKind, ...it };
    },
  };
}
