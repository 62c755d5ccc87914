// `outpost-agent join --install` and `outpost-agent leave`: the commands around install/.
// main.ts imports this module only for those two, so `run` never loads it.
import type { Logger } from 'pino';
import { KubeConfigRest } from '../apply/rest.ts';
import type { JoinConfig, LeaveConfig } from '../config/index.ts';
import {
  applyManifests,
  type HubWatch,
  installManifests,
  keptCount,
  leave,
  namespaceOwner,
  waitForAgent,
} from '../install/index.ts';
import { loadKubeconfigFile } from '../kube/config.ts';
import { leaseDefaults } from '../leader/index.ts';
import { HubClient } from '../transport/client.ts';
import { readClusterSelf } from '../transport/hub-api.ts';
import { joinCommand } from './join.ts';
import { kubeConnection, openCredentialStore } from './stores.ts';

type Io = { stdout: (s: string) => void; stderr: (s: string) => void };

export const leaveHelp = `Usage: outpost-agent leave --kubeconfig F [flags]

Takes out what \`outpost-agent join --install\` put into the cluster behind --kubeconfig,
printing a line per object:
  1. the DaemonSet (first, so no new agent starts),
  2. then waits, a line every 5 s within --timeout, until no agent runs: no agent pod left
     that is not being deleted, and the Lease outpost-agent released or not renewed for
     its whole duration (a leader stopped cleanly releases it at once); then takes the
     Lease itself until it is done, so no standby starts meanwhile,
  3. with --delete-workloads, the objects the works applied (below),
  4. the RoleBinding, Role, ClusterRoleBinding and ClusterRole, and the ServiceAccount
     (only objects labelled app.kubernetes.io/name=outpost-agent),
  5. the Lease outpost-agent, the agent's state Secrets (labelled outpost.dev/state) and
     the credentials Secret outpost-agent-credentials,
  6. with --delete-namespace, the namespace, when the installer created it (it carries the
     label outpost.dev/installed-by).

The ClusterClaim CRD stays (it holds the cluster's ClusterClaims and may be OCM's).

By default everything works applied stays in place and keeps running, unmanaged.
--delete-workloads deletes it the way the agent would if each work were deleted on the
hub, reading the agent's own ledger (its state Secrets), not the hub: each work's
deleteOption holds (Orphan keeps all its objects, SelectivelyOrphan those its rules
name), and every DELETE carries the UID recorded when the object was applied, so an
object someone replaced under the same name is left alone. CRDs go after every other
object, Namespaces last; a Namespace or CRD that still holds a kept object is kept (its
deletion would take that along), and so are the agent's own namespace (left to
--delete-namespace) and the cluster's own (default, kube-*). Objects of a ledger whose work
is not in the agent's state are kept (their delete option is unknown).
If the state is partly unreadable, or any object cannot be deleted, leave stops
(AGENT_LEAVE_INCOMPLETE) before removing the state that lists them: run it again.

The hub keeps the cluster (its works and history); leave cannot remove it, having no admin
token. It prints the command an admin runs: \`outpost-hub cluster remove NAME\`.

Running it again is safe: when nothing is left it says so and exits 0.

Flags (environment variable in brackets):
  --kubeconfig F          the cluster [OUTPOST_AGENT_KUBECONFIG] (required)
  --namespace NS          the agent's namespace [OUTPOST_AGENT_NAMESPACE]
                          (default outpost-agent)
  --delete-workloads      delete the objects the works applied (see above)
  --delete-namespace      delete the namespace too, if the installer created it
  --timeout DUR           how long to wait for the agent to stop [OUTPOST_AGENT_TIMEOUT]
                          (default 5m)
  --log-level LEVEL       JSON logs on stderr [OUTPOST_LOG_LEVEL] (default warn)
  -h, --help              show this help

Exit codes: 0 removed (or nothing left), 1 failed (AGENT_LEAVE_TIMEOUT: an agent still
runs, nothing of the works was touched; AGENT_LEAVE_INCOMPLETE; AGENT_INSTALL_FAILED: the
cluster refused a read or delete; AGENT_KUBECONFIG_INVALID), 2 usage error
(AGENT_CONFIG_INVALID).
`;

