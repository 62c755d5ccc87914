// `outpost-agent leave`: waiting until no agent of the install runs any more, and (with
// --delete-workloads) deleting what the works applied, as the running agent would had the
// hub deleted each work: from the agent's own ledger in its state Secrets, under each
// work's deleteOption (Orphan and SelectivelyOrphan keep what they name), every DELETE with
// the UID recorded at apply time as its precondition, namespaced objects before
// cluster-scoped ones, CRDs and Namespaces last.
import { formatDuration } from '@outpost/shared';
import { defaultApplierOptions } from '../apply/applier.ts';
import { deleteObjects } from '../apply/delete.ts';
import type { KubeResponse, KubeRest } from '../apply/rest.ts';
import { AgentError } from '../errors.ts';
import { SecretsClient } from '../kube/secrets.ts';
import { openStateStore } from '../state/index.ts';
import { planWorkDeletion } from '../sync/desired.ts';
import type { AppliedObject, DeleteResult } from '../work/types.ts';

type Progress = (line: string) => void;

const agentPodSelector = 'app.kubernetes.io/name=outpost-agent';

interface LeaseSpec {
  holderIdentity?: string;
  renewTime?: string;
  leaseDurationSeconds?: number;
}

function failed(what: string, res: KubeResponse): AgentError {
  const body = res.body as { message?: string } | undefined;
  return new AgentError(
    'AGENT_INSTALL_FAILED',
    `${what}: HTTP ${res.status}${body?.message ? `: ${body.message}` : ''}`,
    {
      details: { status: res.status },
    },
  );
}

/**
 * Waits until no agent of the install can still write: no agent pod that is not being
 * deleted, and the Lease released, missing, or not renewed for its whole duration while we
 * watched (by our clock alone: the holder's clock may differ). A leader stopped cleanly
 * releases the Lease at once; one killed lets it lapse.
 */
export async function waitForAgentStopped(
  rest: KubeRest,
  namespace: string,
  leaseName: string,
  opts: {
    timeoutMs: number;
    progress: Progress;
    signal?: AbortSignal | undefined;
    everyMs?: number;
    pollMs?: number;
    now?: () => number;
  },
): Promise<void> {
  const now = opts.now ?? Date.now;
  const started = now();
  const ns = encodeURIComponent(namespace);
  let seen: { renewTime: string; at: number } | undefined;
  let lastSaid = Number.NEGATIVE_INFINITY;
  for (;;) {
    opts.signal?.throwIfAborted();
    const pods = await rest.request({
      method: 'GET',
      path: `/api/v1/namespaces/${ns}/pods`,
      query: { labelSelector: agentPodSelector },
      signal: opts.signal,
    });
    if (pods.status >= 300 && pods.status !== 404) throw failed(`listing the agent's pods in ${namespace}`, pods);
    const items =
      pods.status === 404
        ? []
        : ((pods.body as { items?: { metadata?: { name?: string; deletionTimestamp?: string } }[] }).items ?? []);
    const running = items.filter((p) => !p.metadata?.deletionTimestamp).map((p) => String(p.metadata?.name));
    const lease = await rest.request({
      method: 'GET',
      path: `/apis/coordination.k8s.io/v1/namespaces/${ns}/leases/${encodeURIComponent(leaseName)}`,
      signal: opts.signal,
    });
    if (lease.status >= 300 && lease.status !== 404) throw failed(`reading Lease ${namespace}/${leaseName}`, lease);
    const spec: LeaseSpec = lease.status === 404 ? {} : ((lease.body as { spec?: LeaseSpec }).spec ?? {});
    const t = now();
    const renewTime = spec.renewTime ?? '';
    if (!seen || seen.renewTime !== renewTime) seen = { renewTime, at: t };
    const durationMs = (spec.leaseDurationSeconds ?? 15) * 1_000;
    const held = Boolean(spec.holderIdentity) && t - seen.at < durationMs;
    if (running.length === 0 && !held) return;

    const state =
      `${running.length ? `pod(s) still running: ${running.slice(0, 3).join(', ')}${running.length > 3 ? ', …' : ''}` : 'no agent pod left'}, ` +
      `Lease ${leaseName} ${held ? `held by ${spec.holderIdentity}` : 'free'}`;
    const elapsed = t - started;
    if (elapsed >= opts.timeoutMs) {
      throw new AgentError(
        'AGENT_LEAVE_TIMEOUT',
        `gave up after ${formatDuration(opts.timeoutMs)} waiting for the agent to stop (${state}); nothing the works applied was touched. ` +
          `Stop that agent (an agent run outside this DaemonSet with the same namespace holds the Lease too) and run leave again`,
      );
    }
    if (elapsed - lastSaid >= (opts.everyMs ?? 5_000)) {
      lastSaid = elapsed;
      opts.progress(`waiting for the agent to stop (${formatDuration(elapsed)}): ${state}`);
    }
    await new Promise((r) => setTimeout(r, Math.min(opts.pollMs ?? 500, Math.max(0, opts.timeoutMs - elapsed))));
  }
}

