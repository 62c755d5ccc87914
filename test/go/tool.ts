// A binary built from Go modules by a build.sh beside its test/ folder (test/helm,
// test/prometheus; test/kube's several binaries use runBuildScript) and cached outside the clone: from `$ENV_DIR` when set (scripts/test
// exports it), else from the build script, which builds only when its cache is empty.
import { spawn } from 'node:child_process';
import { constants } from 'node:fs';
import { access } from 'node:fs/promises';
import { join } from 'node:path';

/**
 * The function that gives the path of `name`, built by `<folder>/build.sh`; its bin dir
 * may come from the environment variable `envDir`. Once per process; a failure (a transient
 * proxy error) lets a later call try again.
 */
export function goTool(folder: string, name: string, envDir: string): () => Promise<string> {
  let found: Promise<string> | undefined;
  const what = `test/${folder.split('/').at(-1)}`;
  const locate = async () => {
    const dir = process.env[envDir] || (await runBuildScript(join(folder, 'build.sh'), what));
    const path = join(dir, name);
    await access(path, constants.X_OK).catch(() => {
      throw new Error(`${what}: ${path} is missing or not executable`);
    });
    return path;
  };
  return () => {
    found ??= locate().catch((err: unknown) => {
      found = undefined;
      throw err;
    });
    return found;
  };
}

/** Runs a build.sh that prints its bin dir last on stdout (progress on stderr); the dir. */
export function runBuildScript(script: string, what: string): Promise<string> {
  return new Promise((resolve, reject) => {
    // stderr carries build progress, which is worth seeing during a cold build.
    const child = spawn('bash', [script], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      out += chunk;
    });
    child.once('error', reject);
    child.once('close', (code, signal) => {
      const dir = out.trim().split('\n').at(-1);
      if (code === 0 && dir) resolve(dir);
      else reject(new Error(`${what}/build.sh failed (${signal ?? `exit code ${code}`})`));
    });
  });
}
