// Agent configuration: defaults → environment (OUTPOST_AGENT_*) → flags → validation → a
// frozen object. The only place in the agent that reads process.env.
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import {
  bootstrapTokenPattern,
  durations,
  isDns1123Label,
  labelErrors,
  limits,
  parseDuration,
  parseHostPort,
  parseLabelList,
} from '@outpost/shared';
import { ConfigError } from '../errors.ts';

/** Where the credentials live: files in a directory, or a Secret in the spoke cluster. */
export type CredentialsTarget =
  | { readonly kind: 'dir'; readonly dir: string }
  | {
      readonly kind: 'secret';
      /** A kubeconfig file, or undefined for the in-cluster service account. */
      readonly kubeconfig: string | undefined;
      /** With no kubeconfig: where the pod's apiserver and service account are. */
      readonly inCluster?: InClusterTarget;
      readonly namespace: string;
      readonly secretName: string;
    };

/** KUBERNETES_SERVICE_HOST/_PORT and the service-account folder (OUTPOST_AGENT_SERVICE_ACCOUNT_DIR). */
export interface InClusterTarget {
  readonly host: string | undefined;
  readonly port: string | undefined;
  readonly serviceAccountDir: string | undefined;
}

export interface JoinConfig {
  readonly command: 'join';
  readonly hubUrl: string;
  readonly token: string;
  /** One or more `sha256:HEX` pins; any CA of the hub's bundle may match one. */
  readonly caCertHashes: readonly string[];
  readonly clusterName: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly claims: Readonly<Record<string, string>>;
  readonly timeoutMs: number;
  /** Re-register even when the stored credentials still work (with a recovery token). */
  readonly recover: boolean;
  /** Replace credentials (or a pending join) of another hub or cluster name. */
  readonly overwrite: boolean;
  readonly credentials: CredentialsTarget;
  readonly logLevel: string;
  /** `--install`: after joining, apply the agent's manifests (needs --kubeconfig). */
  readonly install: InstallOptions | undefined;
}

export interface InstallOptions {
  /** The agent image; undefined keeps the chart's default. */
  readonly image: string | undefined;
  /** Wait (within --timeout) until an agent pod is running and leading. */
  readonly wait: boolean;
}

/** `outpost-agent leave`: undo `join --install` in the cluster behind a kubeconfig. */
export interface LeaveConfig {
  readonly command: 'leave';
  readonly kubeconfig: string;
  readonly namespace: string;
  /** Delete the namespace too, when the installer created it. */
  readonly deleteNamespace: boolean;
  /** Delete what the works applied (their ledger), under each work's delete option. */
  readonly deleteWorkloads: boolean;
  /** How long to wait for a running agent to stop. */
  readonly timeoutMs: number;
  readonly logLevel: string;
}

export interface RunConfig {
  readonly command: 'run';
  readonly credentials: CredentialsTarget;
  readonly heartbeatIntervalMs: number;
  /** How long the hub may hold an unchanged long-poll. */
  readonly pollWaitSeconds: number;
  /** Period of the full re-apply that repairs drift (jittered ±20 %). */
  readonly resyncIntervalMs: number;
  /** Share of the applied objects one sync may delete before deletions wait for an admin. */
  readonly maxDeleteShare: number;
  /** With a cluster: compete for the `outpost-agent` Lease; only the holder runs. */
  readonly leaderElection: { readonly identity: string; readonly leaseDurationMs: number } | undefined;
  /** No work delivery, said explicitly (required without a cluster): heartbeats and renewals only. */
  readonly heartbeatOnly: boolean;
  /** How long the hub's records must say revoked (denied, removed, recovered) before the agent stops. */
  readonly revokedGraceMs: number;
  /** The local listener for /healthz, /readyz, /metrics and /status; off when undefined.
   *  Host '' is every address; `explicit` when given by flag or environment. */
  readonly listen: { readonly host: string; readonly port: number; readonly explicit: boolean } | undefined;
  readonly logLevel: string;
}

