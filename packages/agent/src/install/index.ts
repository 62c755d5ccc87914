// install/: `outpost-agent join --install` and `outpost-agent leave` — putting the agent's
// chart (manifests.ts) into a cluster with server-side apply (its ClusterClaim CRD only
// created when absent), waiting until an agent pod runs and leads, and taking it out again
// (the CRD stays: it holds the cluster's ClusterClaims and may be OCM's). Loaded only by
// those commands (a dynamic import in main.ts), never by `run`.
//
// What "ready" means: the DaemonSet reports at least one ready pod, the Lease
// `outpost-agent` is held and being renewed (only the leader renews it, while it runs the
// agent loop), and the hub reports the cluster Available from a sighting newer than the
// install. The installer reads the hub's view with the cluster's own credentials through
// the agent API's read of a cluster's own status, which by design is not a sighting: a
// heartbeat would make the hub see the cluster alive with no agent pod running.
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { type ClusterSelfView, formatDuration } from '@outpost/shared';
import type { KubeRest } from '../apply/rest.ts';
import { AgentError } from '../errors.ts';
import { LeaderElector } from '../leader/index.ts';
import { docSecretNames, stateLabel } from '../state/kube.ts';
import { isHubError } from '../transport/errors.ts';
import { failed, leasePath, ok, type Progress, pollUntil, readLease, type WaitOptions } from './common.ts';
import {
  createIfAbsentStep,
  describeManifest,
  type ExistingObject,
  installedByLabel,
  installerFieldManager,
  installModeOf,
  type Manifest,
  manifestCollectionPath,
  manifestPath,
} from './manifests.ts';
import {
  deleteWorkloads,
  keptCount,
  type LeaseSeen,
  loadAgentState,
  type WorkloadDeletion,
  waitForAgentStopped,
} from './workloads.ts';

export { installedByLabel, installerFieldManager, installManifests, shippedManifests } from './manifests.ts';
export { keptCount } from './workloads.ts';

export const leaseName = 'outpost-agent';
const secretName = 'outpost-agent-credentials';

interface Meta {
  uid?: string;
  labels?: Record<string, string>;
  deletionTimestamp?: string;
}

/** Whose the namespace is: missing, made by Outpost (installer or agent), or someone else's. */
export async function namespaceOwner(rest: KubeRest, namespace: string): Promise<'missing' | 'ours' | 'foreign'> {
  const res = await rest.request({ method: 'GET', path: `/api/v1/namespaces/${encodeURIComponent(namespace)}` });
  if (res.status === 404) return 'missing';
  if (!ok(res)) throw failed(`reading Namespace ${namespace}`, res);
  const labels = (res.body as { metadata?: Meta }).metadata?.labels ?? {};
  return labels[installedByLabel] || labels['app.kubernetes.io/managed-by'] === 'outpost-agent' ? 'ours' : 'foreign';
}

/**
 * Server-side applies every manifest (field manager outpost-agent-installer, force), one
 * progress line each. The Namespace is applied only when it is ours (`applyNamespace`): a
 * namespace someone else made keeps its labels. A CRD is only created when it is absent
 * (createIfAbsent): one already there, OCM's or an earlier install's, is left as it is.
 */
export async function applyManifests(
  rest: KubeRest,
  manifests: readonly Manifest[],
  opts: { applyNamespace: boolean; progress: Progress; signal?: AbortSignal | undefined },
): Promise<void> {
  for (const m of manifests) {
    opts.signal?.throwIfAborted();
    if (m.kind === 'Namespace' && !opts.applyNamespace) {
      opts.progress(`left Namespace ${m.metadata.name} as it is (it was not created by Outpost)`);
      continue;
    }
    if (installModeOf(m) === 'createIfAbsent') {
      await createIfAbsent(rest, m, opts);
      continue;
    }
    const res = await rest.request({
      method: 'PATCH',
      path: manifestPath(m),
      query: { fieldManager: installerFieldManager, force: 'true' },
      body: m,
      contentType: 'application/apply-patch+yaml',
      signal: opts.signal,
    });
    if (!ok(res)) throw failed(`applying ${describeManifest(m)}`, res);
    opts.progress(`applied ${describeManifest(m)}${res.status === 201 ? ' (created)' : ''}`);
  }
}

