// How the agent reaches its own cluster's kube-apiserver: a kubeconfig file or the pod's
// service account, read into one small `KubeConnection`.
//
// Why not @kubernetes/client-node's KubeConfig: importing it loads the whole generated API
// (about 90 MiB of resident memory in the agent, most of its footprint), and the agent needs
// only the connection: server, TLS material and a way to get a bearer token. Everything else
// goes through apply/rest.ts.
//
// Supported: clusters with server, certificate-authority(-data), insecure-skip-tls-verify,
// tls-server-name; users with client-certificate(-data) and client-key(-data), token,
// tokenFile, username/password, and exec credential plugins (client.authentication.k8s.io
// v1 and v1beta1; token or client certificate). Not supported, with a clear error:
// auth-provider (removed from kubectl in 1.26) and proxy-url.
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, isAbsolute, join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { AgentError } from '../errors.ts';

/** The default service-account mount of a pod. */
export const serviceAccountDir = '/var/run/secrets/kubernetes.io/serviceaccount';

export interface ExecPlugin {
  apiVersion: string;
  command: string;
  args: string[];
  env: Record<string, string>;
  /** Relative commands resolve against the kubeconfig's folder, as kubectl does. */
  cwd: string;
  installHint?: string;
}

export type KubeAuth =
  | { kind: 'none' }
  | { kind: 'token'; token: string }
  /** Re-read on every credentials refresh: projected service-account tokens rotate. */
  | { kind: 'tokenFile'; file: string }
  | { kind: 'basic'; username: string; password: string }
  | { kind: 'exec'; exec: ExecPlugin };

export interface KubeConnection {
  /** `https://host:port` plus any path prefix, without a trailing slash. */
  server: string;
  ca?: Buffer;
  cert?: Buffer;
  key?: Buffer;
  insecureSkipTlsVerify: boolean;
  tlsServerName?: string;
  auth: KubeAuth;
  /** The context's namespace (kubeconfig) or the pod's namespace (in-cluster), if given. */
  namespace?: string;
  /** Where this came from, for messages: `kubeconfig F (context C)` or `in-cluster service account`. */
  description: string;
}

/** Credentials ready to send: headers, optional TLS client material from an exec plugin, validity. */
export interface KubeCredentials {
  headers: Record<string, string>;
  cert?: Buffer;
  key?: Buffer;
  /** Epoch ms after which these must be read again (Infinity: only after a 401). */
  validUntil: number;
}

const invalid = (what: string, why: string, cause?: unknown) =>
  new AgentError('AGENT_KUBECONFIG_INVALID', `${what}: ${why}`, cause === undefined ? {} : { cause });

type Named<T> = { name?: unknown } & Record<string, T>;

function pick(list: unknown, name: string, field: 'cluster' | 'user' | 'context'): Record<string, unknown> | undefined {
  if (!Array.isArray(list)) return undefined;
  const hit = (list as Named<unknown>[]).find((e) => e && typeof e === 'object' && e.name === name);
  const value = hit?.[field];
  return value && typeof value === 'object' ? (value as Record<string, unknown>) : hit ? {} : undefined;
}

const str = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined);

