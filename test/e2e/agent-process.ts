// Runs the real `outpost-agent` binary (packages/agent/main.mjs) for end-to-end tests:
// one-shot commands (`join`) that resolve with exit code and output, and long-running ones
// (`run`) with bounded waits on their output and a stop that always cleans up.
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import { repoRoot } from './hub-process.ts';

export const agentMain = join(repoRoot, 'packages/agent/main.mjs');

export interface AgentResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface AgentProcess {
  proc: ChildProcess;
  stdout(): string;
  stderr(): string;
  /** Resolves once `pattern` appears in stdout or stderr; rejects on timeout or exit first. */
  waitForOutput(pattern: RegExp, timeoutMs?: number): Promise<RegExpExecArray>;
  /** Resolves with the exit; kills with SIGKILL after `timeoutMs`. */
  exited(timeoutMs?: number): Promise<AgentResult>;
  /** Sends `signal` (SIGTERM) and resolves with the exit. */
  stop(signal?: NodeJS.Signals): Promise<AgentResult>;
  /** `run`: the URL of its local listener (/healthz, /readyz, /metrics, /status), once printed. */
  listenerUrl(timeoutMs?: number): Promise<string>;
}

const live = new Set<ChildProcess>();
process.on('exit', () => {
  for (const p of live) p.kill('SIGKILL');
});

/** Environment without the caller's OUTPOST_* and KUBERNETES_* so the flags alone decide. */
function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (!k.startsWith('OUTPOST_') && !k.startsWith('KUBERNETES_')) env[k] = v;
  }
  return { ...env, ...extra };
}

export function startAgent(
  args: string[],
  opts: { env?: Record<string, string>; defaultListen?: boolean } = {},
): AgentProcess {
  // Several agents run side by side in one test: each `run` listens on a port of its own,
  // unless the test says where (or asks for the agent's default address).
  const listen =
    args[0] === 'run' && !opts.defaultListen && !args.some((a) => a === '--listen' || a.startsWith('--listen='));
  const proc = spawn(process.execPath, [agentMain, ...args, ...(listen ? ['--listen', '127.0.0.1:0'] : [])], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: cleanEnv(opts.env),
  });
  live.add(proc);
  let out = '';
  let err = '';
  proc.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  proc.stderr?.on('data', (d: Buffer) => (err += d.toString()));
  const exit = once(proc, 'exit').then(([code, signal]) => {
    live.delete(proc);
    return { code: code as number | null, signal: signal as NodeJS.Signals | null, stdout: out, stderr: err };
  });

  const self: AgentProcess = {
    proc,
    stdout: () => out,
    stderr: () => err,
    async waitForOutput(pattern, timeoutMs = 20_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const m = pattern.exec(out) ?? pattern.exec(err);
        if (m) return m;
        if (proc.exitCode !== null || proc.signalCode !== null) {
          throw new Error(
            `agent exited (${proc.exitCode ?? proc.signalCode}) before printing ${pattern}:\n${out}\n${err}`,
          );
        }
        if (Date.now() > deadline)
          throw new Error(`agent did not print ${pattern} in ${timeoutMs} ms:\n${out}\n${err}`);
        await new Promise((r) => setTimeout(r, 25));
      }
    },
    async exited(timeoutMs = 60_000) {
      const timer = setTimeout(() => proc.kill('SIGKILL'), timeoutMs);
      try {
        return await exit;
      } finally {
        clearTimeout(timer);
      }
    },
    async listenerUrl(timeoutMs = 20_000) {
      return (await self.waitForOutput(/listening on (http:\/\/\S+)/, timeoutMs))[1] as string;
    },
    async stop(signal = 'SIGTERM') {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill(signal);
      return self.exited(15_000);
    },
  };
  return self;
}

/** Runs one agent command to its end. */
export function runAgent(args: string[], opts: { env?: Record<string, string>; timeoutMs?: number } = {}) {
  return startAgent(args, opts).exited(opts.timeoutMs ?? 60_000);
}

/**
 * Joins cluster `name` to `hub` with a fresh auto-approving token, keeping the credentials
 * in a Secret of the cluster behind `kubeconfig` (the agent then delivers work there).
 */
export async function joinSpoke(
  hub: { url: string; caHash: string },
  admin: { post<T>(path: string, json?: unknown): Promise<{ body: T }> },
  name: string,
  kubeconfig: string,
  extra: string[] = [],
): Promise<void> {
  const tok = await admin.post<{ status: { token: string } }>('/api/v1/bootstraptokens', {
    spec: { autoApprove: true },
  });
  const joined = await runAgent([
    'join',
    '--hub',
    hub.url,
    '--token',
    tok.body.status.token,
    '--ca-cert-hash',
    hub.caHash,
    '--cluster-name',
    name,
    '--kubeconfig',
    kubeconfig,
    ...extra,
  ]);
  if (joined.code !== 0) throw new Error(`join of ${name} failed (${joined.code}):\n${joined.stderr}`);
}

/** `outpost-agent run` for a joined spoke, with short polls and heartbeats for tests. */
export function spokeRunArgs(kubeconfig: string, resyncInterval: string): string[] {
  return [
    'run',
    '--kubeconfig',
    kubeconfig,
    '--poll-wait',
    '5s',
    '--resync-interval',
    resyncInterval,
    '--heartbeat-interval',
    '5s',
  ];
}
