// The hub's external commands run from a helper process (helper.ts) instead of the hub's
// main thread: `child_process.spawn` forks the process that calls it, and a fork of the hub
// (hundreds of MiB) blocked its event loop for 6–8 ms per command at p50 and up to hundreds
// of ms at worst, with a `git ls-remote` for every poll of every GitRepo. The helper, a
// small process, forks in a fraction of a millisecond on its own thread; the hub only sends
// it a message and takes the result.
//
// One helper per CommandRunner, started on first use, as the same user with nothing but
// `node` and the helper's file (no flags of the hub's, an empty environment: each command's
// environment travels in its message, never on a command line). It holds the hub open only
// while a command runs. If it dies, the commands it was running fail with a RunnerError
// (and their process groups are killed from here); the next command starts a new one.
// close() kills the running commands and the helper.
import { type ChildProcess, fork } from 'node:child_process';
import type { DoneMessage, FromHelper, RunMessage, ToHelper } from './protocol.ts';

/** How a command ended; its output as Buffers (views of what the helper sent, not copies). */
export type CommandResult = Omit<DoneMessage, 'type' | 'id' | 'stdout' | 'stderr'> & { stdout: Buffer; stderr: Buffer };

const view = (b: Uint8Array) => Buffer.from(b.buffer, b.byteOffset, b.byteLength);

export interface CommandSpec {
  file: string;
  args: string[];
  cwd?: string | undefined;
  env: Record<string, string>;
  timeoutMs: number;
  maxStdout: number;
  overflow: 'kill' | 'drain';
  maxStderr: number;
  /** Aborted: the command's process group is killed at once (its result says killed: 'kill'). */
  signal?: AbortSignal | undefined;
}

/** The helper stopped (or could not start) before the command ended. */
export class RunnerError extends Error {
  readonly code = 'COMMAND_RUNNER_STOPPED';
}

interface Pending {
  resolve: (r: CommandResult) => void;
  reject: (e: Error) => void;
  pid?: number;
}

const helperFile = new URL('./helper.ts', import.meta.url);

export class CommandRunner {
  #helper: ChildProcess | undefined;
  #next = 1;
  readonly #pending = new Map<number, Pending>();

  /** The helper's pid, while one runs (for tests). */
  get helperPid(): number | undefined {
    return this.#helper?.pid;
  }

  #start(): ChildProcess {
    const helper = fork(helperFile, [], {
      execArgv: [],
      env: {},
      // Its output goes nowhere: it writes nothing, and what Node would say about a crash
      // could hold a command's arguments.
      stdio: ['ignore', 'ignore', 'ignore', 'ipc'],
      serialization: 'advanced',
    });
    helper.on('message', (m: FromHelper) => {
      const p = this.#pending.get(m.id);
      if (!p) return;
      if (m.type === 'started') {
        p.pid = m.pid;
        return;
      }
      this.#pending.delete(m.id);
      this.#idle();
      const { type: _t, id: _i, stdout, stderr, ...rest } = m;
      p.resolve({ ...rest, stdout: view(stdout), stderr: view(stderr) });
    });
    const gone = (why: string) => {
      if (this.#helper !== helper) return;
      this.#helper = undefined;
      for (const [id, p] of this.#pending) {
        this.#pending.delete(id);
        // Its command may still run in its own process group: it goes too.
        if (p.pid) killGroup(p.pid);
        p.reject(new RunnerError(`the command helper stopped (${why})`));
      }
    };
    helper.on('exit', (code, signal) => gone(signal ? `signal ${signal}` : `exit ${code}`));
    helper.on('error', (err) => gone(err.message));
    this.#helper = helper;
    return helper;
  }

  /** Holds the hub open while commands run, not when idle. */
  #idle(): void {
    const h = this.#helper;
    if (!h) return;
    if (this.#pending.size === 0) {
      h.unref();
      h.channel?.unref();
    } else {
      h.ref();
      h.channel?.ref();
    }
  }

  #send(helper: ChildProcess, m: ToHelper): void {
    try {
      helper.send(m, (err) => {
        if (err && this.#helper === helper) helper.kill('SIGKILL');
      });
    } catch {
      // The channel closed: the exit handler fails what is pending.
      helper.kill('SIGKILL');
    }
  }

  /** Runs a command in the helper; resolves with how it ended, rejects with a RunnerError. */
  run(spec: CommandSpec): Promise<CommandResult> {
    const helper = this.#helper ?? this.#start();
    const id = this.#next++;
    const { signal, ...rest } = spec;
    const message: RunMessage = { type: 'run', id, ...rest, cwd: spec.cwd };
    return new Promise<CommandResult>((resolve, reject) => {
      const abort = () => {
        if (this.#pending.has(id) && this.#helper === helper) this.#send(helper, { type: 'kill', id });
      };
      this.#pending.set(id, {
        resolve: (r) => {
          signal?.removeEventListener('abort', abort);
          resolve(r);
        },
        reject: (e) => {
          signal?.removeEventListener('abort', abort);
          reject(e);
        },
      });
      this.#idle();
      this.#send(helper, message);
      if (signal?.aborted) abort();
      else signal?.addEventListener('abort', abort, { once: true });
    });
  }

  /** Kills the running commands and the helper. */
  async close(): Promise<void> {
    const h = this.#helper;
    if (!h) return;
    const exited = new Promise<void>((resolve) => {
      if (h.exitCode !== null || h.signalCode !== null) resolve();
      else h.once('exit', () => resolve());
    });
    // The helper kills its commands' groups when its channel closes, and exits.
    for (const p of this.#pending.values()) if (p.pid) killGroup(p.pid);
    if (h.connected) h.disconnect();
    const late = setTimeout(() => h.kill('SIGKILL'), 2_000);
    await exited;
    clearTimeout(late);
  }
}

function killGroup(pid: number): void {
  try {
    process.kill(-pid, 'SIGKILL');
  } catch {}
}

/** The runner of commands run without one of their own (tests, tools outside a controller). */
export const sharedRunner = new CommandRunner();
