// Hub replicas on one database: the duties' lease, the PKI sealed in the database, and the
// cluster changes and texts replicas tell each other. Two stores on one database of a real
// PostgreSQL server stand for two hub processes (each its own pool and listener).
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  databaseVault,
  ensureHubPki,
  finishCaRotation,
  kekFrom,
  type PkiPlace,
  seal,
  startCaRotation,
  unseal,
} from '../pki/index.ts';
import { postgresDatabase, storeBackends } from '../store/backends.testing.ts';
import { openPostgresStore, type Store } from '../store/index.ts';
import { Leadership } from './leader.ts';
import { Relay } from './relay.ts';

const quiet = { info() {}, warn() {} };
const fast = { ttlMs: 800, renewMs: 100, marginMs: 300 };

/** Waits until `check` holds (every 20 ms, up to `ms`). */
async function until(check: () => boolean, ms = 5_000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error('timed out');
    await sleep(20);
  }
}

for (const backend of storeBackends()) {
  describe(`${backend.name}: the duties lease`, () => {
    test('one holder at a time; the holder renews; another takes it when it lapsed', async (t) => {
      const store = await backend.open();
      t.after(() => store.close());
      assert.equal(await store.leases.claim('d', 'a', 60_000), true);
      assert.equal(await store.leases.claim('d', 'b', 60_000), false, 'held by a');
      assert.equal(await store.leases.claim('d', 'a', 60_000), true, 'a renews');
      assert.equal(await store.leases.holder('d'), 'a');
      assert.equal(await store.leases.claim('e', 'b', 50), true, 'another lease is another row');
      await sleep(120);
      assert.equal(await store.leases.holder('e'), undefined, 'lapsed');
      assert.equal(await store.leases.claim('e', 'c', 60_000), true, 'c takes a lapsed lease');
      await store.leases.release('d', 'b');
      assert.equal(await store.leases.holder('d'), 'a', 'only the holder gives it up');
      await store.leases.release('d', 'a');
      assert.equal(await store.leases.claim('d', 'b', 60_000), true, 'given up: b takes it');
    });
  });
}

describe('sealing under a key-encryption key', () => {
  test('a value opens with its key and label only', () => {
    const kek = kekFrom(Buffer.alloc(32, 1));
    const other = kekFrom(Buffer.alloc(32, 2));
    const sealed = seal(kek, 'ca/x', 'secret');
    assert.ok(!sealed.includes('secret'));
    assert.equal(unseal(kek, 'ca/x', sealed), 'secret');
    assert.throws(() => unseal(other, 'ca/x', sealed), /HUB_KEY_MISMATCH|sealed under the key/);
    assert.throws(() => unseal(kek, 'ca/y', sealed), /integrity/);
    const [v, f, iv, body] = sealed.split('.');
    const flipped = Buffer.from(body as string, 'base64url');
    flipped[0] = (flipped[0] as number) ^ 1;
    assert.throws(() => unseal(kek, 'ca/x', [v, f, iv, flipped.toString('base64url')].join('.')), /integrity/);
  });
});

describe('the relay', () => {
  test('a GitRepo written or its webhook called on one replica is told to the leader', async () => {
    const sent: [string, string][] = [];
    const relay = new Relay(
      { tell: async (topic: string, body: string) => void sent.push([topic, body]) } as never,
      quiet,
    );
    relay.gitRepoChanged('team-a', 'fleet');
    await new Promise((r) => setImmediate(r));
    const heard: string[] = [];
    const listening = new Relay(
      {
        onTold: (fn: (topic: string, body: string) => void) => {
          for (const [topic, body] of sent) fn(topic, body);
          return async () => {};
        },
      } as unknown as Store,
      quiet,
    );
    void listening.listen({ gitRepoChanged: (ns: string, name: string) => heard.push(`${ns}/${name}`) } as never);
    assert.deepEqual(heard, ['team-a/fleet']);
  });

  test('a status batch of many works of many worksets goes in texts NOTIFY takes, and comes back whole', () => {
    const sent: string[] = [];
    const store = {
      tell: async (topic: string, body: string) => void sent.push(`${topic} ${body}`),
    } as unknown as Store;
    const relay = new Relay(store, quiet);
    const owners = Array.from({ length: 200 }, (_, i) => `team-namespace-${i}/a-workset-with-a-long-name-${i}`);
    const works = Array.from({ length: 1000 }, (_, i) => `a-workset-with-a-long-name-${i % 200}-${i}`);
    return relay.workStatus('cluster-with-a-name', owners, works).then(() => {
      assert.ok(sent.length > 2);
      for (const text of sent) assert.ok(Buffer.byteLength(text) + 37 <= 8000, `${Buffer.byteLength(text)} bytes`);
      // What the leader hears: every owner and every work, once.
      const heard = { owners: [] as string[], works: [] as string[] };
      const inputs = {
        workStatus: (_c: string, o: readonly [string, string][], w: readonly string[]) => {
          heard.owners.push(...o.map(([namespace, name]) => `${namespace}/${name}`));
          heard.works.push(...w);
        },
      };
      const listening = new Relay(
        {
          onTold: (fn: (topic: string, body: string) => void) => {
            for (const text of sent) fn('status', text.slice('status '.length));
            return async () => {};
          },
        } as unknown as Store,
        quiet,
      );
      void listening.listen(inputs as never);
      assert.deepEqual(heard.owners, owners);
      assert.deepEqual(heard.works, works);
    });
  });
});

