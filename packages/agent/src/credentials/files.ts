// Credentials as files in a directory, replaced as a whole set the way kubelet updates a
// Secret volume (its AtomicWriter): every version is written into a fresh hidden directory,
// a `..data` symlink is switched to it with one rename, and the visible names (`tls.key`,
// …) are symlinks through `..data`. A crash at any point leaves either the old set or the
// new one, never a new key beside an old certificate. Directories are 0700, files 0600.
import { randomBytes } from 'node:crypto';
import {
  chmod,
  lstat,
  mkdir,
  open,
  readdir,
  readFile,
  readlink,
  rename,
  rm,
  stat,
  symlink,
  unlink,
} from 'node:fs/promises';
import { join } from 'node:path';
import { AgentError } from '../errors.ts';
import { syncDir } from '../fsync.ts';
import type { Entries, EntryStore } from './index.ts';

const dataLink = '..data';
const entryName = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

function storeFailed(dir: string, err: unknown): AgentError {
  return new AgentError(
    'AGENT_CREDENTIALS_STORE_FAILED',
    `cannot use the credentials directory ${dir}: ${(err as Error).message}`,
    { cause: err },
  );
}

async function writeSynced(path: string, text: string, mode: number): Promise<void> {
  const fh = await open(path, 'wx', mode);
  try {
    await fh.writeFile(text);
    await fh.sync();
  } finally {
    await fh.close();
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await lstat(path);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw err;
  }
}

export class FileEntryStore implements EntryStore {
  readonly dir: string;
  readonly description: string;

  constructor(dir: string) {
    this.dir = dir;
    this.description = `directory ${dir}`;
  }

  async load(): Promise<Entries | undefined> {
    try {
      // `..data` is the authoritative set; plain files are read only when someone placed
      // them by hand (no `..data` yet).
      const data = join(this.dir, dataLink);
      const fromData = await exists(data);
      const base = fromData ? data : this.dir;
      const out: Entries = {};
      for (const name of await readdir(base)) {
        if (name.startsWith('.')) continue;
        const path = join(base, name);
        const info = await stat(path).catch((err: NodeJS.ErrnoException) => {
          if (err.code === 'ENOENT') return undefined; // a dangling link
          throw err;
        });
        if (!info?.isFile()) continue;
        out[name] = await readFile(path, 'utf8');
      }
      return Object.keys(out).length ? out : undefined;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw storeFailed(this.dir, err);
    }
  }

  async save(entries: Entries): Promise<void> {
    for (const name of Object.keys(entries)) {
      if (!entryName.test(name)) throw new Error(`invalid credential entry name ${JSON.stringify(name)}`);
    }
    try {
      await mkdir(this.dir, { recursive: true, mode: 0o700 });
      // mkdir leaves an existing directory's mode alone; the key must not be readable by others.
      await chmod(this.dir, 0o700);
      const stamp = new Date().toISOString().replace(/[-:.]/g, '');
      const version = `..${stamp}.${randomBytes(4).toString('hex')}`;
      const versionDir = join(this.dir, version);
      await mkdir(versionDir, { mode: 0o700 });
      for (const [name, text] of Object.entries(entries)) await writeSynced(join(versionDir, name), text, 0o600);
      await syncDir(versionDir);

      // The switch: a new symlink renamed over `..data` (rename is atomic on POSIX).
      const tmpLink = join(this.dir, `..data_tmp.${randomBytes(4).toString('hex')}`);
      await symlink(version, tmpLink);
      await rename(tmpLink, join(this.dir, dataLink));

      // Visible names: symlinks through `..data`, created once; stale names removed.
      const wanted = new Set(Object.keys(entries));
      for (const name of wanted) {
        const path = join(this.dir, name);
        const target = `${dataLink}/${name}`;
        const current = await readlink(path).catch(() => undefined);
        if (current === target) continue;
        const tmp = join(this.dir, `.${name}.${randomBytes(4).toString('hex')}`);
        await symlink(target, tmp);
        await rename(tmp, path);
      }
      for (const name of await readdir(this.dir)) {
        if (name.startsWith('.') || wanted.has(name)) continue;
        const link = await readlink(join(this.dir, name)).catch(() => undefined);
        if (link?.startsWith(`${dataLink}/`)) await unlink(join(this.dir, name));
      }
      await syncDir(this.dir);

      // Old versions (and leftovers of an interrupted save) go last, after the switch.
      for (const name of await readdir(this.dir)) {
        if (name === version || name === dataLink || !name.startsWith('..')) continue;
        await rm(join(this.dir, name), { recursive: true, force: true });
      }
    } catch (err) {
      if (err instanceof AgentError) throw err;
      throw storeFailed(this.dir, err);
    }
  }
}