/** Reads a kubeconfig file; `context` defaults to its current-context. */
export function loadKubeconfigFile(file: string, context?: string): KubeConnection {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw invalid(`kubeconfig ${file}`, `cannot read it: ${(err as Error).message}`, err);
  }
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (err) {
    throw invalid(`kubeconfig ${file}`, `not YAML: ${(err as Error).message}`, err);
  }
  if (!doc || typeof doc !== 'object') throw invalid(`kubeconfig ${file}`, 'empty or not a mapping');
  const kc = doc as Record<string, unknown>;
  const ctxName = context ?? str(kc['current-context']);
  if (!ctxName) throw invalid(`kubeconfig ${file}`, 'no current-context set (and no context given)');
  const what = `kubeconfig ${file} (context ${ctxName})`;
  const ctx = pick(kc.contexts, ctxName, 'context');
  if (!ctx) throw invalid(what, `no context named ${JSON.stringify(ctxName)}`);
  const clusterName = str(ctx.cluster);
  const cluster = clusterName ? pick(kc.clusters, clusterName, 'cluster') : undefined;
  if (!cluster) throw invalid(what, `no cluster named ${JSON.stringify(clusterName ?? '')}`);
  const userName = str(ctx.user);
  const user = userName ? (pick(kc.users, userName, 'user') ?? {}) : {};
  const base = dirname(file);
  const path = (p: string) => (isAbsolute(p) ? p : join(base, p));
  const material = (dataKey: string, fileKey: string, from: Record<string, unknown>): Buffer | undefined => {
    const data = str(from[dataKey]);
    if (data) return Buffer.from(data, 'base64');
    const f = str(from[fileKey]);
    if (!f) return undefined;
    try {
      return readFileSync(path(f));
    } catch (err) {
      throw invalid(what, `cannot read ${fileKey} ${f}: ${(err as Error).message}`, err);
    }
  };

  const server = str(cluster.server);
  if (!server) throw invalid(what, `cluster ${clusterName} has no server`);
  if (str(cluster['proxy-url'])) throw invalid(what, 'proxy-url is not supported');
  if (user['auth-provider']) throw invalid(what, 'auth-provider is not supported; use an exec credential plugin');

  let auth: KubeAuth = { kind: 'none' };
  const exec = user.exec as Record<string, unknown> | undefined;
  if (exec && typeof exec === 'object') {
    const command = str(exec.command);
    if (!command) throw invalid(what, 'exec plugin without a command');
    const env: Record<string, string> = {};
    for (const e of Array.isArray(exec.env) ? (exec.env as Record<string, unknown>[]) : []) {
      if (str(e?.name)) env[e.name as string] = String(e.value ?? '');
    }
    auth = {
      kind: 'exec',
      exec: {
        apiVersion: str(exec.apiVersion) ?? 'client.authentication.k8s.io/v1',
        command,
        args: Array.isArray(exec.args) ? exec.args.map(String) : [],
        env,
        cwd: base,
        ...(str(exec.installHint) ? { installHint: exec.installHint as string } : {}),
      },
    };
  } else if (str(user.token)) {
    auth = { kind: 'token', token: user.token as string };
  } else if (str(user.tokenFile)) {
    auth = { kind: 'tokenFile', file: path(user.tokenFile as string) };
  } else if (str(user.username)) {
    auth = { kind: 'basic', username: user.username as string, password: String(user.password ?? '') };
  }

  const conn: KubeConnection = {
    server: server.replace(/\/+$/, ''),
    insecureSkipTlsVerify: cluster['insecure-skip-tls-verify'] === true,
    auth,
    description: what,
  };
  const ca = material('certificate-authority-data', 'certificate-authority', cluster);
  const cert = material('client-certificate-data', 'client-certificate', user);
  const key = material('client-key-data', 'client-key', user);
  if (ca) conn.ca = ca;
  if (cert) conn.cert = cert;
  if (key) conn.key = key;
  if (!cert !== !key) throw invalid(what, 'a client certificate needs both the certificate and its key');
  if (str(cluster['tls-server-name'])) conn.tlsServerName = cluster['tls-server-name'] as string;
  if (str(ctx.namespace)) conn.namespace = ctx.namespace as string;
  return conn;
}

/**
 * The pod's service account: the apiserver at KUBERNETES_SERVICE_HOST and _PORT, and the
 * token, CA and namespace files under `serviceAccountDir` (the standard mount unless a test
 * or a custom mount says otherwise). The token file is re-read, so projected tokens that
 * rotate keep working.
 */
export function loadInCluster(target: {
  host?: string | undefined;
  port?: string | undefined;
  serviceAccountDir?: string | undefined;
}): KubeConnection {
  const what = 'in-cluster service account';
  const dir = target.serviceAccountDir || serviceAccountDir;
  const host = target.host;
  const port = target.port || '443';
  if (!host) throw invalid(what, 'KUBERNETES_SERVICE_HOST is not set: not running in a pod? Give --kubeconfig');
  const tokenFile = join(dir, 'token');
  let ca: Buffer;
  try {
    readFileSync(tokenFile);
    ca = readFileSync(join(dir, 'ca.crt'));
  } catch (err) {
    throw invalid(what, `cannot read the service account under ${dir}: ${(err as Error).message}`, err);
  }
  const conn: KubeConnection = {
    server: `https://${host.includes(':') ? `[${host}]` : host}:${port}`,
    ca,
    insecureSkipTlsVerify: false,
    auth: { kind: 'tokenFile', file: tokenFile },
    description: what,
  };
  try {
    const ns = readFileSync(join(dir, 'namespace'), 'utf8').trim();
    if (ns) conn.namespace = ns;
  } catch {
    // No namespace file: the caller's default applies.
  }
  return conn;
}