/** `join --install`: join, then apply the chart's manifests, then wait for the agent. */
export async function installCommand(config: JoinConfig, log: Logger, io: Io, signal: AbortSignal): Promise<number> {
  const target = config.credentials;
  const install = config.install;
  if (!install || target.kind !== 'secret' || !target.kubeconfig) throw new Error('installCommand without --install');
  const progress = (line: string) => io.stderr(`outpost-agent: ${line}\n`);
  const namespace = target.namespace;
  const rest = new KubeConfigRest(kubeConnection(target), { connections: 2 });
  let hubClient: HubClient | undefined;
  try {
    // Before join creates it: whether the namespace is someone else's decides whether the
    // installer may label it (and `leave --delete-namespace` may later delete it).
    const owner = await namespaceOwner(rest, namespace);
    await joinCommand(config, log, io, signal);
    const manifests = installManifests({ namespace, image: install.image });
    let hub: HubWatch | undefined;
    if (install.wait) {
      const { store } = openCredentialStore(target, rest);
      const creds = (await store.load()).credentials;
      if (!creds) throw new Error('join stored no credentials');
      const client = new HubClient(creds.hub.hubUrl, {
        ca: creds.caBundlePem,
        identity: { keyPem: creds.keyPem, certPem: creds.certPem },
      });
      hubClient = client;
      const cluster = creds.hub.clusterName;
      // Each read bounded: a hung hub must not hold the wait past --timeout.
      const bounded = (s?: AbortSignal) => AbortSignal.any([AbortSignal.timeout(5_000), ...(s ? [s] : [])]);
      hub = { cluster, read: (s) => readClusterSelf(client, cluster, { signal: bounded(s) }) };
      // The sighting to beat (join's own proof is one). Best effort: without it the wait
      // takes its first answer as the baseline, which only makes it wait one poll longer.
      hub.baseline = await hub.read(signal).then(
        (v) => v.lastSeen ?? '',
        () => undefined,
      );
    }
    await applyManifests(rest, manifests, { applyNamespace: owner !== 'foreign', progress, signal });
    const daemonSet = manifests.find((m) => m.kind === 'DaemonSet');
    if (!daemonSet) throw new Error("the agent's manifests hold no DaemonSet");
    const image = String(daemonSet.spec.template.spec.containers[0]?.image);
    if (hub) {
      await waitForAgent(rest, daemonSet, { timeoutMs: config.timeoutMs, progress, hub, signal });
      io.stdout(
        `agent installed in namespace ${namespace} (image ${image}), running, and the hub reports it Available\n`,
      );
    } else {
      io.stdout(`agent installed in namespace ${namespace} (image ${image}); not waiting for it (--wait=false)\n`);
    }
    return 0;
  } finally {
    await hubClient?.close();
    await rest.close();
  }
}

export async function leaveCommand(config: LeaveConfig, log: Logger, io: Io, signal: AbortSignal): Promise<number> {
  const progress = (line: string) => io.stderr(`outpost-agent: ${line}\n`);
  const conn = loadKubeconfigFile(config.kubeconfig);
  const rest = new KubeConfigRest(conn, { connections: 4 });
  // The Lease leave holds while it works: its own pool, each call bounded by the renew deadline.
  const leaseRest = new KubeConfigRest(conn, { connections: 1, timeoutMs: leaseDefaults.renewDeadlineMs });
  try {
    // Which cluster this was on which hub, for the admin's command; unreadable is fine.
    const { store } = openCredentialStore(
      {
        kind: 'secret',
        kubeconfig: config.kubeconfig,
        namespace: config.namespace,
        secretName: 'outpost-agent-credentials',
      },
      rest,
    );
    const hub = await store.load().then(
      (s) => s.credentials?.hub ?? s.pending,
      () => undefined,
    );
    const manifests = installManifests({ namespace: config.namespace });
    const result = await leave(rest, manifests, {
      deleteNamespace: config.deleteNamespace,
      deleteWorkloads: config.deleteWorkloads,
      timeoutMs: config.timeoutMs,
      progress,
      log,
      leaseRest,
      signal,
    });
    const w = result.workloads;
    const works = w
      ? `deleted ${w.deleted} object(s) the works applied${w.finalizing ? ` (and ${w.finalizing} still finalizing)` : ''}, kept ${keptCount(w)}`
      : 'objects applied by works were left in place';
    if (result.deleted === 0 && !w?.deleted && !w?.finalizing) {
      io.stdout(`nothing left to remove: no agent installed in namespace ${config.namespace}\n`);
    } else {
      io.stdout(`agent removed from namespace ${config.namespace}; ${works}\n`);
    }
    if (hub) {
      io.stdout(
        `the hub ${hub.hubUrl} still lists cluster ${hub.clusterName}; to remove it, an admin runs: outpost-hub cluster remove ${hub.clusterName}\n`,
      );
    }
    return 0;
  } finally {
    await Promise.all([rest.close(), leaseRest.close()]);
  }
}
