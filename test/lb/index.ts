// test/lb: a real TCP load balancer for tests, HAProxy (Debian's package, provided by
// `outpost_ensure_haproxy` in scripts/toolchain.sh), in front of several servers on loopback:
// hub replicas (TLS passes through: agents' mTLS ends at the hub) or PostgreSQL servers.
// Health checks every 500 ms take a dead backend out within about a second; connections of
// a backend that died are closed (on-marked-down shutdown-sessions), as a load balancer in
// production does. Stopped when the test process exits.
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createConnection, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

export interface Backend {
  host?: string;
  port: number;
  /** Only used when every other backend is down (a standby). */
  backup?: boolean;
}

export interface LoadBalancerOptions {
  /** `roundrobin` (default), `leastconn` or `first` (the first backend that is up). */
  balance?: 'roundrobin' | 'leastconn' | 'first';
  /** `tcp` (default: a TCP connect) or `pgsql` (a PostgreSQL start-up as `user`). */
  check?: { kind: 'tcp' } | { kind: 'pgsql'; user: string };
}

export interface LoadBalancer {
  /** 127.0.0.1 */
  host: string;
  port: number;
  proc: ChildProcess;
  output(): string;
  stop(): Promise<void>;
}

const HOST = '127.0.0.1';
const live = new Set<ChildProcess>();
process.on('exit', () => {
  for (const p of live) p.kill('SIGKILL');
});

/** Where HAProxy is: $OUTPOST_HAPROXY_BIN, else /usr/sbin/haproxy. */
export function haproxyBin(): string {
  return process.env.OUTPOST_HAPROXY_BIN || '/usr/sbin/haproxy';
}

export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, HOST, resolve);
  });
  const address = server.address();
  await new Promise((r) => server.close(r));
  if (typeof address !== 'object' || !address) throw new Error('no port');
  return address.port;
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createConnection({ host: HOST, port }, () => {
      s.end();
      resolve(true);
    });
    s.on('error', () => resolve(false));
  });
}

/** Starts HAProxy in TCP mode on a free loopback port in front of `backends`. */
export async function startLoadBalancer(
  backends: readonly Backend[],
  opts: LoadBalancerOptions = {},
): Promise<LoadBalancer> {
  const dir = await mkdtemp(join(tmpdir(), 'outpost-lb-'));
  const port = await freePort();
  const check = opts.check ?? { kind: 'tcp' };
  const config = [
    'global',
    '  maxconn 4000',
    'defaults',
    '  mode tcp',
    '  timeout connect 2s',
    // Long-polls are held up to the hub's poll timeout; agents' keep-alive connections idle.
    '  timeout client 5m',
    '  timeout server 5m',
    'frontend in',
    `  bind ${HOST}:${port}`,
    '  default_backend servers',
    'backend servers',
    `  balance ${opts.balance ?? 'roundrobin'}`,
    ...(check.kind === 'pgsql' ? [`  option pgsql-check user ${check.user}`] : []),
    '  default-server inter 500ms fall 2 rise 2 on-marked-down shutdown-sessions',
    ...backends.map((b, i) => `  server s${i} ${b.host ?? HOST}:${b.port} check${b.backup ? ' backup' : ''}`),
    '',
  ].join('\n');
  const file = join(dir, 'haproxy.cfg');
  await writeFile(file, config);
  const proc = spawn(haproxyBin(), ['-db', '-f', file], { stdio: ['ignore', 'pipe', 'pipe'] });
  live.add(proc);
  let out = '';
  proc.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  proc.stderr?.on('data', (d: Buffer) => (out += d.toString()));
  const exited = once(proc, 'exit');
  const deadline = Date.now() + 10_000;
  while (!(await canConnect(port))) {
    if (proc.exitCode !== null) throw new Error(`haproxy exited with ${proc.exitCode}:\n${out}\n${config}`);
    if (Date.now() > deadline) {
      proc.kill('SIGKILL');
      throw new Error(`haproxy did not listen on ${port} in time:\n${out}`);
    }
    await sleep(50);
  }
  return {
    host: HOST,
    port,
    proc,
    output: () => out,
    async stop() {
      if (proc.exitCode === null && proc.signalCode === null) {
        proc.kill('SIGTERM');
        const timer = setTimeout(() => proc.kill('SIGKILL'), 5_000);
        await exited;
        clearTimeout(timer);
      }
      live.delete(proc);
      await rm(dir, { recursive: true, force: true });
    },
  };
}
