// test/prometheus: the promtool binary for the tests of deploy/monitoring, built from Go
// modules by build.sh and cached outside the clone. ensurePromtool() gives its path.

import { spawn } from 'node:child_process';
import { constants } from 'node:fs';
import { access } from 'node:fs/promises';
import { join } from 'node:path';

let promtoolPath: Promise<string> | undefined;

/**
 * The promtool binary: from `$OUTPOST_PROMTOOL_BIN_DIR` when set, else from build.sh (cached,
 * so only the first run of a machine compiles). Once per process.
 */
export function ensurePromtool(): Promise<string> {
  promtoolPath ??= locatePromtool().catch((err: unknown) => {
    promtoolPath = undefined; // let a later call retry, e.g. after a transient proxy failure
    throw err;
  });
  return promtoolPath;
}

async function locatePromtool(): Promise<string> {
  const dir = process.env.OUTPOST_PROMTOOL_BIN_DIR || (await runBuildScript());
  const path = join(dir, 'promtool');
  await access(path, constants.X_OK).catch(() => {
    throw new Error(`test/prometheus: ${path} is missing or not executable`);
  });
  return path;
}

function runBuildScript(): Promise<string> {
  return new Promise((resolve, reject) => {
    // stderr carries build progress, which is worth seeing during a cold build.
    const child = spawn('bash', [join(import.meta.dirname, 'build.sh')], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      out += chunk;
    });
    child.once('error', reject);
    child.once('close', (code, signal) => {
      const dir = out.trim().split('\n').at(-1);
      if (code === 0 && dir) resolve(dir);
      else reject(new Error(`test/prometheus/build.sh failed (${signal ?? `exit code ${code}`})`));
    });
  });
}