describe('replicas on one PostgreSQL database', () => {
  /** Two hubs' stores on one new database, and a data dir each. */
  async function twoHubs(t: { after(fn: () => Promise<void>): void }) {
    const url = await postgresDatabase();
    const a = await openPostgresStore(url);
    const b = await openPostgresStore(url);
    const dirA = await mkdtemp(join(tmpdir(), 'outpost-replica-a-'));
    const dirB = await mkdtemp(join(tmpdir(), 'outpost-replica-b-'));
    t.after(async () => {
      await a.close();
      await b.close();
      await rm(dirA, { recursive: true, force: true });
      await rm(dirB, { recursive: true, force: true });
    });
    return { a, b, dirA, dirB };
  }
  const kek = kekFrom(Buffer.alloc(32, 7));
  const place = (store: Store, dataDir: string, key = kek): PkiPlace => ({
    dataDir,
    vault: databaseVault(store, key, 'the database'),
  });
  const opts = { advertiseUrl: 'https://hub.example.com:8443', sans: [] };

  test('replicas starting at once share one CA and one serving certificate; keys are sealed', async (t) => {
    const { a, b, dirA, dirB } = await twoHubs(t);
    const [pa, pb] = await Promise.all([ensureHubPki(place(a, dirA), opts), ensureHubPki(place(b, dirB), opts)]);
    assert.equal(pa.caHash, pb.caHash);
    assert.equal(pa.servingCertPem, pb.servingCertPem);
    assert.equal(pa.servingKeyPem, pb.servingKeyPem);
    assert.equal([pa.created, pb.created].filter(Boolean).length, 1, 'one CA made');
    const row = await a.pki.ca(pa.signing.id);
    assert.ok(row?.keySealed && !row.keySealed.includes('PRIVATE KEY'), 'the CA key is sealed in the database');
    const serving = await a.pki.serving();
    assert.ok(serving && !serving.keySealed.includes('PRIVATE KEY'));
    // A replica asking for another name gets a certificate with both; the first keeps its own.
    const withSan = await ensureHubPki(place(b, dirB), { ...opts, sans: ['hub-b.example.com'] });
    const again = await ensureHubPki(place(a, dirA), opts);
    assert.equal(again.servingCertPem, withSan.servingCertPem, 'one serving certificate for both');
  });

  test('another key-encryption key cannot open the PKI', async (t) => {
    const { a, b, dirA, dirB } = await twoHubs(t);
    await ensureHubPki(place(a, dirA), opts);
    await assert.rejects(
      ensureHubPki(place(b, dirB, kekFrom(Buffer.alloc(32, 9))), opts),
      (err: Error & { code?: string }) => err.code === 'HUB_KEY_MISMATCH' && /--kek-file/.test(err.message),
    );
  });

  test('a rotation begun on two replicas at once begins once; its retirement happens once', async (t) => {
    const { a, b, dirA, dirB } = await twoHubs(t);
    const first = await ensureHubPki(place(a, dirA), opts);
    await ensureHubPki(place(b, dirB), opts);
    const starts = await Promise.allSettled([
      startCaRotation(place(a, dirA), opts),
      startCaRotation(place(b, dirB), opts),
    ]);
    assert.equal(starts.filter((s) => s.status === 'fulfilled').length, 1, 'one rotation');
    const rejected = starts.find((s) => s.status === 'rejected') as PromiseRejectedResult;
    assert.match(String(rejected.reason?.message), /already under way|changed while/);
    const ends = await Promise.all([
      finishCaRotation(place(a, dirA), opts, first.signing.id),
      finishCaRotation(place(b, dirB), opts, first.signing.id),
    ]);
    assert.deepEqual(ends.map((e) => e.retired).sort(), [false, true], 'one retirement');
    assert.equal(ends[0]?.pki.caHash, ends[1]?.pki.caHash);
    assert.equal(ends[0]?.pki.previous, undefined);
    assert.equal((await a.pki.ca(first.signing.id))?.keySealed, null, 'the retired key is gone');
  });

  test('one leader; another takes over at once when it stops and gives the lease up', async (t) => {
    const { a, b } = await twoHubs(t);
    const la = new Leadership(a, quiet, { id: 'a', times: fast });
    const lb = new Leadership(b, quiet, { id: 'b', times: fast });
    const events: string[] = [];
    la.onGained(() => void events.push('a+'));
    lb.onGained(() => void events.push('b+'));
    await la.start();
    await lb.start();
    t.after(async () => {
      await la.stop();
      await lb.stop();
    });
    assert.equal(la.leading, true);
    assert.equal(lb.leading, false);
    await sleep(400);
    assert.equal(la.leading && !lb.leading, true, 'a renews; b stays out');
    // a stops and gives the lease up: b takes it at its next attempt (or when poked).
    await la.stop();
    lb.poke();
    await until(() => lb.leading, 2_000);
    assert.equal(la.leading, false);
    assert.deepEqual(events, ['a+', 'b+']);
  });

  test('a full pass longer than the lease does not stop the renewals; a failed start runs again', async (t) => {
    const { a, b } = await twoHubs(t);
    const la = new Leadership(a, quiet, { id: 'a', times: fast });
    const lb = new Leadership(b, quiet, { id: 'b', times: fast });
    let passes = 0;
    let failures = 0;
    let started = false;
    // A full pass of 3 lease lengths, and a duty whose start fails twice before it works.
    la.onGained(async () => {
      passes++;
      await sleep(3 * fast.ttlMs);
    });
    la.onGained(() => {
      if (failures < 2) {
        failures++;
        throw new Error('the database is busy');
      }
      started = true;
    });
    await la.start();
    await lb.start();
    t.after(async () => {
      await la.stop();
      await lb.stop();
    });
    let lost = false;
    const watch = setInterval(() => {
      if (!la.leading || lb.leading) lost = true;
    }, 5);
    // The pass (2.4 s), then the start that fails twice and works after 1 s and 2 s waits.
    await until(() => started, 15_000);
    clearInterval(watch);
    assert.equal(failures, 2);
    assert.equal(lost, false, 'a stayed leader and b stayed out throughout the pass');
    assert.equal(passes, 1, 'one full pass');
  });

  test('a leader whose database is gone stops leading before another replica takes over', async (t) => {
    const { a, b } = await twoHubs(t);
    const la = new Leadership(a, quiet, { id: 'a', times: fast });
    const lb = new Leadership(b, quiet, { id: 'b', times: fast });
    await la.start();
    await lb.start();
    t.after(() => lb.stop());
    assert.equal(la.leading, true);
    // Every renewal of a fails from now on, as when it is cut off from the database.
    a.leases.claim = async () => {
      throw new Error('the database is not answering');
    };
    let overlap = false;
    const watch = setInterval(() => {
      if (la.leading && lb.leading) overlap = true;
    }, 5);
    await until(() => lb.leading, 3_000);
    clearInterval(watch);
    assert.equal(la.leading, false);
    assert.equal(overlap, false, 'never two leaders');
    await la.stop();
  });

  test('cluster changes, sightings and drops reach the other replica’s listeners; texts too', async (t) => {
    const { a, b } = await twoHubs(t);
    const heard: string[] = [];
    const told: string[] = [];
    let resets = 0;
    b.clusters.onChange((name, kind, at) => heard.push(`${kind} ${name}${at ? ` ${at}` : ''}`));
    const stop = b.onTold(
      (topic, body) => told.push(`${topic}:${body}`),
      () => resets++,
    );
    t.after(stop);
    await sleep(300); // the listener connects
    const at = new Date().toISOString();
    await a.clusters.insert({
      name: 'c1',
      uid: 'u1',
      labels: {},
      claims: {},
      hubAcceptsClient: true,
      agentVersion: null,
      createdAt: at,
    });
    // A change in a transaction that rolls back is never told.
    await a
      .transaction(async () => {
        const c = await a.clusters.get('c1');
        await a.clusters.update({ ...(c as NonNullable<typeof c>), labels: { x: 'y' } });
        throw new Error('rolled back');
      })
      .catch(() => {});
    await a.transaction(() => a.clusters.seenMany([['c1', at]]));
    await a.clusters.dropped('c1', at);
    await a.tell('workset', 'ns/w1');
    await until(() => heard.length >= 3 && told.length >= 1);
    assert.deepEqual(heard, ['changed c1', `seen c1 ${at}`, `dropped c1 ${at}`]);
    assert.deepEqual(told, ['workset:ns/w1']);
    assert.equal(resets, 0);
  });
});