export interface WorkloadDeletion {
  works: number;
  deleted: number;
  /** Kept by the works' delete options. */
  orphanedByPolicy: number;
  /** Not the object the work applied any more (replaced under the same name): left alone. */
  replaced: number;
  /** Being deleted, waiting for finalizers: they go by themselves. */
  finalizing: number;
}

const describe = (o: AppliedObject) =>
  `${o.kind}${o.group ? `.${o.group}` : ''} ${o.namespace ? `${o.namespace}/` : ''}${o.name}`;

/**
 * Deletes every object in the agent's ledger that its work's deleteOption does not keep.
 * A failure that leaves objects behind (the cluster refusing or not answering) throws
 * AGENT_LEAVE_INCOMPLETE before anything else is removed, so the state that lists them
 * stays for a re-run.
 */
export async function deleteWorkloads(
  rest: KubeRest,
  namespace: string,
  opts: {
    progress: Progress;
    log: { warn(obj: object, msg?: string): void; debug(obj: object, msg?: string): void };
    signal?: AbortSignal | undefined;
  },
): Promise<WorkloadDeletion> {
  const state = openStateStore({ kind: 'secret', api: new SecretsClient(rest), namespace });
  const snap = await state.load();
  const byUid = new Map([...snap.works.values()].map((w) => [w.uid, w]));
  const remove: AppliedObject[] = [];
  let orphanedByPolicy = 0;
  let works = 0;
  for (const [uid, objects] of snap.ledger) {
    if (objects.length === 0) continue;
    works++;
    const work = byUid.get(uid);
    // A ledger whose work is gone from the desired state is a deletion in progress: all of it goes.
    const plan = planWorkDeletion(work ?? {}, objects);
    const policy = work?.deleteOption?.propagationPolicy ?? 'Foreground';
    opts.progress(
      `work ${work?.name ?? `(uid ${uid})`}: deleting ${plan.remove.length} object(s)` +
        (plan.orphan.length ? `, keeping ${plan.orphan.length} (${policy})` : ''),
    );
    remove.push(...plan.remove);
    orphanedByPolicy += plan.orphan.length;
  }
  const result: DeleteResult = remove.length
    ? await deleteObjects(
        { rest, concurrency: defaultApplierOptions.concurrency, retry: defaultApplierOptions.retry, log: opts.log },
        remove,
        { foreground: false, signal: opts.signal },
      )
    : { deleted: [], orphaned: [], pending: [] };
  for (const o of result.orphaned) opts.progress(`left ${describe(o)}: it is no longer the object the work applied`);
  const finalizing = result.pending.filter((p) => p.message.startsWith('being deleted'));
  const stuck = result.pending.filter((p) => !p.message.startsWith('being deleted'));
  if (stuck.length > 0) {
    const first = stuck[0];
    throw new AgentError(
      'AGENT_LEAVE_INCOMPLETE',
      `${stuck.length} object(s) the works applied could not be deleted (first: ${first ? `${describe(first.object)}: ${first.message}` : ''}); ` +
        `the agent's state Secrets, which list them, are kept: run leave --delete-workloads again`,
      { details: { failed: stuck.length, deleted: result.deleted.length } },
    );
  }
  return {
    works,
    deleted: result.deleted.length,
    orphanedByPolicy,
    replaced: result.orphaned.length,
    finalizing: finalizing.length,
  };
}