/**
 * Creates `m` when nothing holds its name; else leaves what is there exactly as it is: no
 * apply, so no field of it changes hands. The GET and the create are not atomic: one made
 * meanwhile answers 409 and is left as it is too.
 */
async function createIfAbsent(
  rest: KubeRest,
  m: Manifest,
  opts: { progress: Progress; signal?: AbortSignal | undefined },
): Promise<void> {
  const what = describeManifest(m);
  const got = await rest.request({ method: 'GET', path: manifestPath(m), signal: opts.signal });
  if (!ok(got) && got.status !== 404) throw failed(`reading ${what}`, got);
  const step = createIfAbsentStep(m, got.status === 404 ? undefined : (got.body as ExistingObject));
  if (step.action === 'leave') {
    opts.progress(`left ${what} as it is (${step.note})`);
    return;
  }
  const res = await rest.request({
    method: 'POST',
    path: manifestCollectionPath(m),
    query: { fieldManager: installerFieldManager },
    body: m,
    signal: opts.signal,
  });
  if (res.status === 409) {
    opts.progress(`left ${what} as it is (created meanwhile by someone else)`);
    return;
  }
  if (!ok(res)) throw failed(`creating ${what}`, res);
  opts.progress(`created ${what}`);
}

/** The hub's side of the wait: its view of this cluster, read with the cluster's own credentials. */
export interface HubWatch {
  cluster: string;
  read(signal?: AbortSignal): Promise<ClusterSelfView>;
  /** The cluster's lastSeen before the install (join's own proof counts as a sighting). */
  baseline?: string | undefined;
}

type HubState = { ok: boolean; text: string };

/**
 * The hub reports the cluster Available from a sighting newer than the baseline: only a
 * running agent (heartbeat, poll) makes one after the installer's join, as the read itself
 * does not count. The first answer sets the baseline when none was taken.
 */
async function hubState(hub: HubWatch, signal: AbortSignal | undefined): Promise<HubState> {
  let view: ClusterSelfView;
  try {
    view = await hub.read(signal);
  } catch (err) {
    // A hub from before this read existed: the pod and the Lease must do.
    if (isHubError(err) && err.code === 'NOT_FOUND' && err.status === 404) {
      return { ok: true, text: 'the hub is too old to report the cluster to its agent, not waited for' };
    }
    // Terminal refusals (revoked, no longer accepted) end the wait; the rest is the hub
    // being away (or slow: each read is bounded), which an agent outlives, so the wait goes on.
    if (isHubError(err) && !err.transient) throw err;
    if (signal?.aborted) throw err;
    return { ok: false, text: `hub unreachable (${(err as Error).message})` };
  }
  hub.baseline ??= view.lastSeen ?? '';
  const available = view.conditions.find((c) => c.type === 'Available');
  const fresh = view.lastSeen !== undefined && view.lastSeen > hub.baseline;
  if (available?.status === 'True' && fresh) {
    return { ok: true, text: `the hub reports cluster ${hub.cluster} Available (agent seen ${view.lastSeen})` };
  }
  if (!fresh) return { ok: false, text: `the hub has not heard from an agent of ${hub.cluster} since the install` };
  return {
    ok: false,
    text: `the hub reports cluster ${hub.cluster} Available=${available?.status ?? 'Unknown'} (${available?.reason ?? 'no condition'})`,
  };
}

/**
 * Waits until the DaemonSet reports a ready pod, the Lease is held and renewed (renewed
 * while we watched, or within its duration by our clock) and, with `hub`, the hub reports
 * the cluster Available from an agent it heard after the install; says where it stands
 * every `everyMs`; AGENT_INSTALL_TIMEOUT after `timeoutMs`.
 */
