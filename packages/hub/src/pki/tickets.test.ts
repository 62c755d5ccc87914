import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { durations } from '@outpost/shared';
import { newTicketKeys, renewIfOld, saveTicketKeys, ticketKeys } from './tickets.ts';

describe('ticketKeys', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'outpost-tickets-'));
  await mkdir(join(dir, 'pki'));
  after(() => rm(dir, { recursive: true, force: true }));
  const file = join(dir, 'pki', 'tls-tickets.key');

  test('kept across calls until its lifetime ends, then replaced; stored 0600', async () => {
    const t0 = Date.now();
    const first = await ticketKeys(dir, 'ca1', { now: t0 });
    assert.equal(first.keys.length, 48);
    assert.equal((await stat(file)).mode & 0o777, 0o600);
    const again = await ticketKeys(dir, 'ca1', { now: t0 + durations.ticketKeyLifetimeMs - 1 });
    assert.deepEqual(again.keys, first.keys, 'a restart within the lifetime keeps the key');
    const later = await ticketKeys(dir, 'ca1', { now: t0 + durations.ticketKeyLifetimeMs });
    assert.notDeepEqual(later.keys, first.keys, 'replaced at the end of its lifetime');
    assert.deepEqual((await ticketKeys(dir, 'ca1', { now: t0 + durations.ticketKeyLifetimeMs + 1 })).keys, later.keys);
  });

  test('a key made under other CAs is replaced (a stop between a CA change and storing its key); so is a damaged or future-dated file', async () => {
    const kept = await ticketKeys(dir, 'ca1');
    const other = await ticketKeys(dir, 'ca1,ca0');
    assert.notDeepEqual(other.keys, kept.keys, 'the CAs changed');
    assert.deepEqual((await ticketKeys(dir, 'ca1,ca0')).keys, other.keys);
    // A key the listener took and stored (after a rotation) is the one the next start uses.
    const rotated = newTicketKeys('ca2,ca1');
    await saveTicketKeys(dir, rotated);
    assert.deepEqual((await ticketKeys(dir, 'ca2,ca1')).keys, rotated.keys);
    for (const text of [
      'not json',
      '{"createdAt":1,"cas":"ca2,ca1","keys":"c2hvcnQ="}',
      `{"createdAt":${Date.now() + 86_400_000},"cas":"ca2,ca1","keys":"${rotated.keys.toString('base64')}"}`,
    ]) {
      await writeFile(file, text);
      const next = await ticketKeys(dir, 'ca2,ca1');
      assert.equal(next.keys.length, 48);
      assert.notDeepEqual(next.keys, rotated.keys, text);
    }
  });
});

describe('renewIfOld (the hourly check of a running hub)', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'outpost-tickets-'));
  await mkdir(join(dir, 'pki'));
  after(() => rm(dir, { recursive: true, force: true }));

  test('a key younger than its lifetime stays; an old one is replaced, stored and handed to the listener', async () => {
    const t0 = Date.now();
    const current = await ticketKeys(dir, 'ca1', { now: t0 });
    const used: Buffer[] = [];
    const use = (t: { keys: Buffer }) => used.push(t.keys);
    const young = await renewIfOld({
      dataDir: dir,
      current,
      cas: 'ca1',
      use,
      now: t0 + durations.ticketKeyLifetimeMs - 1,
    });
    assert.equal(young, false);
    assert.equal(used.length, 0);
    const now = t0 + durations.ticketKeyLifetimeMs;
    assert.equal(await renewIfOld({ dataDir: dir, current, cas: 'ca1', use, now }), true);
    assert.equal(used.length, 1);
    assert.notDeepEqual(used[0], current.keys, 'a new key');
    assert.deepEqual((await ticketKeys(dir, 'ca1', { now: now + 1 })).keys, used[0], 'stored for the next start');
  });
});
