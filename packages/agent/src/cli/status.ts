// `outpost-agent status`: opens the stores `run` uses (for reading only), asks the running
// agent's listener for live facts, and prints what the agent knows.
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { KubeConfigRest } from '../apply/rest.ts';
import type { CredentialsTarget, StatusConfig } from '../config/index.ts';
import { SecretsClient } from '../kube/secrets.ts';
import { FileStateBackend } from '../state/files.ts';
import { SecretStateBackend } from '../state/kube.ts';
import {
  checkHub,
  collectStatus,
  fetchLiveStatus,
  hubCheckTimeoutMs,
  liveTimeoutMs,
  openReadOnlyState,
  readLease,
  renderStatus,
  type StatusState,
} from '../status/index.ts';
import { kubeConnection, openCredentialStore } from './stores.ts';

export const statusHelp = `Usage: outpost-agent status [flags]

Prints what the agent knows, from what it stores, whether it runs or not:
  - the cluster name and the hub, and when the hub last answered a poll (the agent saves
    that time at most every 5 minutes);
  - the certificate: serial, expiry, time left, and when the agent renews it (a random
    20-30 % of its life before expiry, drawn from its serial: the agent's own rule);
  - the hub's CA bundle: each CA's subject, its sha256: pin (as --ca-cert-hash), whether
    join pinned it, and its expiry;
  - with a cluster, the leader: who holds the Lease outpost-agent in --namespace and when
    it was renewed ("off" without a cluster);
  - the works the agent holds: name, generation, uid, objects applied (its ledger),
    whether it is being deleted, and a status report still waiting to be sent;
  - the status outbox (reports waiting to be sent) and deletions held by the mass-delete
    breaker (until \`outpost-hub cluster confirm-deletions\`).
It writes nothing, and talks to no hub unless --check-hub. A part that cannot be read
(the state, the Lease) is named in the output and the rest is still shown.

Live facts: an agent running here answers GET /status on its local listener (run
--listen, default 127.0.0.1:9469). Status asks it once, within ${liveTimeoutMs / 1000} s, and marks
what it says "live": leading or standing by, connected to the hub, the last answered
poll, the last error, the outbox depth as it is now. When nothing answers it says the
agent is not running there and shows the stored values. In a pod:
  kubectl exec -n outpost-agent ds/outpost-agent -- node /app/packages/agent/main.mjs status

Where it reads (as run):
  --kubeconfig F              the Secret outpost-agent-credentials, the state Secrets
                              (labelled outpost.dev/state) and the Lease in --namespace
                              of that cluster [OUTPOST_AGENT_KUBECONFIG]
  --namespace NS              their namespace [OUTPOST_AGENT_NAMESPACE]
                              (default outpost-agent)
  --credentials-dir DIR       credentials in files [OUTPOST_AGENT_CREDENTIALS_DIR]; an
                              agent without a cluster delivers no work, so it has no
                              works, no outbox and no leader (a state in DIR/state is
                              read when present)
                              (neither: the Secret inside a pod, else ./.outpost-agent)

Flags (environment variable in brackets):
  -o, --output FMT            table, json or yaml (default table); json and yaml keep
                              every field, for scripts
  --agent-url URL             the running agent's listener, http://HOST:PORT, asked for
                              GET /status [OUTPOST_AGENT_URL] (default
                              http://127.0.0.1:9469, run's --listen default); off: not asked
  --check-hub                 also make one HTTPS request to the hub's /readyz (at
                              most ${hubCheckTimeoutMs / 1000} s), trusting the stored CA bundle as the agent
                              does: does the hub answer, is it ready, and is its database
                              identity the one the agent synced with
                              [OUTPOST_AGENT_CHECK_HUB]. Off by default: status then
                              answers at once from what is stored, also where the hub is
                              away, and a running agent's own connection (shown live)
                              says more than one request from here
  --log-level LEVEL           warnings on stderr: fatal|error|warn|info|debug|trace|silent
                              [OUTPOST_LOG_LEVEL] (default warn)
  -h, --help                  show this help

Exit codes: 0 the status was read (also when a part of it could not be); 1 nothing is
stored (AGENT_NOT_JOINED: run join first) or the credentials cannot be read; 2 bad flags.
`;

/** Where an agent with credentials in files keeps its state (FileStateStore), if it keeps one. */
export const fileStateDir = (credentialsDir: string) => join(credentialsDir, 'state');

async function fileState(dir: string): Promise<StatusState | string> {
  const info = await stat(dir).catch(() => undefined);
  if (!info?.isDirectory()) {
    return `none: credentials in files, so the agent runs without work delivery and keeps no works (no ${dir})`;
  }
  return openReadOnlyState(new FileStateBackend(dir));
}

/** The state `run` keeps beside these credentials, opened read-only; a string says why there is none. */
async function statusState(target: CredentialsTarget, rest: KubeConfigRest | undefined): Promise<StatusState | string> {
  if (target.kind === 'dir') return fileState(fileStateDir(target.dir));
  if (!rest) return 'none: no connection to the cluster';
  return openReadOnlyState(new SecretStateBackend(new SecretsClient(rest), target.namespace));
}

export async function statusCommand(
  config: StatusConfig,
  log: Logger,
  io: { stdout: (s: string) => void },
): Promise<number> {
  const target: CredentialsTarget = config.credentials;
  // With a cluster: one small pool for the credentials, the state and the Lease; short
  // timeouts, as someone is waiting at a terminal.
  const rest =
    target.kind === 'secret'
      ? new KubeConfigRest(kubeConnection(target), { connections: 2, timeoutMs: 15_000 })
      : undefined;
  try {
    const { store } = openCredentialStore(target, rest);
    const state = await statusState(target, rest);
    const agentUrl = config.agentUrl;
    const status = await collectStatus({
      credentials: store,
      state,
      ...(rest && target.kind === 'secret' ? { lease: () => readLease(rest, target.namespace) } : {}),
      ...(agentUrl ? { live: { url: agentUrl, ask: () => fetchLiveStatus(agentUrl) } } : {}),
      ...(config.checkHub ? { checkHub } : {}),
    });
    if (status.state.problem && status.state.store) log.warn({ problem: status.state.problem }, 'agent state');
    if (status.leader.problem) log.warn({ problem: status.leader.problem }, 'leader');
    io.stdout(renderStatus(config.output, status));
    return 0;
  } finally {
    await rest?.close();
  }
}