export async function waitForAgent(
  rest: KubeRest,
  daemonSet: Manifest,
  opts: WaitOptions & { hub?: HubWatch | undefined },
): Promise<void> {
  const now = opts.now ?? Date.now;
  const namespace = String(daemonSet.metadata.namespace);
  let firstRenew: string | undefined;
  let timeoutState = '';
  await pollUntil(
    'the agent',
    opts,
    1_000,
    async () => {
      const ds = await rest.request({ method: 'GET', path: manifestPath(daemonSet), signal: opts.signal });
      if (!ok(ds)) throw failed(`reading ${describeManifest(daemonSet)}`, ds);
      const status = (ds.body as { status?: { numberReady?: number; desiredNumberScheduled?: number } }).status ?? {};
      const ready = status.numberReady ?? 0;
      const { spec, durationMs } = await readLease(rest, namespace, leaseName, opts.signal);
      firstRenew ??= spec.renewTime ?? '';
      const renewedAt = spec.renewTime ? Date.parse(spec.renewTime) : Number.NaN;
      const live = Boolean(spec.holderIdentity) && (spec.renewTime !== firstRenew || now() - renewedAt < durationMs);
      const hub: HubState = opts.hub ? await hubState(opts.hub, opts.signal) : { ok: true, text: '' };
      const leaseText = `Lease ${leaseName} ${live ? `held by ${spec.holderIdentity}` : 'not held by a running agent'}`;
      const hubText = hub.text ? `; ${hub.text}` : '';
      if (ready >= 1 && live && hub.ok) {
        opts.progress(`agent ${spec.holderIdentity} is running and leads (${ready} pod(s) ready)${hubText}`);
        return { done: true };
      }
      timeoutState = `has ${ready} ready pod(s), ${leaseText}${hubText}`;
      return {
        done: false,
        state: `${ready} of ${status.desiredNumberScheduled ?? 0} pod(s) ready, ${leaseText}${hubText}`,
      };
    },
    () =>
      new AgentError(
        'AGENT_INSTALL_TIMEOUT',
        `gave up after ${formatDuration(opts.timeoutMs)} waiting for the agent: DaemonSet ${namespace}/${daemonSet.metadata.name} ${timeoutState}; ` +
          `see \`kubectl -n ${namespace} get pods\` and the pods' logs. The installation stays; run the command again to keep waiting`,
      ),
  );
}

/** Deletes one object by path if it is there, with its UID as precondition. True if it was there. */
async function deleteIfThere(
  rest: KubeRest,
  path: string,
  what: string,
  opts: { progress: Progress; mine?: (meta: Meta) => boolean; signal?: AbortSignal | undefined },
): Promise<boolean> {
  const res = await rest.request({ method: 'GET', path, signal: opts.signal });
  if (res.status === 404) return false;
  if (!ok(res)) throw failed(`reading ${what}`, res);
  const meta = (res.body as { metadata?: Meta }).metadata ?? {};
  if (opts.mine && !opts.mine(meta)) {
    opts.progress(`left ${what}: it is not labelled app.kubernetes.io/name=outpost-agent, so not the agent's`);
    return false;
  }
  if (meta.deletionTimestamp) {
    opts.progress(`${what} is already being deleted`);
    return false;
  }
  const del = await rest.request({
    method: 'DELETE',
    path,
    body: {
      apiVersion: 'v1',
      kind: 'DeleteOptions',
      propagationPolicy: 'Background',
      ...(meta.uid ? { preconditions: { uid: meta.uid } } : {}),
    },
    signal: opts.signal,
  });
  // 404: gone meanwhile; 409: replaced meanwhile by an object that is not the one we read.
  if (del.status === 404 || del.status === 409) return false;
  if (!ok(del)) throw failed(`deleting ${what}`, del);
  opts.progress(`deleted ${what}`);
  return true;
}

type LeaveLog = {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  debug(obj: object, msg?: string): void;
};

/**
 * Takes the agent's Lease for the leaver (when there is one: no Lease, no agent ever led)
 * and renews it until `stop`, so no standby starts leading while leave removes things;
 * `check` throws if it was lost (another replica took it, or renewals kept failing).
 * `seen` is what the stop-wait watched, so a lapsed Lease is taken at once, not after a
 * second lease duration; `deadlineMs` is what is left of --timeout.
 */
