import assert from 'node:assert/strict';
import { lstat, mkdir, mkdtemp, readdir, readFile, readlink, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { AgentError } from '../errors.ts';
import { createTestCa, issueAgentCert, type Leaf, sampleCredentials } from '../testing/pki.ts';
import { FileEntryStore } from './files.ts';
import { CredentialStore, type Credentials, decodeState, entryNames } from './index.ts';

let root: string;
let leaf: Leaf;
let other: Leaf;
let caPem: string;

before(async () => {
  root = await mkdtemp(join(tmpdir(), 'outpost-agent-files-'));
  const ca = await createTestCa();
  caPem = ca.certPem;
  leaf = await issueAgentCert(ca, 'store-1');
  other = await issueAgentCert(ca, 'store-1');
});
after(() => rm(root, { recursive: true, force: true }));

const creds = (l: Leaf = leaf): Credentials => sampleCredentials(l, caPem);

const mode = async (p: string) => (await stat(p)).mode & 0o777;

describe('file credential store', () => {
  test('an absent or empty directory holds nothing', async () => {
    const store = new CredentialStore(new FileEntryStore(join(root, 'absent')));
    assert.deepEqual(await store.load(), {});
    await mkdir(join(root, 'empty'));
    assert.deepEqual(await new CredentialStore(new FileEntryStore(join(root, 'empty'))).load(), {});
  });

  test('round trip with modes 0700 (directory) and 0600 (files)', async () => {
    const dir = join(root, 'nested', 'creds');
    const store = new CredentialStore(new FileEntryStore(dir));
    await store.save({ credentials: creds() });
    assert.equal(await mode(dir), 0o700);
    for (const name of [entryNames.key, entryNames.cert, entryNames.caBundle, entryNames.hub]) {
      assert.equal(await mode(join(dir, name)), 0o600, name);
    }
    assert.equal(await readFile(join(dir, 'tls.key'), 'utf8'), leaf.keyPem);
    assert.equal(await readFile(join(dir, 'ca.crt'), 'utf8'), caPem);
    assert.deepEqual(JSON.parse(await readFile(join(dir, 'hub.json'), 'utf8')).clusterName, 'store-1');
    assert.deepEqual((await store.load()).credentials, creds());
  });

  test('an existing directory is tightened to 0700', async () => {
    const dir = join(root, 'loose');
    await mkdir(dir, { mode: 0o755 });
    await new FileEntryStore(dir).save({ a: 'x' });
    assert.equal(await mode(dir), 0o700);
  });

  test('updates replace the whole set in one switch and leave no old versions behind', async () => {
    const dir = join(root, 'update');
    const store = new CredentialStore(new FileEntryStore(dir));
    await store.save({ credentials: creds() });
    const firstVersion = await readlink(join(dir, '..data'));
    await store.save({
      credentials: creds(),
      pending: {
        hubUrl: 'https://hub:8443',
        clusterName: 'store-1',
        registrationId: 'r1',
        keyPem: other.keyPem,
        createdAt: 'x',
      },
    });
    await store.save({ credentials: creds(other) });
    const secondVersion = await readlink(join(dir, '..data'));
    assert.notEqual(firstVersion, secondVersion);
    const names = (await readdir(dir)).sort();
    // The visible names, the ..data link and exactly one version directory; pending.* gone.
    assert.deepEqual(
      names.filter((n) => !n.startsWith('..')),
      ['ca.crt', 'hub.json', 'tls.crt', 'tls.key'],
    );
    assert.deepEqual(
      names.filter((n) => n.startsWith('..')),
      ['..data', secondVersion].sort(),
    );
    assert.ok((await lstat(join(dir, 'tls.key'))).isSymbolicLink());
    const loaded = await store.load();
    assert.equal(loaded.credentials?.keyPem, other.keyPem);
    assert.equal(loaded.pending, undefined);
  });

  test('a save interrupted before the switch leaves the old set readable', async () => {
    const dir = join(root, 'crash');
    const store = new CredentialStore(new FileEntryStore(dir));
    await store.save({ credentials: creds() });
    // What a crash mid-write leaves: a half-written version directory and a temp link.
    await mkdir(join(dir, '..20990101T000000000Z.dead'), { mode: 0o700 });
    await writeFile(join(dir, '..20990101T000000000Z.dead', 'tls.key'), other.keyPem);
    assert.equal((await store.load()).credentials?.keyPem, leaf.keyPem);
    // And the next save cleans it up.
    await store.save({ credentials: creds(other) });
    assert.ok(!(await readdir(dir)).includes('..20990101T000000000Z.dead'));
  });

  test('hand-placed plain files are read', async () => {
    const dir = join(root, 'plain');
    await mkdir(dir, { mode: 0o700 });
    await writeFile(join(dir, 'tls.key'), leaf.keyPem);
    await writeFile(join(dir, 'tls.crt'), leaf.certPem);
    await writeFile(join(dir, 'ca.crt'), caPem);
    await writeFile(join(dir, 'hub.json'), JSON.stringify(creds().hub));
    const store = new CredentialStore(new FileEntryStore(dir));
    assert.equal((await store.load()).credentials?.certPem, leaf.certPem);
    // Saving converts them to the versioned layout.
    await store.save({ credentials: creds(other) });
    assert.ok((await lstat(join(dir, 'tls.key'))).isSymbolicLink());
    assert.equal((await store.load()).credentials?.keyPem, other.keyPem);
  });

  test('inconsistent sets are refused with AGENT_CREDENTIALS_INVALID', () => {
    const ok = {
      'tls.key': leaf.keyPem,
      'tls.crt': leaf.certPem,
      'ca.crt': caPem,
      'hub.json': JSON.stringify(creds().hub),
    };
    const invalid = (entries: Record<string, string>, pattern: RegExp) =>
      assert.throws(
        () => decodeState(entries, 'here'),
        (err: unknown) =>
          err instanceof AgentError && err.code === 'AGENT_CREDENTIALS_INVALID' && pattern.test(err.message),
      );
    invalid({ ...ok, 'tls.key': other.keyPem }, /not the key of tls\.crt/);
    const { 'ca.crt': _, ...noCa } = ok;
    invalid(noCa, /ca\.crt missing/);
    invalid({ ...ok, 'hub.json': '{' }, /not JSON/);
    invalid({ ...ok, 'hub.json': '{}' }, /lacks hubUrl/);
    invalid({ ...ok, 'tls.crt': 'nope' }, /not a PEM certificate/);
  });
});