/** `outpost-agent status`: what the agent knows, read from its stores (it writes nothing). */
export interface StatusConfig {
  readonly command: 'status';
  readonly credentials: CredentialsTarget;
  readonly output: 'table' | 'json' | 'yaml';
  /** The running agent's local listener (`run --listen`), asked for live facts; undefined: not asked. */
  readonly agentUrl: string | undefined;
  /** Make one bounded request to the hub's /readyz with the stored CA bundle. */
  readonly checkHub: boolean;
  readonly logLevel: string;
}

export const agentDefaults = {
  credentialsDir: './.outpost-agent',
  namespace: 'outpost-agent',
  secretName: 'outpost-agent-credentials',
  joinTimeout: '15m',
  leaveTimeout: '5m',
  joinLogLevel: 'warn',
  runLogLevel: 'info',
  listen: '127.0.0.1:9469',
} as const;

const logLevels = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

const storeOptions = {
  kubeconfig: { type: 'string' },
  'credentials-dir': { type: 'string' },
  namespace: { type: 'string' },
  'log-level': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

export const joinOptions = {
  ...storeOptions,
  hub: { type: 'string' },
  token: { type: 'string' },
  'ca-cert-hash': { type: 'string', multiple: true },
  'cluster-name': { type: 'string' },
  labels: { type: 'string' },
  claims: { type: 'string' },
  timeout: { type: 'string' },
  recover: { type: 'boolean' },
  overwrite: { type: 'boolean' },
  install: { type: 'boolean' },
  image: { type: 'string' },
  wait: { type: 'string' },
} as const;

export const leaveOptions = {
  kubeconfig: { type: 'string' },
  namespace: { type: 'string' },
  'delete-namespace': { type: 'boolean' },
  'delete-workloads': { type: 'boolean' },
  timeout: { type: 'string' },
  'log-level': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

export const runOptions = {
  ...storeOptions,
  'heartbeat-interval': { type: 'string' },
  'poll-wait': { type: 'string' },
  'resync-interval': { type: 'string' },
  'max-delete-share': { type: 'string' },
  'leader-elect': { type: 'string' },
  'lease-duration': { type: 'string' },
  'heartbeat-only': { type: 'boolean' },
  'revoked-grace': { type: 'string' },
  listen: { type: 'string' },
} as const;

export const statusOptions = {
  ...storeOptions,
  output: { type: 'string', short: 'o' },
  'agent-url': { type: 'string' },
  'check-hub': { type: 'boolean' },
} as const;

type Env = Readonly<Record<string, string | undefined>>;

function parseFlags<O extends typeof joinOptions | typeof runOptions | typeof leaveOptions | typeof statusOptions>(
  argv: readonly string[],
  options: O,
) {
  try {
    return parseArgs({ args: [...argv], options, strict: true, allowPositionals: false }).values;
  } catch (err) {
    throw new ConfigError((err as Error).message);
  }
}

function splitList(value: string | undefined): string[] {
  return (value ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
}

function logLevel(value: string | undefined, env: Env, fallback: string): string {
  const level = value ?? env.OUTPOST_LOG_LEVEL ?? fallback;
  if (!logLevels.includes(level)) {
    throw new ConfigError(`--log-level must be one of ${logLevels.join(', ')}, got ${JSON.stringify(level)}`);
  }
  return level;
}

/**
 * The credential store. Flags outrank the environment as a whole: `--credentials-dir` wins
 * over OUTPOST_AGENT_KUBECONFIG. With neither, a process inside a pod (KUBERNETES_SERVICE_HOST
 * set) uses its service account and a Secret; anywhere else, the default directory.
 */
function credentialsTarget(
  values: { kubeconfig?: string; 'credentials-dir'?: string; namespace?: string },
  env: Env,
): CredentialsTarget {
  const namespace = values.namespace ?? env.OUTPOST_AGENT_NAMESPACE ?? agentDefaults.namespace;
  if (!isDns1123Label(namespace)) {
    throw new ConfigError(
      `--namespace must be a DNS-1123 label (a Kubernetes namespace), got ${JSON.stringify(namespace)}`,
    );
  }
  const pick = (kubeconfig: string | undefined, dir: string | undefined, source: string) => {
    if (kubeconfig && dir) {
      throw new ConfigError(`${source}: give either a kubeconfig (Secret store) or a credentials dir, not both`);
    }
    if (kubeconfig) {
      return {
        kind: 'secret',
        kubeconfig: resolve(kubeconfig),
        namespace,
        secretName: agentDefaults.secretName,
      } as const;
    }
    if (dir) return { kind: 'dir', dir: resolve(dir) } as const;
    return undefined;
  };
  return (
    pick(values.kubeconfig, values['credentials-dir'], '--kubeconfig and --credentials-dir') ??
    pick(
      env.OUTPOST_AGENT_KUBECONFIG,
      env.OUTPOST_AGENT_CREDENTIALS_DIR,
      'OUTPOST_AGENT_KUBECONFIG and OUTPOST_AGENT_CREDENTIALS_DIR',
    ) ??
    (env.KUBERNETES_SERVICE_HOST
      ? {
          kind: 'secret',
          kubeconfig: undefined,
          inCluster: {
            host: env.KUBERNETES_SERVICE_HOST,
            port: env.KUBERNETES_SERVICE_PORT,
            serviceAccountDir: env.OUTPOST_AGENT_SERVICE_ACCOUNT_DIR,
          },
          namespace,
          secretName: agentDefaults.secretName,
        }
      : { kind: 'dir', dir: resolve(agentDefaults.credentialsDir) })
  );
}

function required(value: string | undefined, flag: string, envName: string): string {
  if (!value) throw new ConfigError(`${flag} is required (or ${envName})`);
  return value;
}

/** The hub's origin (`https://host:port`); paths and queries are refused, not dropped. */
export function parseHubUrl(value: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new ConfigError(`--hub must be a URL such as https://hub.example.com:8443, got ${JSON.stringify(value)}`);
  }
  if (url.protocol !== 'https:') throw new ConfigError(`--hub must use https, got ${JSON.stringify(value)}`);
  if ((url.pathname !== '/' && url.pathname !== '') || url.search || url.hash || url.username || url.password) {
    throw new ConfigError(`--hub must be just https://HOST[:PORT], got ${JSON.stringify(value)}`);
  }
  return url.origin;
}

const caHashPattern = /^sha256:[0-9a-f]{64}$/;

function parseKeyValues(text: string | undefined, what: 'labels' | 'claims'): Record<string, string> {
  if (!text) return {};
  try {
    return parseLabelList(text);
  } catch (err) {
    throw new ConfigError(`--${what}: ${(err as Error).message}`);
  }
}

function claimProblems(claims: Record<string, string>): string[] {
  const entries = Object.entries(claims);
  const problems: string[] = [];
  if (entries.length > limits.claimsPerCluster) problems.push(`at most ${limits.claimsPerCluster} claims`);
  for (const [k, v] of entries) {
    if (k.length > 253) problems.push(`claim name ${JSON.stringify(k.slice(0, 40))}… is longer than 253 characters`);
    if (v.length > limits.claimValueMax) {
      problems.push(`claim ${JSON.stringify(k)}: value longer than ${limits.claimValueMax} characters`);
    }
  }
  return problems;
}

function duration(text: string, flag: string, minMs: number): number {
  const ms = parseDuration(text);
  if (ms === undefined || ms < minMs) {
    throw new ConfigError(
      `${flag} must be a duration of at least ${minMs} ms (for example 15m), got ${JSON.stringify(text)}`,
    );
  }
  return ms;
}

export function loadJoinConfig(argv: readonly string[], env: Env = process.env): JoinConfig | 'help' {
  const v = parseFlags(argv, joinOptions);
  if (v.help) return 'help';
  const hubUrl = parseHubUrl(required(v.hub ?? env.OUTPOST_AGENT_HUB, '--hub', 'OUTPOST_AGENT_HUB'));
  const token = required(v.token ?? env.OUTPOST_AGENT_TOKEN, '--token', 'OUTPOST_AGENT_TOKEN');
  if (!bootstrapTokenPattern.test(token)) {
    // Never echo the token: it may be a near-miss of a real secret.
    throw new ConfigError('--token must look like abcdef.0123456789abcdef (ID.SECRET from the hub)');
  }
  const hashes = v['ca-cert-hash']
    ? v['ca-cert-hash'].flatMap((h) => splitList(h))
    : splitList(env.OUTPOST_AGENT_CA_CERT_HASH);
  if (hashes.length === 0) {
    throw new ConfigError(
      '--ca-cert-hash is required (or OUTPOST_AGENT_CA_CERT_HASH): the sha256:… the hub prints at start-up',
    );
  }
  const caCertHashes = [...new Set(hashes.map((h) => h.toLowerCase()))];
  for (const h of caCertHashes) {
    if (!caHashPattern.test(h)) {
      throw new ConfigError(`--ca-cert-hash must be sha256: followed by 64 hex digits, got ${JSON.stringify(h)}`);
    }
  }
  const clusterName = required(
    v['cluster-name'] ?? env.OUTPOST_AGENT_CLUSTER_NAME,
    '--cluster-name',
    'OUTPOST_AGENT_CLUSTER_NAME',
  );
  if (!isDns1123Label(clusterName)) {
    throw new ConfigError(
      `--cluster-name must be a DNS-1123 label (at most 63 of a-z, 0-9 and "-", starting and ending with a letter or digit), got ${JSON.stringify(clusterName)}`,
    );
  }
  const labels = parseKeyValues(v.labels ?? env.OUTPOST_AGENT_LABELS, 'labels');
  const labelProblems = labelErrors(labels, limits.labelsPerObject);
  if (labelProblems.length) throw new ConfigError(`--labels: ${labelProblems.join('; ')}`);
  const claims = parseKeyValues(v.claims ?? env.OUTPOST_AGENT_CLAIMS, 'claims');
  const problems = claimProblems(claims);
  if (problems.length) throw new ConfigError(`--claims: ${problems.join('; ')}`);
  const timeoutMs = duration(v.timeout ?? env.OUTPOST_AGENT_TIMEOUT ?? agentDefaults.joinTimeout, '--timeout', 1_000);
  const credentials = credentialsTarget(v, env);
  return Object.freeze({
    command: 'join',
    hubUrl,
    token,
    caCertHashes: Object.freeze(caCertHashes),
    clusterName,
    labels: Object.freeze(labels),
    claims: Object.freeze(claims),
    timeoutMs,
    recover: v.recover ?? false,
    overwrite: v.overwrite ?? false,
    credentials: Object.freeze(credentials),
    logLevel: logLevel(v['log-level'], env, agentDefaults.joinLogLevel),
    install: installOptions(v, credentials),
  });
}

/** An image reference: no spaces or control characters, at most 512 characters. */
const imagePattern = /^[A-Za-z0-9][A-Za-z0-9._\-/:@]{0,511}$/;

function installOptions(
  v: { install?: boolean; image?: string; wait?: string },
  credentials: CredentialsTarget,
): InstallOptions | undefined {
  if (!v.install) {
    if (v.image !== undefined || v.wait !== undefined) throw new ConfigError('--image and --wait need --install');
    return undefined;
  }
  if (credentials.kind !== 'secret' || !credentials.kubeconfig) {
    throw new ConfigError('--install needs --kubeconfig (the cluster to install the agent into)');
  }
  if (v.image !== undefined && !imagePattern.test(v.image)) {
    throw new ConfigError(
      `--image must be an image reference such as registry.example.com/outpost-agent:0.1.0, got ${JSON.stringify(v.image)}`,
    );
  }
  const wait = v.wait ?? 'true';
  if (wait !== 'true' && wait !== 'false') {
    throw new ConfigError(`--wait must be true or false, got ${JSON.stringify(wait)}`);
  }
  return Object.freeze({ image: v.image, wait: wait === 'true' });
}

export function loadLeaveConfig(argv: readonly string[], env: Env = process.env): LeaveConfig | 'help' {
  const v = parseFlags(argv, leaveOptions);
  if (v.help) return 'help';
  const kubeconfig = required(v.kubeconfig ?? env.OUTPOST_AGENT_KUBECONFIG, '--kubeconfig', 'OUTPOST_AGENT_KUBECONFIG');
  const namespace = v.namespace ?? env.OUTPOST_AGENT_NAMESPACE ?? agentDefaults.namespace;
  if (!isDns1123Label(namespace)) {
    throw new ConfigError(
      `--namespace must be a DNS-1123 label (a Kubernetes namespace), got ${JSON.stringify(namespace)}`,
    );
  }
  return Object.freeze({
    command: 'leave',
    kubeconfig: resolve(kubeconfig),
    namespace,
    deleteNamespace: v['delete-namespace'] ?? false,
    deleteWorkloads: v['delete-workloads'] ?? false,
    timeoutMs: duration(v.timeout ?? env.OUTPOST_AGENT_TIMEOUT ?? agentDefaults.leaveTimeout, '--timeout', 1_000),
    logLevel: logLevel(v['log-level'], env, agentDefaults.joinLogLevel),
  });
}

export function loadRunConfig(argv: readonly string[], env: Env = process.env): RunConfig | 'help' {
  const v = parseFlags(argv, runOptions);
  if (v.help) return 'help';
  const interval = v['heartbeat-interval'] ?? env.OUTPOST_AGENT_HEARTBEAT_INTERVAL;
  const credentials = credentialsTarget(v, env);
  const heartbeatOnly = v['heartbeat-only'] ?? flag(env.OUTPOST_AGENT_HEARTBEAT_ONLY, 'OUTPOST_AGENT_HEARTBEAT_ONLY');
  // Without a cluster no work can be applied: running so must be asked for, never a surprise
  // (the hub shows such a cluster as HeartbeatOnly).
  if (credentials.kind === 'dir' && !heartbeatOnly) {
    throw new ConfigError(
      `no cluster to deliver work to: the credentials are in files (${credentials.dir}), so works for this cluster would not be applied. ` +
        'Pass --kubeconfig (or run in a pod) to deliver work, or --heartbeat-only to run without a cluster',
    );
  }
  return Object.freeze({
    command: 'run',
    credentials: Object.freeze(credentials),
    heartbeatIntervalMs:
      interval === undefined ? durations.heartbeatMs : duration(interval, '--heartbeat-interval', 100),
    pollWaitSeconds: duration(v['poll-wait'] ?? env.OUTPOST_AGENT_POLL_WAIT ?? '30s', '--poll-wait', 0) / 1000,
    resyncIntervalMs: duration(
      v['resync-interval'] ?? env.OUTPOST_AGENT_RESYNC_INTERVAL ?? '5m',
      '--resync-interval',
      1000,
    ),
    maxDeleteShare: share(v['max-delete-share'] ?? env.OUTPOST_AGENT_MAX_DELETE_SHARE ?? '0.5'),
    leaderElection: leaderElection(v, env, credentials.kind === 'secret'),
    heartbeatOnly,
    revokedGraceMs: duration(v['revoked-grace'] ?? env.OUTPOST_AGENT_REVOKED_GRACE ?? '30s', '--revoked-grace', 0),
    listen: listenAddress(v.listen ?? env.OUTPOST_AGENT_LISTEN),
    logLevel: logLevel(v['log-level'], env, agentDefaults.runLogLevel),
  });
}

/**
 * HOST:PORT of the local listener, or `off`; `:PORT` is every address (dual-stack where the
 * host has IPv6). `explicit`: given by flag or environment, so a failure to bind it stops
 * the agent; the default address in use only costs the listener.
 */
function listenAddress(text: string | undefined): RunConfig['listen'] {
  if (text === 'off') return undefined;
  const a = parseHostPort(text ?? agentDefaults.listen);
  if ('error' in a) {
    throw new ConfigError(
      a.error === 'NOT_IPV6'
        ? `--listen: ${a.host} is not an IPv6 address`
        : `--listen must be HOST:PORT (for example 127.0.0.1:9469, or :9469 for every address) or off, got ${JSON.stringify(String(text).slice(0, 80))}`,
    );
  }
  return Object.freeze({ ...a, explicit: text !== undefined });
}

export function loadStatusConfig(argv: readonly string[], env: Env = process.env): StatusConfig | 'help' {
  const v = parseFlags(argv, statusOptions);
  if (v.help) return 'help';
  const output = v.output ?? 'table';
  if (output !== 'table' && output !== 'json' && output !== 'yaml') {
    throw new ConfigError(`--output must be table, json or yaml, got ${JSON.stringify(output)}`);
  }
  return Object.freeze({
    command: 'status',
    credentials: Object.freeze(credentialsTarget(v, env)),
    output,
    agentUrl: agentUrl(v['agent-url'] ?? env.OUTPOST_AGENT_URL ?? `http://${agentDefaults.listen}`),
    checkHub: v['check-hub'] ?? flag(env.OUTPOST_AGENT_CHECK_HUB, 'OUTPOST_AGENT_CHECK_HUB'),
    logLevel: logLevel(v['log-level'], env, agentDefaults.joinLogLevel),
  });
}

/** The running agent's listener, `http://HOST:PORT` (its /status is asked), or `off`. */
function agentUrl(text: string): string | undefined {
  if (text === 'off') return undefined;
  const invalid = () =>
    new ConfigError(
      `--agent-url must be http://HOST:PORT (the agent's --listen address, for example http://127.0.0.1:9469) or off, got ${JSON.stringify(text.slice(0, 80))}`,
    );
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw invalid();
  }
  const bare = (url.pathname === '/' || url.pathname === '') && !url.search && !url.hash;
  if (url.protocol !== 'http:' || !bare || url.username || url.password) throw invalid();
  return url.origin;
}

/** A boolean environment variable: unset is false; true/false (or 1/0) only. */
function flag(value: string | undefined, name: string): boolean {
  if (value === undefined || value === '' || value === 'false' || value === '0') return false;
  if (value === 'true' || value === '1') return true;
  throw new ConfigError(`${name} must be true or false, got ${JSON.stringify(value.slice(0, 40))}`);
}

/**
 * On by default with a cluster (a DaemonSet runs several replicas; exactly one may apply),
 * off for file credentials (no cluster to hold a Lease in). The identity is the pod's name
 * (POD_NAME from the downward API), else the host name plus a random suffix.
 */
function leaderElection(
  v: { 'leader-elect'?: string; 'lease-duration'?: string },
  env: Env,
  haveCluster: boolean,
): RunConfig['leaderElection'] {
  const text = v['leader-elect'] ?? env.OUTPOST_AGENT_LEADER_ELECT ?? (haveCluster ? 'true' : 'false');
  if (text !== 'true' && text !== 'false') {
    throw new ConfigError(`--leader-elect must be true or false, got ${JSON.stringify(text)}`);
  }
  if (text === 'false') return undefined;
  if (!haveCluster)
    throw new ConfigError('--leader-elect needs a cluster (--kubeconfig or in a pod) to hold its Lease');
  const leaseDurationMs = duration(
    v['lease-duration'] ?? env.OUTPOST_AGENT_LEASE_DURATION ?? '15s',
    '--lease-duration',
    3000,
  );
  // Without POD_NAME a random suffix keeps two processes on one host (pid 1 in containers) apart.
  const identity = env.POD_NAME || `${hostname()}-${randomBytes(4).toString('hex')}`;
  return Object.freeze({ identity, leaseDurationMs });
}

function share(text: string): number {
  const n = Number(text);
  if (!Number.isFinite(n) || n <= 0 || n > 1) {
    throw new ConfigError(`--max-delete-share must be a number in (0, 1], got ${JSON.stringify(text)}`);
  }
  return n;
}
