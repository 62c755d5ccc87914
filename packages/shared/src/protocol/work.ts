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

/**
 * OCM's resource identifier as written: `group` and `namespace` are optional and mean the
 * core group and a cluster-scoped object (""). Read it only through `normalizeIdentifier`
 * and `identifierMatches`, which default those fields the way OCM does.
 */
export interface ResourceIdentifier {
  group?: string;
  resource: string;
  namespace?: string;
  name: string;
}

/** A resource identifier with OCM's defaults filled in. */
export type NormalizedIdentifier = Required<ResourceIdentifier>;

export interface DeleteOption {
  propagationPolicy?: PropagationPolicy;
  selectivelyOrphans?: { orphaningRules?: ResourceIdentifier[] };
  /** The hub deletes the work this long after its status shows Complete True (0: at once). */
  ttlSecondsAfterFinished?: number;
}

export const feedbackScrapeTypes = ['Poll', 'Watch'] as const;
export type FeedbackScrapeType = (typeof feedbackScrapeTypes)[number];

/** OCM's rule types; Outpost evaluates WellKnownConditions and refuses CEL by name. */
export const conditionRuleTypes = ['WellKnownConditions', 'CEL'] as const;
export type ConditionRuleType = (typeof conditionRuleTypes)[number];

export interface ConditionRule {
  /** The condition type set on the manifest (WellKnownConditions: `Complete` when empty). */
  condition?: string;
  type: ConditionRuleType;
  /** Replaces the rule's own message. */
  message?: string;
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
  /** How feedback values are collected: Poll (OCM's default, every status sync interval) or Watch (on every change). */
  feedbackScrapeType?: FeedbackScrapeType;
  /** Conditions set on the manifest from its object (and aggregated onto the work). */
  conditionRules?: ConditionRule[];
}

/** OCM supports one executor subject type; any other is refused by the hub, naming the field. */
export const executorSubjectTypes = ['ServiceAccount'] as const;
export type ExecutorSubjectType = (typeof executorSubjectTypes)[number];

/**
 * OCM's `spec.executor`: the identity whose permissions bound what the work may do on the
 * spoke. The agent still writes with its own credentials, but first asks the spoke's
 * apiserver (SubjectAccessReview) whether this ServiceAccount may, manifest by manifest.
 * Absent: the agent's own permissions alone (OCM's default).
 */
export interface ManifestWorkExecutor {
  subject: {
    type: ExecutorSubjectType;
    serviceAccount: { namespace: string; name: string };
  };
}

export interface ManifestWorkSpec {
  workload: { manifests: Manifest[] };
  deleteOption?: DeleteOption;
  manifestConfigs?: ManifestConfig[];
  executor?: ManifestWorkExecutor;
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

/** OCM's defaults for an identifier's optional fields: the core group, a cluster-scoped object. */
export function normalizeIdentifier(id: ResourceIdentifier): NormalizedIdentifier {
  return { group: id.group ?? '', resource: id.resource, namespace: id.namespace ?? '', name: id.name };
}

/** OCM's wildcard: `*` in an identifier's name or namespace stands for any run of characters. */
function wildcardMatches(pattern: string, value: string): boolean {
  if (pattern === value || pattern === '*') return true;
  if (!pattern.includes('*')) return false;
  let at = 0;
  const parts = pattern.split('*');
  for (const [i, part] of parts.entries()) {
    if (i === 0) {
      if (!value.startsWith(part)) return false;
      at = part.length;
    } else if (i === parts.length - 1) {
      return value.length - part.length >= at && value.endsWith(part);
    } else {
      const found = value.indexOf(part, at);
      if (found < 0) return false;
      at = found + part.length;
    }
  }
  return true;
}

/**
 * Whether identifier `id` names the object: group and resource exactly (a missing group is
 * the core group), name and namespace exactly or through `*` wildcards, as OCM's work agent
 * matches manifestConfigs. The one matcher for configs (strategy, feedback, conditions) and
 * orphaning rules. `object.namespaces` lists the namespaces the object answers to: the
 * effective one, and '' for a namespaced manifest that names none (it lands in `default`).
 */
export function identifierMatches(
  id: ResourceIdentifier,
  object: { group: string; resource: string; name: string; namespaces: readonly string[] },
): boolean {
  const n = normalizeIdentifier(id);
  return (
    n.group === object.group &&
    n.resource === object.resource &&
    wildcardMatches(n.name, object.name) &&
    object.namespaces.some((ns) => wildcardMatches(n.namespace, ns))
  );
}

/**
 * The work options with every resource identifier normalized (manifestConfigs and orphaning
 * rules): what the hub stores and sends, and what the agent holds, whatever was written.
 */
export function normalizeWorkOptions<T extends Pick<ManifestWorkSpec, 'deleteOption' | 'manifestConfigs'>>(spec: T): T {
  const out = { ...spec };
  if (spec.manifestConfigs) {
    out.manifestConfigs = spec.manifestConfigs.map((c) => ({
      ...c,
      resourceIdentifier: normalizeIdentifier(c.resourceIdentifier),
    }));
  }
  const rules = spec.deleteOption?.selectivelyOrphans?.orphaningRules;
  if (spec.deleteOption && rules) {
    out.deleteOption = {
      ...spec.deleteOption,
      selectivelyOrphans: { ...spec.deleteOption.selectivelyOrphans, orphaningRules: rules.map(normalizeIdentifier) },
    };
  }
  return out;
}
