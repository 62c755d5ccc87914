// The file state store in a temp directory: the shared contract, plus what only files have
// (modes, temp files, the lock) and a commit whose success was reported as a failure.
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readdir, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { StateBackend } from './backend.ts';
import { appliedObjects, configMapWork, report, type StoreHarness, smallWork, stateStoreContract } from './contract.ts';
import { FileStateBackend, FileStateStore } from './files.ts';
import { openStateStore } from './index.ts';
import { DurableStateStore } from './store.ts';

let root: string;
const figures: Record<string, string> = {};

before(async () => {
  root = await mkdtemp(join(tmpdir(), 'outpost-agent-state-'));
});
after(async () => {
  await rm(root, { recursive: true, force: true });
  console.log(
    `\nFile state store figures:\n${Object.entries(figures)
      .map(([k, v]) => `  ${k}: ${v}`)
      .join('\n')}`,
  );
});

const partsOf = async (dir: string) =>
  (await readdir(join(dir, 'parts')).catch(() => [] as string[])).filter((n) => !n.startsWith('.'));

stateStoreContract({
  name: 'file store',
  open: (loc, options) => new FileStateStore(join(root, loc), options),
  parts: (loc) => partsOf(join(root, loc)),
  outboxBytes: async (loc) => (await stat(join(root, loc, 'outbox.json.gz'))).size,
  splits: false,
  figures,
} satisfies StoreHarness);

const mode = async (p: string) => (await stat(p)).mode & 0o777;

describe('file store: what only files have', () => {
  test('directories 0700, files 0600 (also when the directory existed looser); no temp files left', async () => {
    const dir = join(root, 'modes');
    await mkdir(dir, { mode: 0o755 });
    const store = openStateStore({ kind: 'dir', dir });
    await store.load();
    await store.saveDesired({ hubEpoch: 'e', revision: 1, upsert: [configMapWork('w', 50, 4_000)], remove: [] });
    await store.outbox.append(report('w', true));
    assert.equal(await mode(dir), 0o700);
    assert.equal(await mode(join(dir, 'parts')), 0o700);
    assert.equal(await mode(join(dir, 'index.json.gz')), 0o600);
    assert.equal(await mode(join(dir, 'outbox.json.gz')), 0o600);
    const parts = await readdir(join(dir, 'parts'));
    assert.equal(parts.length, 1);
    assert.equal(await mode(join(dir, 'parts', parts[0] as string)), 0o600);
    assert.deepEqual((await readdir(dir)).sort(), ['index.json.gz', 'outbox.json.gz', 'parts']);
  });

  test('a temp file left by a crash mid-write is ignored, and deleted once old', async () => {
    const dir = join(root, 'tmp-left');
    const store = new FileStateStore(dir);
    await store.load();
    await store.saveDesired({ hubEpoch: 'e', revision: 1, upsert: [smallWork('a')], remove: [] });
    const tmp = join(dir, 'parts', '.tmp-deadbeef');
    await writeFile(tmp, 'half a part');
    assert.deepEqual([...(await new FileStateStore(dir).load()).works.keys()], ['a']);
    assert.ok((await readdir(join(dir, 'parts'))).includes('.tmp-deadbeef'), 'young: may be in flight');
    const old = new Date(Date.now() - 3_600_000);
    await utimes(tmp, old, old);
    await new FileStateStore(dir).load();
    assert.ok(!(await readdir(join(dir, 'parts'))).includes('.tmp-deadbeef'));
  });

  test('a lock left by a dead process is taken over; a live one is waited for', async () => {
    const dir = join(root, 'lock');
    const store = new FileStateStore(dir);
    await store.load();
    await store.outbox.append(report('a', true));
    // A pid that cannot exist (above pid_max) stands for a crashed writer.
    await writeFile(join(dir, '.lock'), '4194305\n');
    await store.outbox.append(report('b', true));
    // Held by a live process (ours, fresh): the append waits until it is released.
    await writeFile(join(dir, '.lock'), `${process.ppid}\n`);
    let done = false;
    const pending = store.outbox.append(report('c', true)).then(() => {
      done = true;
    });
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(done, false);
    await rm(join(dir, '.lock'));
    await pending;
    assert.equal(store.outbox.depth(), 3);
  });

  test('an index write that went through but reported a failure loses nothing', async () => {
    const dir = join(root, 'ambiguous');
    const inner = new FileStateBackend(dir);
    let failAfterWrite = false;
    // A timeout after the server stored the write: the writer cannot tell it succeeded.
    const flaky: StateBackend = {
      description: inner.description,
      docBytes: inner.docBytes,
      partBytes: inner.partBytes,
      view: () => inner.view(),
      readDoc: (name) => inner.readDoc(name),
      writeDoc: async (name, bytes, version) => {
        const res = await inner.writeDoc(name, bytes, version);
        if (failAfterWrite) throw new Error('timed out');
        return res;
      },
      writeParts: (parts) => inner.writeParts(parts),
      readParts: (names) => inner.readParts(names),
      deleteParts: (names) => inner.deleteParts(names),
    };
    const store = new DurableStateStore(flaky);
    await store.load();
    await store.saveLedger('uid-1', appliedObjects(500, 'one'));
    failAfterWrite = true;
    await assert.rejects(store.saveLedger('uid-1', appliedObjects(600, 'two')), /timed out/);
    failAfterWrite = false;
    // The next save must not delete the parts the (actually committed) index names.
    await store.saveLedger('uid-2', appliedObjects(400, 'three'));
    const loaded = await new FileStateStore(dir, { orphanGraceMs: 0 }).load();
    assert.equal(loaded.ledger.get('uid-1')?.length, 600);
    assert.equal(loaded.ledger.get('uid-2')?.length, 400);
    assert.equal((await partsOf(dir)).length, 2);
  });
});
