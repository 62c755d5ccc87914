// The data directory holds the CA key, the admin token and the database (every work,
// Secrets included): it must be private to the hub's user whatever existed before. New
// files are private through the process umask (SQLite creates its -wal and -shm files
// later, with the umask's mode); what is there already is chmod-ed, and a directory the
// hub cannot make private stops it with HUB_DATA_DIR_INSECURE.
import { chmodSync, lstatSync, mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { OutpostError } from '@outpost/shared';

export class DataDirError extends OutpostError {
  constructor(message: string) {
    super('HUB_DATA_DIR_INSECURE', message, 2);
    this.name = 'DataDirError';
  }
}

const dirMode = 0o700;
const fileMode = 0o600;

function makePrivate(path: string, mode: number): void {
  try {
    chmodSync(path, mode);
  } catch (err) {
    throw new DataDirError(
      `cannot make ${path} private (mode ${mode.toString(8)}): ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}; fix its owner or permissions`,
    );
  }
  const actual = lstatSync(path).mode & 0o777;
  if (actual !== mode) {
    throw new DataDirError(`${path} has mode ${actual.toString(8)} after chmod ${mode.toString(8)}; refusing to start`);
  }
}

function walk(dir: string): void {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isSymbolicLink())
      throw new DataDirError(`${path} is a symbolic link; the data directory must hold plain files`);
    if (entry.isDirectory()) {
      makePrivate(path, dirMode);
      walk(path);
    } else makePrivate(path, fileMode);
  }
}

/** Creates `dir` (0700) or makes an existing one and everything in it private (0700/0600). */
export function ensurePrivateDataDir(dir: string): void {
  process.umask(0o077);
  mkdirSync(dir, { recursive: true, mode: dirMode });
  makePrivate(dir, dirMode);
  walk(dir);
}
