// `outpost-agent leave`: waiting until no agent of the install runs any more, and (with
// --delete-workloads) deleting what the works applied, as the running agent would had the
// hub deleted each work: from the agent's own ledger in its state Secrets, under each
// work's deleteOption (Orphan and SelectivelyOrphan keep what they name), every DELETE with
// the UID recorded at apply time as its precondition, namespaced objects before
// cluster-scoped ones, CRDs and Namespaces last.
import { formatDuration } from '@outpost/shared';
import { defaultApplierOptions } from '../apply/applier.ts';
import { deleteObjects } from '../apply/delete.ts';
import { isCrdKind, isNamespaceKind } from '../apply/kube.ts';
import type { KubeRest } from '../apply/rest.ts';
import { AgentError } from '../errors.ts';
import { SecretsClient } from '../kube/secrets.ts';
import { openStateStore } from '../state/index.ts';
import { objectId, planWorkDeletion } from '../sync/desired.ts';
import type { AgentSnapshot, AppliedObject, DeleteResult } from '../work/types.ts';
import { failed, type Progress, pollUntil, readLease, type WaitOptions } from './common.ts';

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
): Promise<LeaseSeen | undefined> {
  const now = opts.now ?? Date.now;
  const ns = encodeURIComponent(namespace);
  let seen: LeaseSeen | undefined;
  let leaseFound = false;
  let podsForbidden = false;
  await pollUntil(
    'the agent to stop',
    opts,
    500,
    async () => {
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
      const { found, spec, durationMs } = await readLease(rest, namespace, leaseName, opts.signal);
      leaseFound = found;
      const t = now();
      const renewTime = spec.renewTime ?? '';
      const holder = spec.holderIdentity ?? '';
      if (!seen || seen.renewTime !== renewTime || seen.holder !== holder) seen = { holder, renewTime, at: t };
      const held = holder !== '' && t - seen.at < durationMs;
      if (running.length === 0 && !held) return { done: true };
      const podText = running.length
        ? `pod(s) still running: ${running.slice(0, 3).join(', ')}${running.length > 3 ? ', …' : ''}`
        : 'no agent pod left';
      return { done: false, state: `${podText}, Lease ${leaseName} ${held ? `held by ${holder}` : 'free'}` };
    },
    (state) =>
      new AgentError(
        'AGENT_LEAVE_TIMEOUT',
        `gave up after ${formatDuration(opts.timeoutMs)} waiting for the agent to stop (${state}); nothing the works applied was touched. ` +
          `Stop that agent (an agent run outside this DaemonSet with the same namespace holds the Lease too) and run leave again`,
      ),
  );
  return leaseFound ? seen : undefined;
}

/** The Lease as last watched: its holder and renewTime, unchanged since `at` (our clock). */
export interface LeaseSeen {
  holder: string;
  renewTime: string;
  at: number;
}

export interface WorkloadDeletion {
  works: number;
  deleted: number;
  /** Kept by the works' delete options (Orphan, SelectivelyOrphan's rules). */
  orphanedByPolicy: number;
  /** Kept because no work in the agent's state names their ledger (never deleted blind). */
  unknownWork: number;
  /**
   * Namespaces and CRDs kept although their work would delete them: the agent's own
   * namespace (left to --delete-namespace), the cluster's own namespaces, and any that
   * still holds (or defines) an object that is kept, since deleting it would take that too.
   */
  keptContainers: number;
  /** No UID recorded, or replaced by another object under the same name: left alone. */
  notOurs: number;
  /** Being deleted, waiting for finalizers: they go by themselves. */
  finalizing: number;
}

/** Every object leave left in place, whatever the reason. */
export const keptCount = (w: WorkloadDeletion) => w.orphanedByPolicy + w.unknownWork + w.keptContainers + w.notOurs;

/** Namespaces the cluster itself needs; the apiserver refuses to delete most of them. */
const systemNamespaces = new Set(['default', 'kube-system', 'kube-public', 'kube-node-lease']);

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
          // Only works and ledgers decide what is deleted; an unreadable outbox or a failed
          // clean-up of old parts does not.
          if (/^(desired work|ledger of)/.test(msg ?? '')) {
            problems.push(`${msg ?? ''}${'err' in obj ? `: ${String(obj.err)}` : ''}`);
          }
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
const isCrd = (o: AppliedObject) => isCrdKind(o.group, o.kind);

