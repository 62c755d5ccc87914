// The messages between the hub and its command helper (helper.ts), over the child's IPC
// channel with Node's "advanced" serialization (structured clone: output bytes travel as
// Uint8Array, not as JSON text).

/** hub → helper: run a command. */
export interface RunMessage {
  type: 'run';
  id: number;
  file: string;
  args: string[];
  cwd: string | undefined;
  /** The command's whole environment (it inherits nothing of the helper's or the hub's). */
  env: Record<string, string>;
  timeoutMs: number;
  /** Bytes of standard output kept. */
  maxStdout: number;
  /** 'kill': more output than maxStdout kills the command; 'drain': the rest is read and dropped. */
  overflow: 'kill' | 'drain';
  /** Bytes of error output kept. */
  maxStderr: number;
}

/** hub → helper: kill a running command's process group (the hub is stopping). */
export interface KillMessage {
  type: 'kill';
  id: number;
}

export type ToHelper = RunMessage | KillMessage;

/** helper → hub: the command runs, as process group `pid` (killed by the hub if the helper dies). */
export interface StartedMessage {
  type: 'started';
  id: number;
  pid: number;
}

/** Why the helper killed a command's process group, the first reason only. */
export type KillReason = 'timeout' | 'overflow' | 'kill';

/** helper → hub: the command ended (or never started: `error`). */
export interface DoneMessage {
  type: 'done';
  id: number;
  code: number | null;
  signal: string | null;
  stdout: Uint8Array;
  stderr: Uint8Array;
  /** All the bytes written, kept or not. */
  outBytes: number;
  errBytes: number;
  killed: KillReason | undefined;
  /** The spawn failed (ENOENT: no such program). */
  error: { code: string | undefined; message: string } | undefined;
}

export type FromHelper = StartedMessage | DoneMessage;
