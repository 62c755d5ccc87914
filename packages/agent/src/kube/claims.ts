// Cluster claims the agent reports on its own, as OCM's klusterlet does: facts about the
// spoke that placements select on (`claimSelector`) and worksets template with
// (`{{ .claims.KEY }}`). Read from the spoke's API with the agent's own credentials:
//
//   id.k8s.io                               the kube-system namespace's UID (OCM's cluster id)
//   kubeversion.open-cluster-management.io  the apiserver's gitVersion (GET /version)
//   product.open-cluster-management.io      K3s, RKE2, EKS, GKE, AKS or OpenShift where the
//                                           version string or the API shows it, else Other
//   platform.open-cluster-management.io     AWS, GCP, Azure, IBM, VSphere or OpenStack from the
//                                           nodes' providerID, else Other
//   region.open-cluster-management.io       the nodes' topology.kubernetes.io/region (values
//                                           joined by "," when several)
//   zones.outpost.dev                       their topology.kubernetes.io/zone values
//   nodes.outpost.dev                       the node count
//   cpu.outpost.dev, memory.outpost.dev     allocatable CPU (cores) and memory (Mi) summed
//   agentversion.outpost.dev                this agent's version
//
// and every ClusterClaim object (`cluster.open-cluster-management.io/v1alpha1`, cluster-
// scoped: its name is the claim's name, `spec.value` its value). A part the agent may not
// read (no RBAC for nodes, no ClusterClaim CRD) is left out, never an error. When they are
// read again (a watch on ClusterClaims, every 5 minutes): claims-watch.ts.
import { limits } from '@outpost/shared';
import type { KubeObject, ResourceRef } from '../apply/kube.ts';
import type { KubeRest } from '../apply/rest.ts';
import { agentVersion } from '../version.ts';

export const claimNames = {
  id: 'id.k8s.io',
  kubeVersion: 'kubeversion.open-cluster-management.io',
  product: 'product.open-cluster-management.io',
  platform: 'platform.open-cluster-management.io',
  region: 'region.open-cluster-management.io',
  zones: 'zones.outpost.dev',
  nodes: 'nodes.outpost.dev',
  cpu: 'cpu.outpost.dev',
  memory: 'memory.outpost.dev',
  agentVersion: 'agentversion.outpost.dev',
} as const;

const listLimit = 500;

async function get(rest: KubeRest, path: string, query?: Record<string, string>): Promise<unknown> {
  const res = await rest.request({ method: 'GET', path, ...(query ? { query } : {}) });
  return res.status === 200 ? res.body : undefined;
}

/**
 * Every item of a list, page by page; undefined when the list cannot be read. With
 * `absentIsEmpty`, a collection the apiserver does not serve (404: no such CRD) is empty.
 */
async function listAll(rest: KubeRest, path: string, absentIsEmpty = false): Promise<KubeObject[] | undefined> {
  const out: KubeObject[] = [];
  let cont: string | undefined;
  do {
    const query = { limit: String(listLimit), ...(cont ? { continue: cont } : {}) };
    const res = await rest.request({ method: 'GET', path, query });
    if (res.status === 404 && absentIsEmpty && cont === undefined) return [];
    const page =
      res.status === 200 ? (res.body as { items?: KubeObject[]; metadata?: { continue?: string } }) : undefined;
    if (!page || !Array.isArray(page.items)) return undefined;
    out.push(...page.items);
    cont = page.metadata?.continue || undefined;
  } while (cont);
  return out;
}

const binary: Record<string, number> = { Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40, Pi: 2 ** 50, Ei: 2 ** 60 };
const decimal: Record<string, number> = {
  n: 1e-9,
  u: 1e-6,
  m: 1e-3,
  '': 1,
  k: 1e3,
  M: 1e6,
  G: 1e9,
  T: 1e12,
  P: 1e15,
  E: 1e18,
};

/** A Kubernetes quantity ("3920m", "16302372Ki", "1.5Gi", "2e3") as a number; NaN when malformed. */
export function quantity(text: string): number {
  const m = /^([+-]?(?:\d+\.?\d*|\.\d+))(?:(Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E)|[eE]([+-]?\d+))?$/.exec(text.trim());
  if (!m) return Number.NaN;
  const n = Number(m[1]);
  if (m[3] !== undefined) return n * 10 ** Number(m[3]);
  const suffix = m[2] ?? '';
  return n * (binary[suffix] ?? decimal[suffix] ?? Number.NaN);
}

const providers: [RegExp, string][] = [
  [/^aws:/, 'AWS'],
  [/^gce:/, 'GCP'],
  [/^azure:/, 'Azure'],
  [/^ibm:/, 'IBM'],
  [/^vsphere:/, 'VSphere'],
  [/^openstack:/, 'OpenStack'],
];

/** The distribution, from the version string (and OpenShift from its API group). */
function product(gitVersion: string, openShift: boolean): string {
  if (openShift) return 'OpenShift';
  if (/\+k3s/.test(gitVersion)) return 'K3s';
  if (/\+rke2/.test(gitVersion)) return 'RKE2';
  if (/-eks-/.test(gitVersion)) return 'EKS';
  if (/-gke\./.test(gitVersion)) return 'GKE';
  return 'Other';
}

