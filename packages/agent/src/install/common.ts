// What install/index.ts and install/workloads.ts share: progress lines, the waits' options,
// the Lease fields they read, and how a refused call of the cluster becomes an error.
import { formatDuration } from '@outpost/shared';
import type { KubeResponse, KubeRest } from '../apply/rest.ts';
import { AgentError } from '../errors.ts';
import { leaseDefaults } from '../leader/index.ts';

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

/** The Lease's spec (empty when there is none, `found` false), and its duration in ms. */
export async function readLease(
  rest: KubeRest,
  namespace: string,
  name: string,
  signal: AbortSignal | undefined,
): Promise<{ found: boolean; spec: LeaseSpec; durationMs: number }> {
  const res = await rest.request({ method: 'GET', path: leasePath(namespace, name), signal });
  if (!ok(res) && res.status !== 404) throw failed(`reading Lease ${namespace}/${name}`, res);
  const spec: LeaseSpec = res.status === 404 ? {} : ((res.body as { spec?: LeaseSpec }).spec ?? {});
  const durationMs = spec.leaseDurationSeconds ? spec.leaseDurationSeconds * 1_000 : leaseDefaults.leaseDurationMs;
  return { found: res.status !== 404, spec, durationMs };
}

/**
 * The loop of a bounded wait: `look` says whether it is over and, if not, where things
 * stand; that is said as `waiting for WHAT (elapsed): STATE` every `everyMs` (5 s), looked
 * at again every `pollMs`, and after `timeoutMs` `timedOut(state)` is thrown.
 */
export async function pollUntil(
  what: string,
  opts: WaitOptions,
  defaultPollMs: number,
  look: () => Promise<{ done: true } | { done: false; state: string }>,
  timedOut: (state: string) => AgentError,
): Promise<void> {
  const now = opts.now ?? Date.now;
  const started = now();
  let lastSaid = Number.NEGATIVE_INFINITY;
  for (;;) {
    opts.signal?.throwIfAborted();
    const seen = await look();
    if (seen.done) return;
    const elapsed = now() - started;
    if (elapsed >= opts.timeoutMs) throw timedOut(seen.state);
    if (elapsed - lastSaid >= (opts.everyMs ?? 5_000)) {
      lastSaid = elapsed;
      opts.progress(`waiting for ${what} (${formatDuration(elapsed)}): ${seen.state}`);
    }
    await new Promise((r) =>
      setTimeout(r, Math.min(opts.pollMs ?? defaultPollMs, Math.max(0, opts.timeoutMs - elapsed))),
    );
  }
}

export const ok = (res: KubeResponse) => res.status >= 200 && res.status < 300;

export function failed(what: string, res: KubeResponse): AgentError {
  const body = res.body as { message?: string } | string | undefined;
  const reason = typeof body === 'object' && body?.message ? body.message : String(body ?? '').slice(0, 200);
  return new AgentError('AGENT_INSTALL_FAILED', `${what}: HTTP ${res.status}${reason ? `: ${reason}` : ''}`, {
    details: { status: res.status },
  });
}
