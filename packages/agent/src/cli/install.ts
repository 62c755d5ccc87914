// `outpost-agent join --install` and `outpost-agent leave`: the commands around install/.
// main.ts imports this module only for those two, so `run` never loads it.
import type { Logger } from 'pino';
import { KubeConfigRest } from '../apply/rest.ts';
import type { JoinConfig, LeaveConfig } from '../config/index.ts';
import { applyManifests, installManifests, leave, namespaceOwner, waitForAgent } from '../install/index.ts';
import { loadKubeconfigFile } from '../kube/config.ts';
import { joinCommand } from './join.ts';
import { kubeConnection, openCredentialStore } from './stores.ts';

type Io = { stdout: (s: string) => void; stderr: (s: string) => void };

export const leaveHelp = `Usage: outpost-agent leave --kubeconfig F [flags]

Takes out what \`outpost-agent join --install\` put into the cluster behind --kubeconfig,
printing a line per object:
  1. the DaemonSet (first, so no agent re-applies anything meanwhile),
  2. the RoleBinding, Role, ClusterRoleBinding and ClusterRole, and the ServiceAccount
     (only objects labelled app.kubernetes.io/name=outpost-agent),
  3. the Lease outpost-agent, the agent's state Secrets (labelled outpost.dev/state) and
     the credentials Secret outpost-agent-credentials,
  4. with --delete-namespace, the namespace, when the installer created it (it carries the
     label outpost.dev/installed-by).
Everything works applied stays in place: leave never reads or deletes what the agent's
ledger lists. Delete the works on the hub first (while the agent runs) to remove their
objects.

The hub keeps the cluster (its works and history); leave cannot remove it, having no admin
token. It prints the command an admin runs: \`outpost-hub cluster remove NAME\`.

Running it again is safe: when nothing is left it says so and exits 0.

Flags (environment variable in brackets):
  --kubeconfig F          the cluster [OUTPOST_AGENT_KUBECONFIG] (required)
  --namespace NS          the agent's namespace [OUTPOST_AGENT_NAMESPACE]
                          (default outpost-agent)
  --delete-namespace      delete the namespace too, if the installer created it
  --log-level LEVEL       JSON logs on stderr [OUTPOST_LOG_LEVEL] (default warn)
  -h, --help              show this help

Exit codes: 0 removed (or nothing left), 1 failed (AGENT_INSTALL_FAILED: the cluster
refused a read or delete; AGENT_KUBECONFIG_INVALID), 2 usage error (AGENT_CONFIG_INVALID).
`;

/** `join --install`: join, then apply the chart's manifests, then wait for the agent. */
export async function installCommand(config: JoinConfig, log: Logger, io: Io, signal: AbortSignal): Promise<number> {
  const target = config.credentials;
  const install = config.install;
  if (!install || target.kind !== 'secret' || !target.kubeconfig) throw new Error('installCommand without --install');
  const progress = (line: string) => io.stderr(`outpost-agent: ${line}\n`);
  const namespace = target.namespace;
  const rest = new KubeConfigRest(kubeConnection(target), { connections: 2 });
  try {
    // Before join creates it: whether the namespace is someone else's decides whether the
    // installer may label it (and `leave --delete-namespace` may later delete it).
    const owner = await namespaceOwner(rest, namespace);
    await joinCommand(config, log, io, signal);
    const manifests = installManifests({ namespace, image: install.image });
    await applyManifests(rest, manifests, { applyNamespace: owner !== 'foreign', progress, signal });
    const daemonSet = manifests.find((m) => m.kind === 'DaemonSet');
    if (!daemonSet) throw new Error("the agent's manifests hold no DaemonSet");
    const image = String(daemonSet.spec.template.spec.containers[0]?.image);
    if (install.wait) {
      await waitForAgent(rest, daemonSet, { timeoutMs: config.timeoutMs, progress, signal });
      io.stdout(`agent installed in namespace ${namespace} (image ${image}) and running\n`);
    } else {
      io.stdout(`agent installed in namespace ${namespace} (image ${image}); not waiting for it (--wait=false)\n`);
    }
    return 0;
  } finally {
    await rest.close();
  }
}

export async function leaveCommand(config: LeaveConfig, _log: Logger, io: Io, signal: AbortSignal): Promise<number> {
  const progress = (line: string) => io.stderr(`outpost-agent: ${line}\n`);
  const rest = new KubeConfigRest(loadKubeconfigFile(config.kubeconfig), { connections: 2 });
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
    const result = await leave(rest, manifests, { deleteNamespace: config.deleteNamespace, progress, signal });
    if (result.deleted === 0) {
      io.stdout(`nothing left to remove: no agent installed in namespace ${config.namespace}\n`);
    } else {
      io.stdout(`agent removed from namespace ${config.namespace}; objects applied by works were left in place\n`);
    }
    if (hub) {
      io.stdout(
        `the hub ${hub.hubUrl} still lists cluster ${hub.clusterName}; to remove it, an admin runs: outpost-hub cluster remove ${hub.clusterName}\n`,
      );
    }
    return 0;
  } finally {
    await rest.close();
  }
}
