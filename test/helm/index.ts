// test/helm: the helm binary for chart tests, built from Go modules by build.sh and cached
// outside the clone. ensureHelm() gives its path.

import { spawn } from 'node:child_process';
import { constants } from 'node:fs';
import { access } from 'node:fs/promises';
import { join } from 'node:path';

let helm: Promise<string> | undefined;

/**
 * The helm binary: from `$OUTPOST_HELM_BIN_DIR` when set, else from build.sh (cached, so
 * only the first run of a machine compiles). Once per process.
 */
export function ensureHelm(): Promise<string> {
  helm ??= locateHelm().catch((err: unknown) => {
    helm = undefined; // let a later call retry, e.g. after a transient proxy failure
    throw err;
  });
  return helm;
}

async function locateHelm(): Promise<string> {
  const dir = process.env.OUTPOST_HELM_BIN_DIR || (await runBuildScript());
  const path = join(dir, 'helm');
  await access(path, constants.X_OK).catch(() => {
    throw new Error(`test/helm: ${path} is missing or not executable`);
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
      else reject(new Error(`test/helm/build.sh failed (${signal ?? `exit code ${code}`})`));
    });
  });
}