/** How long a token read from a file is reused before the file is read again. */
const tokenFileTtlMs = 30_000;
/** Exec credentials are refreshed this long before the expiry the plugin gave. */
const execExpirySkewMs = 10_000;
const execTimeoutMs = 60_000;

/** Reads the credentials of `conn` now (runs the exec plugin, reads the token file). */
export async function readCredentials(conn: KubeConnection, now = Date.now()): Promise<KubeCredentials> {
  const auth = conn.auth;
  switch (auth.kind) {
    case 'none':
      return { headers: {}, validUntil: Number.POSITIVE_INFINITY };
    case 'token':
      return { headers: { authorization: `Bearer ${auth.token}` }, validUntil: Number.POSITIVE_INFINITY };
    case 'basic':
      return {
        headers: { authorization: `Basic ${Buffer.from(`${auth.username}:${auth.password}`).toString('base64')}` },
        validUntil: Number.POSITIVE_INFINITY,
      };
    case 'tokenFile': {
      let token: string;
      try {
        token = readFileSync(auth.file, 'utf8').trim();
      } catch (err) {
        throw invalid(conn.description, `cannot read token file ${auth.file}: ${(err as Error).message}`, err);
      }
      return { headers: { authorization: `Bearer ${token}` }, validUntil: now + tokenFileTtlMs };
    }
    case 'exec':
      return await runExecPlugin(conn, auth.exec, now);
  }
}

async function runExecPlugin(conn: KubeConnection, exec: ExecPlugin, now: number): Promise<KubeCredentials> {
  const what = `${conn.description}: exec plugin ${exec.command}`;
  const info = { apiVersion: exec.apiVersion, kind: 'ExecCredential', spec: { interactive: false } };
  const command = exec.command.includes('/') && !isAbsolute(exec.command) ? join(exec.cwd, exec.command) : exec.command;
  const stdout = await new Promise<string>((resolve, reject) => {
    execFile(
      command,
      exec.args,
      {
        env: { ...process.env, ...exec.env, KUBERNETES_EXEC_INFO: JSON.stringify(info) },
        timeout: execTimeoutMs,
        maxBuffer: 1 << 20,
      },
      (err, out, errOut) => {
        if (err) {
          const hint = exec.installHint ? `\n${exec.installHint}` : '';
          reject(
            new AgentError('AGENT_KUBE_CREDENTIALS_FAILED', `${what} failed: ${errOut.trim() || err.message}${hint}`, {
              cause: err,
            }),
          );
        } else resolve(out);
      },
    );
  });
  let status: Record<string, unknown>;
  try {
    const parsed = JSON.parse(stdout) as { kind?: string; status?: Record<string, unknown> };
    if (parsed.kind !== 'ExecCredential' || !parsed.status) throw new Error('not an ExecCredential with a status');
    status = parsed.status;
  } catch (err) {
    throw new AgentError(
      'AGENT_KUBE_CREDENTIALS_FAILED',
      `${what} printed no usable ExecCredential: ${(err as Error).message}`,
      {
        cause: err,
      },
    );
  }
  const expiry = str(status.expirationTimestamp);
  const validUntil = expiry ? Date.parse(expiry) - execExpirySkewMs : Number.POSITIVE_INFINITY;
  const out: KubeCredentials = { headers: {}, validUntil: Number.isNaN(validUntil) ? now : validUntil };
  if (str(status.token)) out.headers.authorization = `Bearer ${status.token as string}`;
  if (str(status.clientCertificateData) && str(status.clientKeyData)) {
    out.cert = Buffer.from(status.clientCertificateData as string);
    out.key = Buffer.from(status.clientKeyData as string);
  }
  if (!out.headers.authorization && !out.cert) {
    throw new AgentError('AGENT_KUBE_CREDENTIALS_FAILED', `${what} gave neither a token nor a client certificate`);
  }
  return out;
}