async function holdLease(
  rest: KubeRest,
  namespace: string,
  seen: LeaseSeen | undefined,
  opts: { deadlineMs: number; progress: Progress; log: LeaveLog; signal?: AbortSignal | undefined },
): Promise<{ check(): void; stop(): Promise<void> }> {
  const none = { check() {}, stop: async () => {} };
  if (!seen) return none;
  let lastError = '';
  const elector = new LeaderElector(rest, {
    namespace,
    name: leaseName,
    identity: `outpost-agent-leave-${hostname()}-${randomBytes(3).toString('hex')}`,
    log: {
      info: (obj, msg) => opts.log.info(obj, msg),
      warn: (obj, msg) => {
        const err = (obj as { err?: unknown }).err;
        lastError = err instanceof Error ? err.message : String(err ?? msg);
        opts.log.warn(obj, msg);
      },
    },
  });
  elector.assumeObserved(seen);
  const deadline = AbortSignal.timeout(Math.max(1, opts.deadlineMs));
  try {
    await elector.acquire(AbortSignal.any([deadline, ...(opts.signal ? [opts.signal] : [])]), (holder) =>
      opts.progress(`waiting for Lease ${namespace}/${leaseName}, held by ${holder}, to be released or to lapse`),
    );
  } catch (err) {
    if (!deadline.aborted || opts.signal?.aborted) throw err;
    throw new AgentError(
      'AGENT_LEAVE_TIMEOUT',
      `gave up within --timeout trying to take Lease ${namespace}/${leaseName}${lastError ? ` (${lastError})` : ' from a running agent'}; nothing the works applied was touched`,
    );
  }
  opts.progress(`took Lease ${namespace}/${leaseName} (${elector.identity}): no agent may start meanwhile`);
  const stop = new AbortController();
  let lost = false;
  const held = elector.hold(stop.signal).then((outcome) => {
    if (outcome === 'lost') lost = true;
  });
  return {
    check() {
      if (lost) {
        throw new AgentError(
          'AGENT_LEAVE_INCOMPLETE',
          `leave lost Lease ${namespace}/${leaseName} (another replica took it, or renewing it kept failing${lastError ? `: ${lastError}` : ''}); run leave again`,
        );
      }
    },
    async stop() {
      stop.abort();
      await held;
    },
  };
}

export interface LeaveResult {
  /** How many objects of the install were deleted (0: nothing was left). */
  deleted: number;
  namespace: 'deleted' | 'kept' | 'foreign' | 'missing';
  /** With `deleteWorkloads`: what happened to the objects the works applied. */
  workloads?: WorkloadDeletion;
}

/**
 * Removes what `join --install` put into the cluster: the DaemonSet first, then, once no
 * agent runs any more (its pods gone or going, the Lease free), with `deleteWorkloads` the
 * objects the works applied (workloads.ts), then the RBAC, the ServiceAccount, the Lease,
 * the state Secrets and the credentials Secret; the namespace only when `deleteNamespace`
 * and the installer made it. Without `deleteWorkloads` nothing works applied is touched.
 */
