// Real, isolated Kubernetes API servers for tests: etcd + kube-apiserver (built by build.sh)
// on free loopback ports, each cluster in its own temp folder with its own serving cert,
// admin token, service-account keys and etcd prefix, so several can share one etcd.
// Every process started here is tracked and killed when the test process exits.

import { type ChildProcess, spawn } from 'node:child_process';
import { generateKeyPair, randomBytes } from 'node:crypto';
import { closeSync, constants, existsSync, openSync, readFileSync, rmSync } from 'node:fs';
import { access, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { KubeConfig } from '@kubernetes/client-node';
import { runBuildScript } from '../go/tool.ts';

export interface KubeBinaries {
  kubeApiserver: string;
  kubectl: string;
  etcd: string;
}

export interface EtcdHandle {
  /** Client URL, e.g. `http://127.0.0.1:40123`. */
  endpoint: string;
  /** Temp folder holding the data dir and `etcd.log`; removed by stop(). */
  dir: string;
  pid: number;
  /** Idempotent. */
  stop(): Promise<void>;
}

export interface KubeCluster {
  name: string;
  /** `https://127.0.0.1:PORT` */
  server: string;
  /** Temp folder holding certs, keys, kubeconfig and `kube-apiserver.log`; removed by stop(). */
  dir: string;
  /** Process id of kube-apiserver. */
  pid: number;
  /** Bearer token of user `admin` in group `system:masters`. */
  token: string;
  /** Base64 of the apiserver's self-signed certificate chain (its own CA). */
  caData: string;
  kubeconfigPath: string;
  kubeconfigYaml: string;
  /** The etcd this cluster stores into (shared or private). */
  etcd: EtcdHandle;
  /** A fresh KubeConfig for @kubernetes/client-node, loaded from kubeconfigYaml. */
  kubeConfig(): KubeConfig;
  /** Stops kube-apiserver (and a private etcd) and removes the temp folder. Idempotent. */
  stop(): Promise<void>;
}

export interface StartEtcdOptions {
  /** Bound on waiting for /health (default 30 s). */
  timeoutMs?: number;
}

export interface StartClusterOptions {
  /** Shared etcd; when absent a private one is started and stopped with the cluster. */
  etcd?: EtcdHandle;
  /** Cluster, context and kubeconfig name (default `cluster-N`). */
  name?: string;
  /** Bound on the whole start-up, private etcd included (default 60 s). */
  timeoutMs?: number;
}

export interface WaitForOptions {
  timeoutMs: number;
  /** Pause between probes (default 100 ms). */
  intervalMs?: number;
  /** Named in the timeout error. */
  description: string;
  /** Gives up at once with the signal's reason, e.g. when the awaited process died. */
  signal?: AbortSignal;
}

/** Grace between SIGTERM and SIGKILL in stop(). */
const STOP_GRACE_MS = 5_000;
const LOG_TAIL_LINES = 40;
/** How etcd and kube-apiserver both report losing the race for a port from freePorts(). */
const ADDRESS_IN_USE = 'bind: address already in use';

// ---------------------------------------------------------------------------------------
// Binaries

let binaries: Promise<KubeBinaries> | undefined;

/**
 * kube-apiserver, kubectl and etcd: from `$OUTPOST_KUBE_BIN_DIR` when set, else from
 * build.sh (cached, so only the first run of a machine compiles). Once per process.
 */
export function ensureKubeBinaries(): Promise<KubeBinaries> {
  binaries ??= locateBinaries().catch((err: unknown) => {
    binaries = undefined; // let a later call retry, e.g. after a transient proxy failure
    throw err;
  });
  return binaries;
}

async function locateBinaries(): Promise<KubeBinaries> {
  const dir =
    process.env.OUTPOST_KUBE_BIN_DIR || (await runBuildScript(join(import.meta.dirname, 'build.sh'), 'test/kube'));
  const found: KubeBinaries = {
    kubeApiserver: join(dir, 'kube-apiserver'),
    kubectl: join(dir, 'kubectl'),
    etcd: join(dir, 'etcd'),
  };
  for (const path of Object.values(found)) {
    await access(path, constants.X_OK).catch(() => {
      throw new Error(`test/kube: ${path} is missing or not executable`);
    });
  }
  return found;
}

// ---------------------------------------------------------------------------------------
// Process registry: whatever happens to the test, no etcd or apiserver outlives it.

interface Managed {
  child: ChildProcess;
  /** Aborted with an explanatory reason as soon as the process is gone. */
  gone: AbortSignal;
  exited: Promise<void>;
}

const liveChildren = new Set<ChildProcess>();
const liveDirs = new Set<string>();
let exitHooksInstalled = false;

function installExitHooks(): void {
  if (exitHooksInstalled) return;
  exitHooksInstalled = true;
  process.on('exit', killEverythingNow);
  // Our own handlers replace Node's default "die at once", so exit with the usual codes.
  process.once('SIGINT', () => {
    killEverythingNow();
    process.exit(130);
  });
  process.once('SIGTERM', () => {
    killEverythingNow();
    process.exit(143);
  });
}

function killEverythingNow(): void {
  for (const child of liveChildren) child.kill('SIGKILL');
  for (const dir of liveDirs) {
    try {
      rmSync(dir, { recursive: true, force: true });
    } catch {
      // A just-killed etcd may still be writing; the OS temp cleaner gets the rest.
    }
  }
}

// setpriv (util-linux) sets PR_SET_PDEATHSIG and then execs the binary, so the kernel
// kills the child even when the test process is SIGKILLed and no exit hook runs. The
// signal fires when the spawning thread dies; Node spawns from the main thread.
const setpriv = process.env.PATH?.split(delimiter)
  .map((dir) => join(dir, 'setpriv'))
  .find((path) => existsSync(path));

function spawnManaged(label: string, file: string, args: string[], logPath: string): Managed {
  installExitHooks();
  const logFd = openSync(logPath, 'a');
  let child: ChildProcess;
  try {
    child = setpriv
      ? spawn(setpriv, ['--pdeathsig', 'KILL', '--', file, ...args], { stdio: ['ignore', logFd, logFd] })
      : spawn(file, args, { stdio: ['ignore', logFd, logFd] });
  } finally {
    closeSync(logFd); // the child holds its own copy
  }
  liveChildren.add(child);
  // Unreferenced, so a forgotten cluster cannot keep the test process alive; the exit hook
  // kills it. stop() references it again while it waits for the exit.
  child.unref();
  const gone = new AbortController();
  const exited = new Promise<void>((resolve) => {
    const done = (reason: string) => {
      liveChildren.delete(child);
      gone.abort(new Error(`${label} ${reason}`));
      resolve();
    };
    child.once('exit', (code, signal) => done(`exited (${signal ?? `exit code ${code}`})`));
    child.once('error', (err) => done(`could not be started (${err.message})`));
  });
  return { child, gone: gone.signal, exited };
}

async function stopManaged(proc: Managed): Promise<void> {
  if (proc.gone.aborted) return;
  proc.child.ref();
  proc.child.kill('SIGTERM');
  let timer: NodeJS.Timeout | undefined;
  const graceOver = new Promise<'grace over'>((resolve) => {
    timer = setTimeout(resolve, STOP_GRACE_MS, 'grace over');
  });
  const outcome = await Promise.race([proc.exited, graceOver]);
  clearTimeout(timer);
  if (outcome === 'grace over') {
    proc.child.kill('SIGKILL');
    await proc.exited;
  }
}

function logTail(logPath: string, lines = LOG_TAIL_LINES): string {
  try {
    return readFileSync(logPath, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

// ---------------------------------------------------------------------------------------
// Small utilities

/** Polls `probe` until it returns a value other than undefined; probe errors mean "not yet". */
export async function waitFor<T>(
  probe: () => T | undefined | Promise<T | undefined>,
  options: WaitForOptions,
): Promise<T> {
  const { timeoutMs, intervalMs = 100, description, signal } = options;
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    signal?.throwIfAborted();
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (err) {
      lastError = err;
    }
    signal?.throwIfAborted();
    const left = deadline - Date.now();
    if (left <= 0) {
      const why = lastError instanceof Error ? `; last error: ${lastError.message}` : '';
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${description}${why}`);
    }
    await sleep(Math.min(intervalMs, left), undefined, { signal }).catch(() => undefined);
  }
}

/**
 * Free loopback ports, all held open together so they differ; another process may still
 * take one before our child binds it, hence the single retry on "address already in use".
 */
async function freePorts(count: number): Promise<number[]> {
  const servers: Server[] = [];
  try {
    const ports: number[] = [];
    for (let i = 0; i < count; i++) {
      const server = createServer();
      servers.push(server);
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(0, '127.0.0.1', resolve);
      });
      const address = server.address();
      if (address === null || typeof address === 'string') throw new Error('no TCP address');
      ports.push(address.port);
    }
    return ports;
  } finally {
    await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))));
  }
}

interface HttpGetOptions {
  ca?: Buffer;
  token?: string;
  timeoutMs: number;
}

function httpGet(url: string, { ca, token, timeoutMs }: HttpGetOptions): Promise<{ status: number; body: string }> {
  const request = url.startsWith('https:') ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      {
        ...(ca ? { ca } : {}),
        headers: token ? { authorization: `Bearer ${token}` } : {},
        timeout: timeoutMs,
        agent: false, // a fresh connection per probe; nothing lingers after start-up
      },
      (res) => {
        let body = '';
        res.setEncoding('utf8').on('data', (chunk: string) => {
          body += chunk;
        });
        res.once('end', () => resolve({ status: res.statusCode ?? 0, body }));
        res.once('error', reject);
      },
    );
    req.once('timeout', () => req.destroy(new Error(`GET ${url} took longer than ${timeoutMs} ms`)));
    req.once('error', reject);
    req.end();
  });
}

function randomHex(bytes: number): string {
  return randomBytes(bytes).toString('hex');
}

// ---------------------------------------------------------------------------------------
// etcd

/** A single-member etcd on free loopback ports with a throw-away data dir. */
export async function startEtcd(options: StartEtcdOptions = {}): Promise<EtcdHandle> {
  const { timeoutMs = 30_000 } = options;
  const deadline = Date.now() + timeoutMs;
  const bins = await ensureKubeBinaries();
  const dir = await mkdtemp(join(tmpdir(), 'outpost-etcd-'));
  liveDirs.add(dir);
  const dataDir = join(dir, 'data');
  const logPath = join(dir, 'etcd.log');
  try {
    for (let attempt = 1; ; attempt++) {
      // A failed attempt may have initialised membership for the old peer URL.
      await rm(dataDir, { recursive: true, force: true });
      const [clientPort, peerPort] = await freePorts(2);
      const endpoint = `http://127.0.0.1:${clientPort}`;
      const peer = `http://127.0.0.1:${peerPort}`;
      const proc = spawnManaged(
        'etcd',
        bins.etcd,
        [
          '--name=outpost',
          `--data-dir=${dataDir}`,
          `--listen-client-urls=${endpoint}`,
          `--advertise-client-urls=${endpoint}`,
          // The peer URL is never contacted, but etcd always listens on one (default
          // localhost:2380), which would clash between etcds.
          `--listen-peer-urls=${peer}`,
          `--initial-advertise-peer-urls=${peer}`,
          `--initial-cluster=outpost=${peer}`,
          // Test data need not survive a power cut; fsync dominates write latency.
          '--unsafe-no-fsync',
          '--log-level=warn',
        ],
        logPath,
      );
      try {
        await waitFor(
          async () => {
            const res = await httpGet(`${endpoint}/health`, { timeoutMs: 2_000 });
            if (res.status !== 200) throw new Error(`/health answered ${res.status}: ${res.body}`);
            return true;
          },
          { timeoutMs: Math.max(0, deadline - Date.now()), description: `etcd ${endpoint}/health`, signal: proc.gone },
        );
      } catch (err) {
        const tail = logTail(logPath); // read first, or it shows only the shutdown
        await stopManaged(proc);
        if (attempt === 1 && tail.includes(ADDRESS_IN_USE)) continue;
        throw new Error(
          `etcd did not become healthy within ${timeoutMs} ms: ${(err as Error).message}\nlog tail:\n${tail}`,
        );
      }
      let stopping: Promise<void> | undefined;
      return {
        endpoint,
        dir,
        pid: proc.child.pid ?? 0,
        stop: () => {
          stopping ??= (async () => {
            await stopManaged(proc);
            await rm(dir, { recursive: true, force: true });
            liveDirs.delete(dir);
          })();
          return stopping;
        },
      };
    }
  } catch (err) {
    await rm(dir, { recursive: true, force: true });
    liveDirs.delete(dir);
    throw err;
  }
}

// ---------------------------------------------------------------------------------------
// kube-apiserver

const generateKeyPairAsync = promisify(generateKeyPair);
const NAME_PATTERN = /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/;
let clusterCount = 0;

/**
 * kube-apiserver on a free loopback port, ready (`/readyz` answers 200) when this resolves.
 * No controller-manager or scheduler runs: objects are stored and validated, never acted on.
 */
export async function startCluster(options: StartClusterOptions = {}): Promise<KubeCluster> {
  const { name = `cluster-${++clusterCount}`, timeoutMs = 60_000 } = options;
  if (!NAME_PATTERN.test(name)) throw new Error(`cluster name ${JSON.stringify(name)} is not a DNS name`);
  const deadline = Date.now() + timeoutMs;
  const bins = await ensureKubeBinaries();
  const dir = await mkdtemp(join(tmpdir(), `outpost-kube-${name}-`));
  liveDirs.add(dir);
  let privateEtcd: EtcdHandle | undefined;
  try {
    const etcd = options.etcd ?? (await startEtcd({ timeoutMs: deadline - Date.now() }));
    if (etcd !== options.etcd) privateEtcd = etcd;
    const token = randomHex(24);
    const certDir = join(dir, 'certs');
    const logPath = join(dir, 'kube-apiserver.log');
    const saKeys = await generateKeyPairAsync('rsa', {
      modulusLength: 2048,
      publicKeyEncoding: { type: 'spki', format: 'pem' },
      privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
    });
    await mkdir(certDir);
    await Promise.all([
      writeFile(join(dir, 'tokens.csv'), `${token},admin,admin,"system:masters"\n`, { mode: 0o600 }),
      writeFile(join(dir, 'sa.pub'), saKeys.publicKey),
      writeFile(join(dir, 'sa.key'), saKeys.privateKey, { mode: 0o600 }),
    ]);
    const staticArgs = [
      '--bind-address=127.0.0.1',
      '--advertise-address=127.0.0.1',
      // No --tls-cert-file: the apiserver self-signs (its own CA + serving cert for
      // 127.0.0.1) into certs/apiserver.crt, which the kubeconfig then trusts.
      `--cert-dir=${certDir}`,
      `--token-auth-file=${join(dir, 'tokens.csv')}`,
      '--authorization-mode=RBAC',
      '--service-account-issuer=https://kubernetes.default.svc',
      `--service-account-key-file=${join(dir, 'sa.pub')}`,
      `--service-account-signing-key-file=${join(dir, 'sa.key')}`,
      // Only configuration: ClusterIPs are allocated from it, nothing is routed.
      '--service-cluster-ip-range=10.96.0.0/24',
      `--etcd-servers=${etcd.endpoint}`,
      // Own key space, so clusters sharing an etcd never see each other's objects.
      `--etcd-prefix=/outpost-${randomHex(6)}`,
      // Less start-up and idle CPU on small machines (measured ~10% and ~20%): the plain
      // max-in-flight limiter instead of APF queueing, no master lease rewritten every
      // 10 s (the `kubernetes` Service gets no endpoints, which no test needs), no pprof.
      '--enable-priority-and-fairness=false',
      '--endpoint-reconciler-type=none',
      '--profiling=false',
    ];
    for (let attempt = 1; ; attempt++) {
      const [port] = await freePorts(1);
      const server = `https://127.0.0.1:${port}`;
      const proc = spawnManaged(
        'kube-apiserver',
        bins.kubeApiserver,
        [`--secure-port=${port}`, ...staticArgs],
        logPath,
      );
      let ca: Buffer;
      try {
        ca = await waitFor(
          async () => {
            // Read each time: the file may be caught half-written on the first probes.
            const chain = await readFile(join(certDir, 'apiserver.crt'));
            const res = await httpGet(`${server}/readyz?verbose`, { ca: chain, token, timeoutMs: 2_000 });
            if (res.status !== 200) {
              const failing = res.body.split('\n').filter((line) => line.startsWith('[-]'));
              throw new Error(`/readyz answered ${res.status}: ${failing.join(', ') || res.body.trim()}`);
            }
            return chain;
          },
          {
            timeoutMs: Math.max(0, deadline - Date.now()),
            description: `kube-apiserver ${server}/readyz`,
            signal: proc.gone,
          },
        );
      } catch (err) {
        const tail = logTail(logPath); // read first, or it shows only the shutdown
        await stopManaged(proc);
        if (attempt === 1 && tail.includes(ADDRESS_IN_USE)) continue;
        throw new Error(
          `kube-apiserver ${name} did not become ready within ${timeoutMs} ms: ${(err as Error).message}\nlog tail:\n${tail}`,
        );
      }
      const caData = ca.toString('base64');
      const kubeconfigYaml = kubeconfig(name, server, caData, token);
      const kubeconfigPath = join(dir, 'kubeconfig');
      await writeFile(kubeconfigPath, kubeconfigYaml, { mode: 0o600 });
      let stopping: Promise<void> | undefined;
      return {
        name,
        server,
        dir,
        pid: proc.child.pid ?? 0,
        token,
        caData,
        kubeconfigPath,
        kubeconfigYaml,
        etcd,
        kubeConfig: () => {
          const kc = new KubeConfig();
          kc.loadFromString(kubeconfigYaml);
          return kc;
        },
        stop: () => {
          stopping ??= (async () => {
            await stopManaged(proc);
            await privateEtcd?.stop();
            await rm(dir, { recursive: true, force: true });
            liveDirs.delete(dir);
          })();
          return stopping;
        },
      };
    }
  } catch (err) {
    await privateEtcd?.stop();
    await rm(dir, { recursive: true, force: true });
    liveDirs.delete(dir);
    throw err;
  }
}

/** JSON strings are YAML too; quoting keeps names such as `true` or `1e3` strings. */
function kubeconfig(name: string, server: string, caData: string, token: string): string {
  const [n, user, srv, ca, tok] = [name, `${name}-admin`, server, caData, token].map((v) => JSON.stringify(v));
  return `apiVersion: v1
kind: Config
clusters:
  - name: ${n}
    cluster:
      server: ${srv}
      certificate-authority-data: ${ca}
users:
  - name: ${user}
    user:
      token: ${tok}
contexts:
  - name: ${n}
    context:
      cluster: ${n}
      user: ${user}
current-context: ${n}
`;
}
