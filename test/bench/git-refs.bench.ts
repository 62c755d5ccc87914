// How should the hub ask a remote for its commit on every poll? The system `git ls-remote`
// (what gitrepos/git.ts runs, as a process per poll) against reading the same ref
// advertisement in process over HTTP (what a Git library does for ls-remote), side by side
// in one run against one Git server on loopback (`git http-backend`, in a process of its own
// so that its cost is in neither figure). Figures: client CPU per poll (the git processes'
// for ls-remote, this process's for the in-process read) and wall time per poll.
import { execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { type Metric, quantile, report } from './lib.ts';

const run = promisify(execFile);
const polls = Number(process.env.OUTPOST_BENCH_GIT_POLLS ?? 300);
const ticks = 100; // USER_HZ on Linux

/** This process's reaped children's CPU (utime + stime), in ms. */
function childrenCpuMs(): number {
  const fields = readFileSync('/proc/self/stat', 'utf8').split(') ')[1]?.split(' ') ?? [];
  // After the ") ": field 3 is index 0, so cutime (16) and cstime (17) are 13 and 14.
  return ((Number(fields[13]) + Number(fields[14])) * 1000) / ticks;
}

/** The commit `ref` names in a smart-HTTP ref advertisement (pkt-lines, protocol v0). */
function refFrom(advertisement: Buffer, ref: string): string | undefined {
  let at = 0;
  while (at + 4 <= advertisement.length) {
    const len = Number.parseInt(advertisement.subarray(at, at + 4).toString('ascii'), 16);
    if (Number.isNaN(len)) return undefined;
    if (len === 0) {
      at += 4;
      continue;
    }
    const line = advertisement
      .subarray(at + 4, at + len)
      .toString('utf8')
      .replace(/\n$/, '');
    const [sha, rest] = line.split(' ');
    const name = rest?.split('\0')[0];
    if (name === ref && sha) return sha;
    at += len;
  }
  return undefined;
}

const dir = await mkdtemp(join(tmpdir(), 'outpost-bench-git-refs-'));
const home = join(dir, 'home');
await mkdir(home);
await mkdir(join(dir, 'repos'));
// The server, in a process of its own: its CPU is nobody's figure here.
const serverScript = `
  const m = await import(${JSON.stringify(join(import.meta.dirname, '../e2e/git-server.ts'))});
  const repo = await m.makeRepo(${JSON.stringify(join(dir, 'repos'))}, 'r', ${JSON.stringify(home)});
  const commit = await repo.commit('c', { 'a.yaml': 'apiVersion: v1\\nkind: ConfigMap\\nmetadata: {name: a}\\n' });
  const s = await m.startGitServer(${JSON.stringify(join(dir, 'repos'))}, ${JSON.stringify(home)});
  process.stdout.write(JSON.stringify({ url: s.url('r'), commit }) + '\\n');
  process.stdin.resume();
  process.stdin.on('end', () => process.exit(0));
`;
const server = spawn(process.execPath, ['--input-type=module', '-e', serverScript], {
  stdio: ['pipe', 'pipe', 'inherit'],
});
const watchdog = setTimeout(() => {
  process.stderr.write('git-refs benchmark: over 5 minutes, stopping\n');
  server.kill('SIGKILL');
  process.exit(1);
}, 300_000);
watchdog.unref();
try {
  const [line] = (await once(server.stdout, 'data')) as [Buffer];
  const { url, commit } = JSON.parse(line.toString()) as { url: string; commit: string };
  const env = {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    HOME: home,
    GIT_CONFIG_NOSYSTEM: '1',
    GIT_CONFIG_GLOBAL: '/dev/null',
    GIT_TERMINAL_PROMPT: '0',
  };

  // Warm both (the server's first answers, the page cache, the HTTP client).
  for (let i = 0; i < 5; i++) {
    await run('git', ['ls-remote', '--', url, 'refs/heads/main'], { env });
    await fetch(`${url}/info/refs?service=git-upload-pack`).then((r) => r.arrayBuffer());
  }

  const gitWall: number[] = [];
  const cpu0 = childrenCpuMs();
  const spawner0 = process.cpuUsage();
  for (let i = 0; i < polls; i++) {
    const t = performance.now();
    const { stdout } = await run('git', ['ls-remote', '--', url, 'refs/heads/main'], { env });
    gitWall.push(performance.now() - t);
    if (!stdout.startsWith(commit)) throw new Error(`ls-remote answered ${stdout}`);
  }
  const gitCpu = (childrenCpuMs() - cpu0) / polls;
  const spawner = process.cpuUsage(spawner0);
  const spawnCpu = (spawner.user + spawner.system) / 1000 / polls;

  const httpWall: number[] = [];
  const self0 = process.cpuUsage();
  for (let i = 0; i < polls; i++) {
    const t = performance.now();
    const res = await fetch(`${url}/info/refs?service=git-upload-pack`);
    const sha = refFrom(Buffer.from(await res.arrayBuffer()), 'refs/heads/main');
    httpWall.push(performance.now() - t);
    if (sha !== commit) throw new Error(`the advertisement named ${sha}`);
  }
  const used = process.cpuUsage(self0);
  const httpCpu = (used.user + used.system) / 1000 / polls;

  const metrics: Record<string, Metric> = {
    ls_remote_cpu_ms: { value: gitCpu, unit: 'ms of CPU per poll (git ls-remote and its git-remote-http)' },
    ls_remote_spawner_cpu_ms: {
      value: spawnCpu,
      unit: 'ms of CPU per poll in the process that spawns git (fork, pipes; this process is small, the hub larger)',
    },
    ls_remote_wall_p50_ms: { value: quantile(gitWall, 0.5), unit: 'ms' },
    ls_remote_wall_p99_ms: { value: quantile(gitWall, 0.99), unit: 'ms' },
    in_process_cpu_ms: { value: httpCpu, unit: 'ms of CPU per poll (this process: HTTP request, pkt-line read)' },
    in_process_wall_p50_ms: { value: quantile(httpWall, 0.5), unit: 'ms' },
    in_process_wall_p99_ms: { value: quantile(httpWall, 0.99), unit: 'ms' },
    cpu_ratio: {
      value: (gitCpu + spawnCpu) / httpCpu,
      unit: 'git ls-remote CPU (git and spawner) / in-process CPU, same run',
    },
  };
  report('git-refs', metrics, { polls, server: 'git http-backend behind the e2e bridge, its own process' });
} finally {
  server.stdin?.end();
  server.kill();
  await rm(dir, { recursive: true, force: true });
}
