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

/** Where each kind of the chart lives in the API (the chart has no other kinds). */
const resources: Record<string, { base: string; resource: string; namespaced: boolean }> = {
  Namespace: { base: '/api/v1', resource: 'namespaces', namespaced: false },
  ServiceAccount: { base: '/api/v1', resource: 'serviceaccounts', namespaced: true },
  ClusterRole: { base: '/apis/rbac.authorization.k8s.io/v1', resource: 'clusterroles', namespaced: false },
  ClusterRoleBinding: {
    base: '/apis/rbac.authorization.k8s.io/v1',
    resource: 'clusterrolebindings',
    namespaced: false,
  },
  Role: { base: '/apis/rbac.authorization.k8s.io/v1', resource: 'roles', namespaced: true },
  RoleBinding: { base: '/apis/rbac.authorization.k8s.io/v1', resource: 'rolebindings', namespaced: true },
  DaemonSet: { base: '/apis/apps/v1', resource: 'daemonsets', namespaced: true },
};

/** The object's REST path (`/apis/apps/v1/namespaces/NS/daemonsets/NAME`). */
export function manifestPath(m: Manifest): string {
  const r = resources[m.kind];
  if (!r) throw new Error(`the agent's manifests hold an unexpected kind ${m.kind}`);
  const ns = r.namespaced ? `/namespaces/${encodeURIComponent(String(m.metadata.namespace))}` : '';
  return `${r.base}${ns}/${r.resource}/${encodeURIComponent(m.metadata.name)}`;
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
