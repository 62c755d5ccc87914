// What install/index.ts and install/workloads.ts share: progress lines, the waits' options,
// the Lease fields they read, and how a refused call of the cluster becomes an error.
import type { KubeResponse } from '../apply/rest.ts';
import { AgentError } from '../errors.ts';

export type Progress = (line: string) => void;

/** Options of a bounded wait that says where it stands every `everyMs`. */
export interface WaitOptions {
  timeoutMs: number;
  progress: Progress;
  signal?: AbortSignal | undefined;
  everyMs?: number;
  pollMs?: number;
  now?: () => number;
}

export interface LeaseSpec {
  holderIdentity?: string;
  renewTime?: string;
  leaseDurationSeconds?: number;
}

export const leasePath = (namespace: string, name: string) =>
  `/apis/coordination.k8s.io/v1/namespaces/${encodeURIComponent(namespace)}/leases/${encodeURIComponent(name)}`;

export const ok = (res: KubeResponse) => res.status >= 200 && res.status < 300;

export function failed(what: string, res: KubeResponse): AgentError {
  const body = res.body as { message?: string } | string | undefined;
  const reason = typeof body === 'object' && body?.message ? body.message : String(body ?? '').slice(0, 200);
  return new AgentError('AGENT_INSTALL_FAILED', `${what}: HTTP ${res.status}${reason ? `: ${reason}` : ''}`, {
    details: { status: res.status },
  });
}
