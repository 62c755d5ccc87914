// The agent state in a local directory, for agents without a cluster of their own to keep
// it in (`--credentials-dir`). Same documents and parts as the Secret store:
//
//   <dir>/index.json.gz     the index (commit point)        directory 0700, files 0600
//   <dir>/outbox.json.gz    the status outbox
//   <dir>/parts/<name>      one blob each (files need no splitting); also temp files
//   <dir>/.lock             held while a document is compared and replaced
//
// Every file is written to a temp file, fsynced, renamed into place, and its directory
// fsynced, so a crash leaves the old file or the new one. A document is replaced only if
// it still has the checksum its writer read (compare-and-swap under the lock), which gives
// two processes on one directory the same optimistic concurrency a Secret's
// resourceVersion gives two replicas.
import { randomBytes } from 'node:crypto';
import { chmod, mkdir, open, readdir, readFile, rename, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { syncDir } from '../fsync.ts';
import type { BackendView, DocName, PartInfo, StateBackend, StoredDoc, WriteResult } from './backend.ts';
import { inParallel } from './blobs.ts';
import { StateError } from './errors.ts';
import { stateDurations, stateLimits } from './limits.ts';
import { type Part, sha256Hex } from './model.ts';
import { DurableStateStore, type StateStoreOptions } from './store.ts';

const docFiles: Record<DocName, string> = { index: 'index.json.gz', outbox: 'outbox.json.gz' };
const partsDir = 'parts';
const lockFile = '.lock';
const transientCodes = new Set(['ENOSPC', 'EBUSY', 'EAGAIN', 'EMFILE', 'ENFILE', 'EINTR']);

const errno = (err: unknown): string | undefined => (err as NodeJS.ErrnoException).code;

async function readOrUndefined(path: string): Promise<Buffer | undefined> {
  try {
    return await readFile(path);
  } catch (err) {
    if (errno(err) === 'ENOENT') return undefined;
    throw err;
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return errno(err) === 'EPERM';
  }
}

export class FileStateBackend implements StateBackend {
  readonly dir: string;
  readonly description: string;
  /** Files have no object size limit: documents never spill, blobs are one file each. */
  readonly docBytes = Number.POSITIVE_INFINITY;
  readonly partBytes = Number.POSITIVE_INFINITY;
  #ready: Promise<void> | undefined;

  constructor(dir: string) {
    this.dir = dir;
    this.description = `directory ${dir}`;
  }

  #failed(action: string, err: unknown): StateError {
    if (err instanceof StateError) return err;
    return new StateError(
      'AGENT_STATE_STORE_FAILED',
      `cannot ${action} in ${this.description}: ${(err as Error).message}`,
      {
        transient: transientCodes.has(errno(err) ?? ''),
        cause: err,
      },
    );
  }

  #ensureDirs(): Promise<void> {
    this.#ready ??= (async () => {
      await mkdir(join(this.dir, partsDir), { recursive: true, mode: 0o700 });
      // mkdir leaves existing directories' modes alone; desired works may hold Secrets.
      await chmod(this.dir, 0o700);
      await chmod(join(this.dir, partsDir), 0o700);
    })().catch((err) => {
      this.#ready = undefined;
      throw err;
    });
    return this.#ready;
  }

  /** Writes `bytes` at `path` atomically: temp file, fsync, rename; the caller fsyncs the directory. */
  async #writeFile(path: string, bytes: Buffer): Promise<void> {
    const tmp = join(this.dir, partsDir, `.tmp-${randomBytes(6).toString('hex')}`);
    const fh = await open(tmp, 'wx', 0o600);
    try {
      await fh.writeFile(bytes);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, path);
  }

  async #lock(): Promise<() => Promise<void>> {
    const path = join(this.dir, lockFile);
    const deadline = Date.now() + stateDurations.fileLockWaitMs;
    for (let wait = 1; ; wait = Math.min(wait * 2, 50)) {
      try {
        const fh = await open(path, 'wx', 0o600);
        try {
          await fh.writeFile(`${process.pid}\n`);
        } finally {
          await fh.close();
        }
        return () => unlink(path).catch(() => {});
      } catch (err) {
        if (errno(err) !== 'EEXIST') throw err;
      }
      // Held: by a live writer (wait), or left by a crashed one (take it over).
      const info = await stat(path).catch(() => undefined);
      const pid = Number.parseInt((await readOrUndefined(path))?.toString() ?? '', 10);
      const dead = Number.isInteger(pid) && pid !== process.pid && !alive(pid);
      if (info && (dead || Date.now() - info.mtimeMs > stateDurations.fileLockStaleMs)) {
        await unlink(path).catch(() => {});
        continue;
      }
      if (Date.now() > deadline) {
        throw new StateError('AGENT_STATE_STORE_FAILED', `${path} stayed locked (by process ${pid})`, {
          transient: true,
        });
      }
      await sleep(wait);
    }
  }

  async view(): Promise<BackendView> {
    try {
      const index = await this.readDoc('index');
      const outbox = await this.readDoc('outbox');
      const parts: PartInfo[] = [];
      const names = await readdir(join(this.dir, partsDir)).catch((err) => {
        if (errno(err) === 'ENOENT') return [] as string[];
        throw err;
      });
      for (const name of names) {
        const info = await stat(join(this.dir, partsDir, name)).catch(() => undefined);
        if (info) parts.push({ name, createdAt: info.mtimeMs });
      }
      return {
        index,
        outbox,
        parts,
        readPart: async (name) => (await this.readParts([name]))[0],
      };
    } catch (err) {
      throw this.#failed('read the agent state', err);
    }
  }

  async readDoc(name: DocName): Promise<StoredDoc | undefined> {
    try {
      const bytes = await readOrUndefined(join(this.dir, docFiles[name]));
      return bytes ? { bytes, version: sha256Hex(bytes) } : undefined;
    } catch (err) {
      throw this.#failed(`read ${docFiles[name]}`, err);
    }
  }

  async writeDoc(name: DocName, bytes: Buffer, version: string | undefined): Promise<WriteResult> {
    try {
      await this.#ensureDirs();
      const release = await this.#lock();
      try {
        const path = join(this.dir, docFiles[name]);
        const current = await readOrUndefined(path);
        if ((current ? sha256Hex(current) : undefined) !== version) return { ok: false };
        await this.#writeFile(path, bytes);
        await syncDir(this.dir);
        return { ok: true, version: sha256Hex(bytes) };
      } finally {
        await release();
      }
    } catch (err) {
      throw this.#failed(`write ${docFiles[name]}`, err);
    }
  }

  async writeParts(parts: Part[]): Promise<void> {
    try {
      await this.#ensureDirs();
      await inParallel(parts, stateLimits.parallelRequests, (p) =>
        this.#writeFile(join(this.dir, partsDir, p.name), p.data),
      );
      // The parts' names must be durable before an index that names them is.
      await syncDir(join(this.dir, partsDir));
    } catch (err) {
      throw this.#failed('write state parts', err);
    }
  }

  async readParts(names: string[]): Promise<(Buffer | undefined)[]> {
    try {
      return await Promise.all(names.map((n) => readOrUndefined(join(this.dir, partsDir, n))));
    } catch (err) {
      throw this.#failed('read state parts', err);
    }
  }

  async deleteParts(names: string[]): Promise<void> {
    try {
      await inParallel(names, stateLimits.parallelRequests, async (n) => {
        await unlink(join(this.dir, partsDir, n)).catch((err) => {
          if (errno(err) !== 'ENOENT') throw err;
        });
      });
    } catch (err) {
      throw this.#failed('delete state parts', err);
    }
  }
}

/** The agent state in files under `dir`. */
export class FileStateStore extends DurableStateStore {
  readonly backend: FileStateBackend;

  constructor(dir: string, options: StateStoreOptions = {}) {
    const backend = new FileStateBackend(dir);
    super(backend, options);
    this.backend = backend;
  }
}
