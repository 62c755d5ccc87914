import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { durations } from '@outpost/shared';
import { ticketKeys } from './tickets.ts';

describe('ticketKeys', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'outpost-tickets-'));
  await mkdir(join(dir, 'pki'));
  after(() => rm(dir, { recursive: true, force: true }));
  const file = join(dir, 'pki', 'tls-tickets.key');

  test('kept across calls until its lifetime ends, then replaced; stored 0600', async () => {
    const t0 = Date.now();
    const first = await ticketKeys(dir, { now: t0 });
    assert.equal(first.keys.length, 48);
    assert.equal((await stat(file)).mode & 0o777, 0o600);
    const again = await ticketKeys(dir, { now: t0 + durations.ticketKeyLifetimeMs - 1 });
    assert.deepEqual(again.keys, first.keys, 'a restart within the lifetime keeps the key');
    const later = await ticketKeys(dir, { now: t0 + durations.ticketKeyLifetimeMs });
    assert.notDeepEqual(later.keys, first.keys, 'replaced at the end of its lifetime');
    assert.deepEqual((await ticketKeys(dir, { now: t0 + durations.ticketKeyLifetimeMs + 1 })).keys, later.keys);
  });

  test('renew replaces it (the CAs changed); a damaged or future-dated file is replaced too', async () => {
    const kept = await ticketKeys(dir);
    const renewed = await ticketKeys(dir, { renew: true });
    assert.notDeepEqual(renewed.keys, kept.keys);
    for (const text of [
      'not json',
      '{"createdAt":1,"keys":"c2hvcnQ="}',
      `{"createdAt":${Date.now() + 86_400_000},"keys":"${renewed.keys.toString('base64')}"}`,
    ]) {
      await writeFile(file, text);
      const next = await ticketKeys(dir);
      assert.equal(next.keys.length, 48);
      assert.notDeepEqual(next.keys, renewed.keys, text);
    }
  });
});