const joined = (values: Iterable<string>) => [...new Set(values)].filter(Boolean).sort().join(',');

/** The claims of the cluster behind `rest` now (see the top of this file). */
export async function collectClaims(rest: KubeRest): Promise<Record<string, string>> {
  return mergeClaims(await collectOwnClaims(rest), (await listClusterClaims(rest)) ?? {});
}

const tolerant = async <T>(fn: () => Promise<T>): Promise<T | undefined> => {
  try {
    return await fn();
  } catch {
    return undefined;
  }
};

/** The claims the agent reads itself (all but the ClusterClaim objects). */
export async function collectOwnClaims(rest: KubeRest): Promise<Record<string, string>> {
  const out: Record<string, string> = { [claimNames.agentVersion]: agentVersion };
  const version = (await tolerant(() => get(rest, '/version'))) as { gitVersion?: string } | undefined;
  const kubeSystem = (await tolerant(() => get(rest, '/api/v1/namespaces/kube-system'))) as KubeObject | undefined;
  if (kubeSystem?.metadata?.uid) out[claimNames.id] = kubeSystem.metadata.uid;
  const openShift = (await tolerant(() => get(rest, '/apis/config.openshift.io/v1'))) !== undefined;
  if (typeof version?.gitVersion === 'string') {
    out[claimNames.kubeVersion] = version.gitVersion;
    out[claimNames.product] = product(version.gitVersion, openShift);
  }

  const nodes = await tolerant(() => listAll(rest, '/api/v1/nodes'));
  if (nodes) {
    out[claimNames.nodes] = String(nodes.length);
    let cpu = 0;
    let memory = 0;
    const platforms = new Set<string>();
    const regions: string[] = [];
    const zones: string[] = [];
    for (const n of nodes) {
      const spec = (n.spec ?? {}) as { providerID?: string };
      const status = (n.status ?? {}) as { allocatable?: Record<string, string> };
      const labels = n.metadata?.labels ?? {};
      const c = quantity(status.allocatable?.cpu ?? '0');
      const m = quantity(status.allocatable?.memory ?? '0');
      if (Number.isFinite(c)) cpu += c;
      if (Number.isFinite(m)) memory += m;
      platforms.add(providers.find(([re]) => re.test(spec.providerID ?? ''))?.[1] ?? 'Other');
      if (labels['topology.kubernetes.io/region']) regions.push(labels['topology.kubernetes.io/region']);
      if (labels['topology.kubernetes.io/zone']) zones.push(labels['topology.kubernetes.io/zone']);
    }
    out[claimNames.cpu] = String(Math.round(cpu * 1000) / 1000);
    out[claimNames.memory] = `${Math.floor(memory / 2 ** 20)}Mi`;
    // One provider for every node, or Other (none known, or a mix).
    out[claimNames.platform] = platforms.size === 1 ? ([...platforms][0] as string) : 'Other';
    if (regions.length) out[claimNames.region] = joined(regions);
    if (zones.length) out[claimNames.zones] = joined(zones);
  }
  return out;
}

/** OCM's ClusterClaim resource (cluster-scoped), and its discovery and collection paths. */
export const clusterClaims: ResourceRef = {
  group: 'cluster.open-cluster-management.io',
  version: 'v1alpha1',
  resource: 'clusterclaims',
  namespace: '',
};
export const clusterClaimsGroupVersion = `/apis/${clusterClaims.group}/${clusterClaims.version}`;
export const clusterClaimsPath = `${clusterClaimsGroupVersion}/${clusterClaims.resource}`;

/**
 * The ClusterClaim objects as name → spec.value (objects without a string value left out);
 * `{}` when the CRD is not installed (404); undefined when they cannot be read now (no
 * RBAC, the apiserver unreachable).
 */
export async function listClusterClaims(rest: KubeRest): Promise<Record<string, string> | undefined> {
  const items = await tolerant(() => listAll(rest, clusterClaimsPath, true));
  if (!items) return undefined;
  const out: Record<string, string> = {};
  for (const o of items) {
    const name = o.metadata?.name;
    const value = (o.spec as { value?: unknown } | undefined)?.value;
    if (name && typeof value === 'string') out[name] = value;
  }
  return out;
}

/**
 * The claims reported: the agent's own first, so a ClusterClaim cannot pretend to be the
 * apiserver's version; then the ClusterClaims by name, skipping names the agent's own
 * claims hold, up to limits.claimsPerCluster; every value cut to limits.claimValueMax.
 */
export function mergeClaims(
  own: Readonly<Record<string, string>>,
  clusterClaims: Readonly<Record<string, string>>,
): Record<string, string> {
  const out: Record<string, string> = { ...own };
  for (const name of Object.keys(clusterClaims).sort()) {
    if (name in out) continue;
    if (Object.keys(out).length >= limits.claimsPerCluster) break;
    out[name] = clusterClaims[name] as string;
  }
  for (const [k, v] of Object.entries(out))
    if (v.length > limits.claimValueMax) out[k] = v.slice(0, limits.claimValueMax);
  return out;
}
