// Who leads: the Lease the replicas compete for (leader/), read once, never written.
import type { KubeRest } from '../apply/rest.ts';
import { leaseDefaults } from '../leader/index.ts';

export interface LeaseView {
  namespace: string;
  name: string;
  /** The replica holding it; null when nobody does (released by a clean stop, or never taken). */
  holder: string | null;
  renewTime: string | null;
  acquireTime: string | null;
  leaseDurationSeconds: number | null;
  transitions: number | null;
}

interface LeaseObject {
  spec?: {
    holderIdentity?: string | null;
    renewTime?: string | null;
    acquireTime?: string | null;
    leaseDurationSeconds?: number | null;
    leaseTransitions?: number | null;
  };
}

/** The Lease `outpost-agent` in `namespace`, or undefined when there is none (no agent led yet). */
export async function readLease(
  rest: KubeRest,
  namespace: string,
  signal?: AbortSignal,
): Promise<LeaseView | undefined> {
  const name = leaseDefaults.name;
  const path = `/apis/coordination.k8s.io/v1/namespaces/${encodeURIComponent(namespace)}/leases/${encodeURIComponent(name)}`;
  const res = await rest.request({ method: 'GET', path, signal });
  if (res.status === 404) return undefined;
  if (res.status !== 200) {
    const message = (res.body as { message?: unknown } | undefined)?.message;
    throw new Error(
      `cannot read Lease ${namespace}/${name}: HTTP ${res.status}${typeof message === 'string' ? `: ${message}` : ''}`,
    );
  }
  const spec = (res.body as LeaseObject).spec ?? {};
  return {
    namespace,
    name,
    holder: spec.holderIdentity || null,
    renewTime: spec.renewTime ?? null,
    acquireTime: spec.acquireTime ?? null,
    leaseDurationSeconds: spec.leaseDurationSeconds ?? null,
    transitions: spec.leaseTransitions ?? null,
  };
}
