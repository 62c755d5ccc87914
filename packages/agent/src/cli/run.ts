// `outpost-agent run`: loads the credentials, says which hub and cluster it serves, and runs
// the agent loop until SIGTERM/SIGINT.
import type { Logger } from 'pino';
import type { RunConfig } from '../config/index.ts';
import { certificateInfo } from '../credentials/index.ts';
import { createAgentRuntime } from '../run/index.ts';
import { agentVersion } from '../version.ts';
import { openCredentialStore } from './stores.ts';

export const runHelp = `Usage: outpost-agent run [flags]

Runs the agent with the credentials \`outpost-agent join\` stored: it heartbeats to the hub
(every 30 s, ±20 %), renews its certificate with a new key when a random 20-30 % of its
life remains (or when the hub asks), follows changes of the hub's CA bundle, and switches
to new credentials without a restart. When the hub is away it retries with jittered
backoff and honours Retry-After. SIGTERM or SIGINT stop it (exit 0).

Flags (environment variable in brackets):
  --kubeconfig F              credentials in the Secret outpost-agent-credentials of this
                              cluster [OUTPOST_AGENT_KUBECONFIG]
  --namespace NS              the Secret's namespace [OUTPOST_AGENT_NAMESPACE]
                              (default outpost-agent)
  --credentials-dir DIR       credentials in files [OUTPOST_AGENT_CREDENTIALS_DIR]
                              (neither: the Secret inside a pod, else ./.outpost-agent)
  --heartbeat-interval DUR    time between heartbeats, e.g. 30s
                              [OUTPOST_AGENT_HEARTBEAT_INTERVAL] (default 30s)
  --log-level LEVEL           JSON logs on stdout: fatal|error|warn|info|debug|trace|silent
                              [OUTPOST_LOG_LEVEL] (default info)
  -h, --help                  show this help
`;

export async function runCommand(
  config: RunConfig,
  log: Logger,
  io: { stderr: (s: string) => void },
  signal: AbortSignal,
): Promise<number> {
  const store = openCredentialStore(config.credentials);
  const runtime = await createAgentRuntime({
    store,
    log,
    heartbeatIntervalMs: config.heartbeatIntervalMs,
    signal,
  });
  const creds = runtime.credentials;
  const info = certificateInfo(creds.certPem);
  io.stderr(
    [
      `outpost-agent ${agentVersion} serving cluster ${creds.hub.clusterName} for hub ${creds.hub.hubUrl}`,
      `  credentials:   ${store.description}`,
      `  certificate:   serial ${info.serial}, expires ${info.notAfter.toISOString()}, renews after ${runtime.renewAt.toISOString()}`,
      '',
    ].join('\n'),
  );
  await runtime.run();
  return 0;
}
