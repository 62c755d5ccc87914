// `outpost-agent join`: the command around join/ — help text, store, progress on stderr,
// the final line on stdout.
import type { Logger } from 'pino';
import type { JoinConfig } from '../config/index.ts';
import { join } from '../join/index.ts';
import { openCredentialStore } from './stores.ts';

export const joinHelp = `Usage: outpost-agent join --hub URL --token ID.SECRET --ca-cert-hash sha256:HEX
                          --cluster-name NAME [flags]

Joins this cluster to an Outpost hub, the way kubeadm joins a node:
  1. Fetches the hub's CA bundle without trusting anything, and checks that one of its CAs
     has the pinned --ca-cert-hash (the SHA-256 of its public key, as kubeadm's
     --discovery-token-ca-cert-hash). If none does, it stops with AGENT_CA_PIN_MISMATCH and
     sends nothing: a wrong --hub, or an impostor. From then on it talks to the hub only
     over TLS verified against the pinned CA.
  2. Generates a private key here (it never leaves this machine) and sends a certificate
     request for cluster NAME with the bootstrap token.
  3. Waits for approval, printing progress every 10 s (an admin runs
     \`outpost-hub cluster approve NAME\`; tokens created with auto-approval skip this).
     Transient failures (hub restarting, unreachable, busy) are retried with backoff.
  4. Stores the key, the certificate, the hub's CA bundle and hub.json, then proves them
     with one authenticated request. Exit 0 means the agent can authenticate.

Where the credentials go:
  --kubeconfig F     a Secret outpost-agent-credentials in --namespace of that cluster
                     (keys tls.key, tls.crt, ca.crt, hub.json); the namespace is created
                     when missing
  --credentials-dir  files with the same names (directory 0700, files 0600), replaced as
                     a whole set
  neither            inside a pod: the Secret, through the pod's service account;
                     elsewhere: the directory ./.outpost-agent

Running it again is safe: when working credentials for the same hub and cluster name are
stored, it says "already joined" and exits 0 without using the token. A join that timed
out while waiting for approval resumes the same registration (the token is not used
again). Credentials of another hub or cluster name are never replaced without --overwrite.

Installing the agent too (--install, needs --kubeconfig): after the join, server-side
applies the agent chart's manifests (as deploy/manifests/outpost-agent.yaml, with field
manager outpost-agent-installer) into --namespace: the Namespace (labelled
outpost.dev/installed-by; a namespace that existed before and was not made by Outpost is
left as it is), ServiceAccount, Role, RoleBinding, ClusterRole, ClusterRoleBinding and
DaemonSet, a line per object. OCM's ClusterClaim CRD is created when the cluster has none;
one already there (OCM's, or an earlier install's) is left exactly as it is. Then it waits, a line every 5 s, within --timeout, until the
DaemonSet reports a ready pod, an agent holds and renews the Lease outpost-agent, and the
hub reports the cluster Available from an agent it heard after the install (the installer
reads the hub's view without counting as the agent). Running it again re-applies the same
objects and skips the token. \`outpost-agent leave\` undoes it.

Recovery (an expired or lost certificate, a lost Secret): on the hub run
\`outpost-hub cluster recover NAME\`, then run join with the printed token and --recover.
The cluster keeps its name, identity and applied state on the hub; a new key is made
here, the old certificates are revoked, and only the stored credentials are replaced.

Flags (environment variable in brackets):
  --hub URL              the hub, https://HOST[:PORT] [OUTPOST_AGENT_HUB]
  --token ID.SECRET      bootstrap or recovery token [OUTPOST_AGENT_TOKEN]
  --ca-cert-hash HASH    sha256:HEX pin of the hub CA; repeatable or comma-separated: any
                         match is enough (pin old and new CA during a CA rotation)
                         [OUTPOST_AGENT_CA_CERT_HASH]
  --cluster-name NAME    this cluster's name on the hub, a DNS-1123 label
                         [OUTPOST_AGENT_CLUSTER_NAME]
  --labels k=v,...       labels asked for (the token's labels win) [OUTPOST_AGENT_LABELS]
  --claims k=v,...       claims reported to the hub [OUTPOST_AGENT_CLAIMS]
  --timeout DUR          give up after this long, e.g. 15m, 1h [OUTPOST_AGENT_TIMEOUT]
                         (default 15m)
  --recover              register again even when the stored credentials still work,
                         replacing them (use with a token from \`cluster recover\`)
  --overwrite            replace credentials or a pending join of another hub or cluster
                         name (otherwise: AGENT_ALREADY_JOINED_ELSEWHERE)
  --kubeconfig F         store in a Secret of this cluster [OUTPOST_AGENT_KUBECONFIG]
  --namespace NS         the Secret's namespace [OUTPOST_AGENT_NAMESPACE]
                         (default outpost-agent)
  --credentials-dir DIR  store in files [OUTPOST_AGENT_CREDENTIALS_DIR]
  --install              also install the agent into the --kubeconfig cluster (see above)
  --image REF            with --install: the agent image (default: the chart's,
                         ghcr.io/outpost-dev/outpost-agent:<version>)
  --wait true|false      with --install: wait until the agent runs (default true; the
                         wait is bounded by --timeout, counted from its start)
  --log-level LEVEL      JSON logs on stderr: fatal|error|warn|info|debug|trace|silent
                         [OUTPOST_LOG_LEVEL] (default warn)
  -h, --help             show this help

Exit codes: 0 joined (or already joined; with --install: and installed), 1 failed (the
code, e.g. AGENT_JOIN_TIMEOUT, AGENT_JOIN_DENIED, AGENT_CA_PIN_MISMATCH, the hub's
HUB_TOKEN_EXPIRED, AGENT_INSTALL_FAILED or AGENT_INSTALL_TIMEOUT, ends the message),
2 usage error (AGENT_CONFIG_INVALID).
`;

export async function joinCommand(
  config: JoinConfig,
  log: Logger,
  io: { stdout: (s: string) => void; stderr: (s: string) => void },
  signal: AbortSignal,
): Promise<number> {
  const { store, close } = openCredentialStore(config.credentials);
  const result = await join({
    config,
    store,
    log,
    signal,
    progress: (line) => io.stderr(`outpost-agent: ${line}\n`),
  }).finally(close);
  const expires = result.notAfter.toISOString();
  if (result.outcome === 'already-joined') {
    io.stdout(
      `cluster ${result.clusterName} already joined hub ${result.hubUrl}; certificate expires ${expires} (${result.storedIn}; token not used)\n`,
    );
  } else {
    io.stdout(
      `cluster ${result.clusterName} joined hub ${result.hubUrl}; certificate expires ${expires} (stored in ${result.storedIn})\n`,
    );
  }
  return 0;
}