/**
 * Deletes every object in the agent's ledger that its work's deleteOption does not keep,
 * each once (an object two works list is kept if either keeps it). Order: namespaced and
 * other objects, then CRDs, then Namespaces, each group only if the one before went
 * without failure: a failure that leaves objects behind (the cluster refusing or not
 * answering) throws AGENT_LEAVE_INCOMPLETE before the next group and before anything else
 * is removed, so the state that lists them stays for a re-run. A Namespace or CRD that
 * holds a kept object, the agent's own namespace and the cluster's own are kept.
 */
export async function deleteWorkloads(
  rest: KubeRest,
  snap: Pick<AgentSnapshot, 'works' | 'ledger'>,
  opts: { installNamespace: string; progress: Progress; log: Log; signal?: AbortSignal | undefined },
): Promise<WorkloadDeletion> {
  const byUid = new Map([...snap.works.values()].map((w) => [w.uid, w]));
  const out: WorkloadDeletion = {
    works: 0,
    deleted: 0,
    orphanedByPolicy: 0,
    unknownWork: 0,
    keptContainers: 0,
    notOurs: 0,
    finalizing: 0,
  };
  const kept = new Map<string, AppliedObject>();
  const candidates = new Map<string, AppliedObject>();
  const keptByPolicy = new Set<string>();
  const keptUnknown = new Set<string>();
  for (const [uid, objects] of snap.ledger) {
    if (objects.length === 0) continue;
    out.works++;
    const work = byUid.get(uid);
    if (!work) {
      // The agent drops a ledger before the work it belongs to, so a ledger without its work
      // is an inconsistency (an unreadable work, a work replaced under its name): its delete
      // option is unknown, and Orphan may have been it.
      opts.progress(`ledger of an unknown work (uid ${uid}): keeping its ${objects.length} object(s)`);
      for (const o of objects) {
        kept.set(objectId(o), o);
        keptUnknown.add(objectId(o));
      }
      continue;
    }
    const plan = planWorkDeletion(work, objects);
    opts.progress(
      `work ${work.name}: ${plan.remove.length} object(s) to delete` +
        (plan.orphan.length
          ? `, keeping ${plan.orphan.length} (${work.deleteOption?.propagationPolicy ?? 'Foreground'})`
          : ''),
    );
    for (const o of plan.orphan) {
      kept.set(objectId(o), o);
      keptByPolicy.add(objectId(o));
    }
    for (const o of plan.remove) candidates.set(objectId(o), o);
  }
  for (const id of kept.keys()) candidates.delete(id);
  out.unknownWork = keptUnknown.size;
  out.orphanedByPolicy = [...keptByPolicy].filter((id) => !keptUnknown.has(id)).length;

  const keepContainer = (o: AppliedObject, why: string) => {
    opts.progress(`leaving ${describe(o)}: ${why}`);
    candidates.delete(objectId(o));
    kept.set(objectId(o), o);
    out.keptContainers++;
  };
  const deps = {
    rest,
    concurrency: defaultApplierOptions.concurrency,
    retry: defaultApplierOptions.retry,
    log: opts.log,
  };
  const run = async (batch: AppliedObject[]) => {
    if (batch.length === 0) return;
    const result: DeleteResult = await deleteObjects(deps, batch, { foreground: false, signal: opts.signal });
    for (const o of result.orphaned) {
      opts.progress(`left ${describe(o)}: no UID recorded, or no longer the object the work applied`);
      kept.set(objectId(o), o);
    }
    out.deleted += result.deleted.length;
    out.notOurs += result.orphaned.length;
    const finalizing = result.pending.filter((p) => p.finalizing);
    const stuck = result.pending.filter((p) => !p.finalizing);
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
  };

  await run([...candidates.values()].filter((o) => !isNamespace(o) && !isCrd(o)));
  // A CRD's deletion takes every custom resource of its kind with it.
  for (const crd of [...candidates.values()].filter(isCrd)) {
    const holds = [...kept.values()].find((o) => `${o.resource}.${o.group}` === crd.name);
    if (holds) keepContainer(crd, `it defines ${describe(holds)}, which is kept`);
  }
  await run([...candidates.values()].filter(isCrd));
  // A Namespace's deletion takes everything in it with it.
  for (const ns of [...candidates.values()].filter(isNamespace)) {
    const holds = [...kept.values()].find((o) => o.namespace === ns.name);
    if (ns.name === opts.installNamespace) keepContainer(ns, "the agent's own namespace (--delete-namespace decides)");
    else if (systemNamespaces.has(ns.name)) keepContainer(ns, 'the cluster needs it');
    else if (holds) keepContainer(ns, `it holds ${describe(holds)}, which is kept`);
  }
  await run([...candidates.values()].filter(isNamespace));
  return out;
}
