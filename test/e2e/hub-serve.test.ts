// `outpost-hub serve` as a real process: HTTPS on its generated CA, health endpoints,
// stable error bodies, restart with the same identity, clear errors for bad flags.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { httpsRequest, hubMain, repoRoot, startHub, testDatabase } from './hub-process.ts';

describe('outpost-hub serve', { timeout: 120_000 }, async () => {
  const dataDir = await mkdtemp(join(tmpdir(), 'outpost-serve-'));
  after(() => rm(dataDir, { recursive: true, force: true }));

  test('serves /healthz and /readyz over TLS that verifies against its own CA only', async () => {
    const hub = await startHub({ dataDir });
    try {
      const health = await httpsRequest(`${hub.url}/healthz`, { ca: hub.caCertPem });
      assert.equal(health.status, 200);
      assert.equal(health.json<{ status: string }>().status, 'ok');
      const ready = await httpsRequest(`${hub.url}/readyz`, { ca: hub.caCertPem });
      assert.equal(ready.status, 200);
      assert.match(ready.json<{ epoch: string }>().epoch, /^[0-9a-f-]{36}$/);
      // Another CA must not verify the hub: the pin is real.
      const other = await startHub();
      try {
        await assert.rejects(
          httpsRequest(`${hub.url}/healthz`, { ca: other.caCertPem }),
          /certificate|self.signed|verify/i,
        );
      } finally {
        await other.stop();
      }
      // One hub on SQLite keeps its PKI in the data dir, and the key its GitRepo secrets are
      // sealed under; on PostgreSQL the PKI is in the database, sealed under the
      // key-encryption key file the first hub wrote there (GitRepo secrets too).
      const files =
        testDatabase === 'postgres'
          ? ['pki.kek', 'admin.token']
          : ['pki/serving.key', 'pki/state.json', 'admin.token', 'secrets.kek'];
      for (const key of files) {
        assert.equal((await stat(join(dataDir, key))).mode & 0o777, 0o600, key);
      }
      assert.match(hub.caHash, /^sha256:[0-9a-f]{64}$/);
    } finally {
      assert.equal(await hub.stop({ keepDataDir: true }), 0, 'SIGTERM stops the hub cleanly');
    }
  });

  test('unknown routes answer 404 with a stable code', async () => {
    const hub = await startHub({ dataDir });
    try {
      const res = await httpsRequest(`${hub.url}/no/such/thing`, { ca: hub.caCertPem });
      assert.equal(res.status, 404);
      assert.deepEqual(Object.keys(res.json<object>()).sort(), ['code', 'message']);
      assert.equal(res.json<{ code: string }>().code, 'NOT_FOUND');
    } finally {
      await hub.stop({ keepDataDir: true });
    }
  });

  test('a restart keeps the CA, its hash and the database epoch', async () => {
    const first = await startHub({ dataDir });
    const epoch = (await httpsRequest(`${first.url}/readyz`, { ca: first.caCertPem })).json<{ epoch: string }>().epoch;
    await first.stop({ keepDataDir: true });
    const second = await startHub({ dataDir });
    try {
      assert.equal(second.caHash, first.caHash);
      assert.equal(second.caCertPem, first.caCertPem);
      const again = await httpsRequest(`${second.url}/readyz`, { ca: second.caCertPem });
      assert.equal(again.json<{ epoch: string }>().epoch, epoch);
    } finally {
      await second.stop({ keepDataDir: true });
    }
  });

  test('bad flags exit 2 with a plain message and the stable code', () => {
    const res = spawnSync(process.execPath, [hubMain, 'serve', '--listen', 'nonsense'], { encoding: 'utf8' });
    assert.equal(res.status, 2);
    assert.match(res.stderr, /--listen must be HOST:PORT.*\(HUB_CONFIG_INVALID\)/);
    const unknown = spawnSync(process.execPath, [hubMain, 'frobnicate'], { encoding: 'utf8' });
    assert.equal(unknown.status, 2);
    assert.match(unknown.stderr, /unknown command "frobnicate"/);
  });

  test('--help explains the flags and their defaults', () => {
    const res = spawnSync(join(repoRoot, 'bin/outpost-hub'), ['serve', '--help'], { encoding: 'utf8' });
    assert.equal(res.status, 0, res.stderr);
    for (const flag of ['--data-dir', '--listen', '--advertise-url', '--san', 'default 0.0.0.0:8443']) {
      assert.ok(res.stdout.includes(flag), flag);
    }
  });
});