export async function leave(
  rest: KubeRest,
  manifests: readonly Manifest[],
  opts: {
    deleteNamespace: boolean;
    deleteWorkloads: boolean;
    timeoutMs: number;
    progress: Progress;
    log: LeaveLog;
    /** A separate connection pool for the Lease (defaults to `rest`). */
    leaseRest?: KubeRest | undefined;
    signal?: AbortSignal | undefined;
  },
): Promise<LeaveResult> {
  const namespace = String(manifests.find((m) => m.kind === 'Namespace')?.metadata.name);
  const ns = encodeURIComponent(namespace);
  const mine = (meta: Meta) => meta.labels?.['app.kubernetes.io/name'] === 'outpost-agent';
  let deleted = 0;
  for (const m of manifests.filter((x) => x.kind === 'DaemonSet')) {
    if (await deleteIfThere(rest, manifestPath(m), describeManifest(m), { ...opts, mine })) deleted++;
  }
  // A running agent would re-create what its works hold (drift repair) and its state
  // Secrets (status reports) behind us: nothing more goes until none runs.
  const started = Date.now();
  const seen = await waitForAgentStopped(rest, namespace, leaseName, opts);
  // And none may start: a standby whose pod has not stopped yet would take a free Lease.
  // The Lease has its own connections, so renewals never queue behind deletions.
  const lease = await holdLease(opts.leaseRest ?? rest, namespace, seen, {
    ...opts,
    deadlineMs: opts.timeoutMs - (Date.now() - started),
  });
  let workloads: WorkloadDeletion | undefined;
  try {
    if (opts.deleteWorkloads) {
      const snap = await loadAgentState(rest, namespace, opts.log);
      lease.check();
      workloads = await deleteWorkloads(rest, snap, { ...opts, installNamespace: namespace });
      opts.progress(
        `works' objects: deleted ${workloads.deleted}, kept ${keptCount(workloads)}` +
          (workloads.notOurs ? ` (${workloads.notOurs} of them no longer the works')` : '') +
          (workloads.finalizing ? `, ${workloads.finalizing} still finalizing` : ''),
      );
    }
    lease.check();
    const order = ['RoleBinding', 'Role', 'ClusterRoleBinding', 'ClusterRole', 'ServiceAccount'];
    for (const kind of order) {
      for (const m of manifests.filter((x) => x.kind === kind)) {
        if (await deleteIfThere(rest, manifestPath(m), describeManifest(m), { ...opts, mine })) deleted++;
      }
    }

    lease.check();
    // The state Secrets: the same selector the state store loads with; the index (which names
    // the others) last, so a leave stopped half-way leaves no parts without their index.
    const list = await rest.request({
      method: 'GET',
      path: `/api/v1/namespaces/${ns}/secrets`,
      query: { labelSelector: `${stateLabel},app.kubernetes.io/managed-by=outpost-agent` },
      signal: opts.signal,
    });
    if (!ok(list) && list.status !== 404) throw failed(`listing the state Secrets in ${namespace}`, list);
    const items = list.status === 404 ? [] : ((list.body as { items?: { metadata: { name: string } }[] }).items ?? []);
    const names = items.map((i) => i.metadata.name);
    names.sort((a, b) => Number(a === docSecretNames.index) - Number(b === docSecretNames.index));
    let stateSecrets = 0;
    for (const name of names) {
      const path = `/api/v1/namespaces/${ns}/secrets/${encodeURIComponent(name)}`;
      if (await deleteIfThere(rest, path, `Secret ${namespace}/${name}`, { ...opts, progress: () => {} })) {
        stateSecrets++;
      }
    }
    if (stateSecrets > 0) opts.progress(`deleted ${stateSecrets} state Secret(s) in ${namespace}`);
    deleted += stateSecrets;
    const credsPath = `/api/v1/namespaces/${ns}/secrets/${secretName}`;
    if (await deleteIfThere(rest, credsPath, `Secret ${namespace}/${secretName}`, opts)) deleted++;
  } finally {
    await lease.stop();
  }
  if (await deleteIfThere(rest, leasePath(namespace, leaseName), `Lease ${namespace}/${leaseName}`, opts)) deleted++;

  // The namespace: only the installer's, only when asked.
  const nsRes = await rest.request({ method: 'GET', path: `/api/v1/namespaces/${ns}`, signal: opts.signal });
  const done = (namespaceOutcome: LeaveResult['namespace']): LeaveResult => ({
    deleted,
    namespace: namespaceOutcome,
    ...(workloads ? { workloads } : {}),
  });
  if (nsRes.status === 404) return done('missing');
  if (!ok(nsRes)) throw failed(`reading Namespace ${namespace}`, nsRes);
  const labels = (nsRes.body as { metadata?: Meta }).metadata?.labels ?? {};
  if (!labels[installedByLabel]) {
    if (opts.deleteNamespace) opts.progress(`left Namespace ${namespace}: the installer did not create it`);
    return done('foreign');
  }
  if (!opts.deleteNamespace) {
    if (deleted > 0) opts.progress(`left Namespace ${namespace} in place (--delete-namespace removes it)`);
    return done('kept');
  }
  const path = `/api/v1/namespaces/${ns}`;
  if (await deleteIfThere(rest, path, `Namespace ${namespace}`, opts)) deleted++;
  return done('deleted');
}
