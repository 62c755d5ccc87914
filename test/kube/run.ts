// Running the tools tests drive (kubectl, helm) and reading the Kubernetes client's answers.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';

export interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `file` with `args`, feeding `input` on stdin; resolves with its exit and output. */
export function run(file: string, args: readonly string[], input?: string): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (c: string) => {
      stdout += c;
    });
    child.stderr.setEncoding('utf8').on('data', (c: string) => {
      stderr += c;
    });
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(input ?? '');
  });
}

/** Like `run`, but the command must exit 0; returns its stdout. */
export async function runOk(file: string, args: readonly string[], input?: string): Promise<string> {
  const r = await run(file, args, input);
  assert.equal(r.code, 0, `${file} ${args.join(' ')} failed:\n${r.stderr}${r.stdout}`);
  return r.stdout;
}

/** What `read` returns, or undefined when the Kubernetes client answered 404 (it carries the status as `code`). */
export async function orUndefined<T>(read: () => Promise<T>): Promise<T | undefined> {
  try {
    return await read();
  } catch (err) {
    if ((err as { code?: number }).code === 404) return undefined;
    throw err;
  }
}
