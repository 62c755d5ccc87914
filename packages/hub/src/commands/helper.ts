// The command helper: a small Node process the hub starts (runner.ts) to run its external
// commands (git, kustomize, helm). A spawn forks the process that makes it, and a fork's cost
// grows with the process's memory: the hub (hundreds of MiB) would block its event loop for
// milliseconds per spawn, this helper (a few tens of MiB) for a fraction of one. It runs what
// it is told, as the hub did: no shell, a process group of its own per command, exactly the
// environment given, bounded output, SIGKILL of the group at the timeout or when asked. It
// writes nothing anywhere (the environments it is given hold credentials) and exits when the
// hub goes (its IPC channel closes), killing what still runs.
import { type ChildProcess, spawn } from 'node:child_process';
import type { DoneMessage, FromHelper, KillReason, RunMessage, ToHelper } from './protocol.ts';

interface Running {
  child: ChildProcess;
  kill: (why: KillReason) => void;
}

const running = new Map<number, Running>();

const send = (m: FromHelper) => {
  if (process.connected) process.send?.(m);
};

function run(m: RunMessage): void {
  let child: ChildProcess;
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  let outBytes = 0;
  let errBytes = 0;
  let kept = 0;
  let killed: KillReason | undefined;
  let finished = false;
  const finish = (code: number | null, signal: string | null, error: DoneMessage['error']) => {
    if (finished) return;
    finished = true;
    clearTimeout(timer);
    running.delete(m.id);
    send({
      type: 'done',
      id: m.id,
      code,
      signal,
      stdout: Buffer.concat(out),
      stderr: Buffer.concat(err),
      outBytes,
      errBytes,
      killed,
      error,
    });
  };
  const killGroup = (why: KillReason) => {
    killed ??= why;
    try {
      if (child.pid) process.kill(-child.pid, 'SIGKILL');
    } catch {
      child.kill('SIGKILL');
    }
  };
  const timer = setTimeout(() => killGroup('timeout'), m.timeoutMs);
  try {
    child = spawn(m.file, m.args, {
      cwd: m.cwd,
      shell: false,
      // A process group of its own: on timeout the command and its helpers (git-remote-http,
      // an ssh, a pack process) are killed together, and nothing holds its pipes open after.
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: m.env,
    });
  } catch (e) {
    // Arguments Node refuses (a NUL byte): no process.
    const x = e as NodeJS.ErrnoException;
    finish(null, null, { code: x.code, message: x.message });
    return;
  }
  running.set(m.id, { child, kill: killGroup });
  if (child.pid) send({ type: 'started', id: m.id, pid: child.pid });
  child.stdout?.on('data', (b: Buffer) => {
    outBytes += b.length;
    if (m.overflow === 'kill') {
      if (outBytes > m.maxStdout) killGroup('overflow');
      else out.push(b);
    } else if (kept < m.maxStdout) {
      out.push(b);
      kept += b.length;
    }
  });
  child.stderr?.on('data', (b: Buffer) => {
    if (errBytes < m.maxStderr) err.push(b);
    errBytes += b.length;
  });
  child.on('error', (e: NodeJS.ErrnoException) => {
    // A spawn that failed (no such program) never closes; a failed kill is no end.
    if (!child.pid) finish(null, null, { code: e.code, message: e.message });
  });
  child.on('close', (code, signal) => finish(code, signal, undefined));
}

/** Kills every running command's group and exits: the hub has gone or asks the helper to stop. */
function stop(): void {
  for (const r of running.values()) r.kill('kill');
  process.exit(0);
}

process.on('message', (m: ToHelper) => {
  if (m.type === 'run') run(m);
  else if (m.type === 'kill') running.get(m.id)?.kill('kill');
});
process.on('disconnect', stop);
process.on('SIGTERM', stop);
// A terminal's ^C reaches the hub's whole process group: the hub stops its commands itself.
process.on('SIGINT', () => {});
