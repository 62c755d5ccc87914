// `outpost-agent leave`: waiting until no agent of the install runs any more, and (with
// --delete-workloads) deleting what the works applied, as the running agent would had the
// hub deleted each work: from the agent's own ledger in its state Secrets, under each
// work's deleteOption (Orphan and SelectivelyOrphan keep what they name), every DELETE with
// the UID recorded at apply time as its precondition, namespaced objects before
// cluster-scoped ones, CRDs and Namespaces last.
import { formatDuration } from '@outpost/shared';
import { defaultApplierOptions } from '../apply/applier.ts';
import { deleteObjects, finalizingPrefix } from '../apply/delete.ts';
import { isNamespaceKind } from '../apply/kube.ts';
import type { KubeRest } from '../apply/rest.ts';
import { AgentError } from '../errors.ts';
import { SecretsClient } from '../kube/secrets.ts';
import { openStateStore } from '../state/index.ts';
import { planWorkDeletion } from '../sync/desired.ts';
import type { AgentSnapshot, AppliedObject, DeleteResult } from '../work/types.ts';
import { failed, type LeaseSpec, leasePath, type Progress, type WaitOptions } from './common.ts';

const agentPodSelector = 'app.kubernetes.io/name=outpost-agent';

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
  opts: WaitOptions,
): Promise<void> {
  const now = opts.now ?? Date.now;
  const started = now();
  const ns = encodeURIComponent(namespace);
  let seen: { renewTime: string; at: number } | undefined;
  let lastSaid = Number.NEGATIVE_INFINITY;
  let podsForbidden = false;
  for (;;) {
    opts.signal?.throwIfAborted();
    const pods = podsForbidden
      ? undefined
      : await rest.request({
          method: 'GET',
          path: `/api/v1/namespaces/${ns}/pods`,
          query: { labelSelector: agentPodSelector },
          signal: opts.signal,
        });
    if (pods?.status === 403) {
      // Someone may remove the install without reading pods: the Lease alone then says.
      podsForbidden = true;
      opts.progress(`cannot list pods in ${namespace} (forbidden): judging by the Lease ${leaseName} alone`);
    } else if (pods && pods.status >= 300 && pods.status !== 404) {
      throw failed(`listing the agent's pods in ${namespace}`, pods);
    }
    const items =
      pods?.status !== 200
        ? []
        : ((pods.body as { items?: { metadata?: { name?: string; deletionTimestamp?: string } }[] }).items ?? []);
    const running = items.filter((p) => !p.metadata?.deletionTimestamp).map((p) => String(p.metadata?.name));
    const lease = await rest.request({
      method: 'GET',
      path: leasePath(namespace, leaseName),
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
  /** Kept because no work in the agent's state names their ledger (never deleted blind). */
  unknownWork: number;
  /** The install's own namespace, listed by a work: left to --delete-namespace. */
  installNamespace: number;
  /** No UID recorded, or replaced by another object under the same name: left alone. */
  notOurs: number;
  /** Being deleted, waiting for finalizers: they go by themselves. */
  finalizing: number;
}

const describe = (o: AppliedObject) =>
  `${o.kind}${o.group ? `.${o.group}` : ''} ${o.namespace ? `${o.namespace}/` : ''}${o.name}`;

type Log = { warn(obj: object, msg?: string): void; debug(obj: object, msg?: string): void };

/**
 * The agent's state as its state Secrets hold it. Loading it must skip nothing: a ledger
 * the store could not read would leave its objects behind unmanaged while leave reported
 * success, so any unreadable part stops leave (AGENT_LEAVE_INCOMPLETE) before it deletes.
 */
export async function loadAgentState(rest: KubeRest, namespace: string, log: Log): Promise<AgentSnapshot> {
  const problems: string[] = [];
  const state = openStateStore(
    { kind: 'secret', api: new SecretsClient(rest), namespace },
    {
      log: {
        warn: (obj: object, msg?: string) => {
          problems.push(`${msg ?? ''}${'err' in obj ? `: ${String(obj.err)}` : ''}`);
          log.warn(obj, msg);
        },
      },
    },
  );
  const snap = await state.load();
  if (problems.length > 0) {
    throw new AgentError(
      'AGENT_LEAVE_INCOMPLETE',
      `the agent's state in namespace ${namespace} is partly unreadable (${problems.slice(0, 3).join('; ')}); nothing the works applied was deleted`,
    );
  }
  return snap;
}

const isNamespace = (o: AppliedObject) => isNamespaceKind(o.group, o.kind);

/**
 * Deletes every object in the agent's ledger that its work's deleteOption does not keep.
 * Namespaces go only after everything else went: a failure that leaves objects behind (the
 * cluster refusing or not answering) throws AGENT_LEAVE_INCOMPLETE before them and before
 * anything else is removed, so the state that lists them stays for a re-run. The install's
 * own namespace (it holds that state) is never deleted here.
 */
export async function deleteWorkloads(
  rest: KubeRest,
  snap: Pick<AgentSnapshot, 'works' | 'ledger'>,
  opts: { installNamespace: string; progress: Progress; log: Log; signal?: AbortSignal | undefined },
): Promise<WorkloadDeletion> {
  const byUid = new Map([...snap.works.values()].map((w) => [w.uid, w]));
  const remove: AppliedObject[] = [];
  const out: WorkloadDeletion = {
    works: 0,
    deleted: 0,
    orphanedByPolicy: 0,
    unknownWork: 0,
    installNamespace: 0,
    notOurs: 0,
    finalizing: 0,
  };
  for (const [uid, objects] of snap.ledger) {
    if (objects.length === 0) continue;
    out.works++;
    const work = byUid.get(uid);
    if (!work) {
      // The agent drops a ledger before the work it belongs to, so a ledger without its work
      // is an inconsistency (an unreadable work, a work replaced under its name): its delete
      // option is unknown, and Orphan may have been it.
      opts.progress(`ledger of an unknown work (uid ${uid}): keeping its ${objects.length} object(s)`);
      out.unknownWork += objects.length;
      continue;
    }
    const plan = planWorkDeletion(work, objects);
    const own = plan.remove.filter((o) => isNamespace(o) && o.name === opts.installNamespace);
    const policy = work.deleteOption?.propagationPolicy ?? 'Foreground';
    opts.progress(
      `work ${work.name}: deleting ${plan.remove.length - own.length} object(s)` +
        (plan.orphan.length ? `, keeping ${plan.orphan.length} (${policy})` : '') +
        (own.length
          ? `, leaving Namespace ${opts.installNamespace} (the agent's own; --delete-namespace decides)`
          : ''),
    );
    remove.push(...plan.remove.filter((o) => !own.includes(o)));
    out.orphanedByPolicy += plan.orphan.length;
    out.installNamespace += own.length;
  }
  const deps = {
    rest,
    concurrency: defaultApplierOptions.concurrency,
    retry: defaultApplierOptions.retry,
    log: opts.log,
  };
  for (const batch of [remove.filter((o) => !isNamespace(o)), remove.filter(isNamespace)]) {
    if (batch.length === 0) continue;
    const result: DeleteResult = await deleteObjects(deps, batch, { foreground: false, signal: opts.signal });
    for (const o of result.orphaned) {
      opts.progress(`left ${describe(o)}: no UID recorded, or no longer the object the work applied`);
    }
    out.deleted += result.deleted.length;
    out.notOurs += result.orphaned.length;
    const finalizing = result.pending.filter((p) => p.message.startsWith(finalizingPrefix));
    const stuck = result.pending.filter((p) => !p.message.startsWith(finalizingPrefix));
    out.finalizing += finalizing.length;
    if (stuck.length > 0) {
      const first = stuck[0];
      throw new AgentError(
        'AGENT_LEAVE_INCOMPLETE',
        `${stuck.length} object(s) the works applied could not be deleted (first: ${first ? `${describe(first.object)}: ${first.message}` : ''}); ` +
          `the agent's state Secrets, which list them, are kept: run leave --delete-workloads again`,
        { details: { failed: stuck.length, deleted: out.deleted } },
      );
    }
  }
  return out;
}
