// The agent chart rendered with its default values (manifests.yaml, copied here by
// deploy/render.sh and kept in step by test/deploy/charts.test.ts), read at run time and
// adapted to one install: its namespace and its image. It sits among the agent's sources so
// that a source checkout and the agent image (which copies packages/agent/src) both carry it.
import { readFileSync } from 'node:fs';
import { parseAllDocuments } from 'yaml';

// biome-ignore lint/suspicious/noExplicitAny: rendered YAML, read and rewritten field by field
export type Manifest = Record<string, any> & {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
};

/** The label the installer puts on a Namespace it created; `leave --delete-namespace` needs it. */
export const installedByLabel = 'outpost.dev/installed-by';
export const installerFieldManager = 'outpost-agent-installer';

/**
 * How the installer puts an object into the cluster:
 * - `apply`: server-side apply with the installer's field manager, forced (the agent's own
 *   objects: re-running join --install puts them back as the chart has them);
 * - `createIfAbsent`: created when missing, else left exactly as it is. For CRDs, which are
 *   shared with whoever else installed them: OCM's klusterlet installs the same ClusterClaim
 *   CRD (perhaps another revision of it), and taking over its fields would fight OCM's
 *   operator. Helm treats a chart's crds/ the same way.
 */
export type InstallMode = 'apply' | 'createIfAbsent';

/** Where each kind of the chart lives in the API and how it is installed (the chart has no other kinds). */
const resources: Record<string, { base: string; resource: string; namespaced: boolean; mode: InstallMode }> = {
  Namespace: { base: '/api/v1', resource: 'namespaces', namespaced: false, mode: 'apply' },
  CustomResourceDefinition: {
    base: '/apis/apiextensions.k8s.io/v1',
    resource: 'customresourcedefinitions',
    namespaced: false,
    mode: 'createIfAbsent',
  },
  ServiceAccount: { base: '/api/v1', resource: 'serviceaccounts', namespaced: true, mode: 'apply' },
  ClusterRole: {
    base: '/apis/rbac.authorization.k8s.io/v1',
    resource: 'clusterroles',
    namespaced: false,
    mode: 'apply',
  },
  ClusterRoleBinding: {
    base: '/apis/rbac.authorization.k8s.io/v1',
    resource: 'clusterrolebindings',
    namespaced: false,
    mode: 'apply',
  },
  Role: { base: '/apis/rbac.authorization.k8s.io/v1', resource: 'roles', namespaced: true, mode: 'apply' },
  RoleBinding: {
    base: '/apis/rbac.authorization.k8s.io/v1',
    resource: 'rolebindings',
    namespaced: true,
    mode: 'apply',
  },
  DaemonSet: { base: '/apis/apps/v1', resource: 'daemonsets', namespaced: true, mode: 'apply' },
};

function resourceOf(m: Manifest) {
  const r = resources[m.kind];
  if (!r) throw new Error(`the agent's manifests hold an unexpected kind ${m.kind}`);
  return r;
}

/** How `m` is installed (see InstallMode). */
export function installModeOf(m: Manifest): InstallMode {
  return resourceOf(m).mode;
}

/** The REST path of the object's collection (`/apis/apps/v1/namespaces/NS/daemonsets`). */
export function manifestCollectionPath(m: Manifest): string {
  const r = resourceOf(m);
  const ns = r.namespaced ? `/namespaces/${encodeURIComponent(String(m.metadata.namespace))}` : '';
  return `${r.base}${ns}/${r.resource}`;
}

/** The object's REST path (`/apis/apps/v1/namespaces/NS/daemonsets/NAME`). */
export function manifestPath(m: Manifest): string {
  return `${manifestCollectionPath(m)}/${encodeURIComponent(m.metadata.name)}`;
}

/** `ServiceAccount outpost-agent/outpost-agent`, `ClusterRole outpost-agent`. */
export function describeManifest(m: Manifest): string {
  return `${m.kind} ${m.metadata.namespace ? `${m.metadata.namespace}/` : ''}${m.metadata.name}`;
}

const manifestsFile = new URL('./manifests.yaml', import.meta.url);

/** The rendered chart as shipped, in apply order (the Namespace first). */
export function shippedManifests(text = readFileSync(manifestsFile, 'utf8')): Manifest[] {
  const out: Manifest[] = [];
  for (const doc of parseAllDocuments(text)) {
    if (doc.errors.length > 0) throw new Error(`the agent's manifests do not parse: ${doc.errors[0]?.message}`);
    const obj = doc.toJS() as Manifest | null;
    if (obj) out.push(obj);
  }
  return out;
}

/**
 * The manifests for one install: every namespaced object, the Namespace itself and the
 * bindings' ServiceAccount subjects moved to `namespace`; the agent container's image
 * replaced when `image` is given; the Namespace labelled as the installer's.
 */
export function installManifests(
  opts: { namespace: string; image?: string | undefined },
  shipped: Manifest[] = shippedManifests(),
): Manifest[] {
  return shipped.map((original) => {
    const m = structuredClone(original);
    if (m.kind === 'Namespace') {
      m.metadata.name = opts.namespace;
      m.metadata.labels = { ...m.metadata.labels, [installedByLabel]: installerFieldManager };
    } else if (m.metadata.namespace !== undefined) {
      m.metadata.namespace = opts.namespace;
    }
    if (m.kind === 'RoleBinding' || m.kind === 'ClusterRoleBinding') {
      for (const s of m.subjects ?? []) if (s.kind === 'ServiceAccount') s.namespace = opts.namespace;
    }
    if (m.kind === 'DaemonSet' && opts.image !== undefined) {
      for (const c of m.spec.template.spec.containers) if (c.name === 'agent') c.image = opts.image;
    }
    return m;
  });
}

/** What the cluster holds under a manifest's name, as far as create-if-absent reads it. */
export interface ExistingObject {
  metadata?: { deletionTimestamp?: string };
  spec?: { versions?: { name?: string; served?: boolean }[] };
}

export type CreateIfAbsentStep = { action: 'create' } | { action: 'leave'; note: string };

/**
 * Create-if-absent's decision: create `m` when nothing holds its name, else leave what is
 * there untouched, with a note on what it means (being deleted; a CRD not serving a
 * version that the chart's serves, so the agent cannot read those objects).
 */
export function createIfAbsentStep(m: Manifest, existing: ExistingObject | undefined): CreateIfAbsentStep {
  if (!existing) return { action: 'create' };
  if (existing.metadata?.deletionTimestamp) {
    return { action: 'leave', note: 'already present, being deleted; run the command again once it is gone' };
  }
  const notes = ['already present'];
  if (m.kind === 'CustomResourceDefinition') {
    const versions = (v: ExistingObject['spec']) => (v?.versions ?? []).filter((x) => x.served).map((x) => x.name);
    const served = new Set(versions(existing.spec));
    const missing = versions(m.spec as ExistingObject['spec']).filter((name) => !served.has(name));
    if (missing.length > 0) notes.push(`it does not serve ${missing.join(', ')}, as the agent's would`);
  }
  return { action: 'leave', note: notes.join('; ') };
}
