import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { hashText } from '@outpost/shared';
import Database from 'better-sqlite3';
import { storeBackends } from '../store/backends.testing.ts';
import { migrate, type Sql, type StatusSummary, type Store, type StoredText, type WorkRow } from '../store/index.ts';
import { SqliteSql } from '../store/sqlite.ts';
import { workStore } from '../store/works.ts';
import { splitText } from '../sync/status-text.ts';
import { jsonParts, jsonStream } from './raw-json.ts';
import { workResource } from './resource.ts';
import { saveTexts, storedReader, TextSweeper } from './texts.ts';

const minute = 60_000;
const at = '2026-01-01T00:00:00.000Z';
const t0 = Date.parse(at);

const cm = (name: string, data: string) => ({
  apiVersion: 'v1',
  kind: 'ConfigMap',
  metadata: { name, namespace: 'd' },
  data: { v: data },
});
const base = { cluster: 'c1', labels: {}, annotations: {}, spec: {} };
const text = (content: string): StoredText => ({ hash: hashText(content), content });
const summary: StatusSummary = { conditions: [], observedGeneration: 1 };

/** The hashes of the live manifests of work `name`, in order. */
const manifestHashes = async (store: Store, name: string) =>
  (await store.works.manifests((await store.works.get('c1', name))?.uid as string)).map((m) => m.hash);

/** A status of about `bytes` bytes, in parts of `size`. */
function largeStatus(bytes: number, size: number) {
  const json = JSON.stringify({ conditions: [], big: 'é€😀'.repeat(Math.ceil(bytes / 9)) });
  const content = Buffer.from(json);
  return { content, parts: splitText(content, size) };
}

for (const backend of storeBackends()) {
  describe(backend.name, () => {
    test('saveTexts stores only the texts not stored yet, about a megabyte per transaction', async () => {
      const store = await backend.open();
      const stored = text('{"a":"stored before"}');
      await store.works.putTexts([stored], at);
      const big = (c: string) => text(`"${c.repeat(600 * 1024)}"`);
      const texts = [stored, text('{"b":"é€😀"}'), big('x'), big('y'), big('z'), text('{"b":"é€😀"}')];
      const batches: string[][] = [];
      const batchBytes: number[][] = [];
      const spy = {
        transaction: store.transaction,
        works: {
          ...store.works,
          putTexts: async (items: StoredText[], when: string) => {
            batches.push(items.map((m) => m.hash));
            batchBytes.push(items.map((m) => Buffer.byteLength(m.content as string)));
            await store.works.putTexts(items, when);
          },
        },
      };

      await saveTexts(spy, texts);
      const once = [...new Set(texts.slice(1).map((m) => m.hash))];
      assert.deepEqual(batches.flat(), once, 'each missing text once, none stored before');
      assert.ok(batches.length >= 2, 'not in one transaction');
      // A transaction is closed by the text that takes it to a megabyte.
      for (const sizes of batchBytes) assert.ok(sizes.slice(0, -1).reduce((n, b) => n + b, 0) < 1024 * 1024);
      for (const m of texts) assert.equal(String(await store.works.text(m.hash)), m.content);
      const small = texts[1] as StoredText;
      assert.equal(await store.works.textSize(small.hash), Buffer.byteLength(small.content as string));

      batches.length = 0;
      await saveTexts(spy, texts);
      assert.deepEqual(batches, [], 'a second call stores nothing');
      await store.close();
    });

    test('texts no manifest names any more are swept only once they are older than the grace period', async () => {
      const store = await backend.open();
      await store.works.write({ ...base, name: 'w', manifests: [cm('a', '1'), cm('b', '1'), cm('c', '1')] }, at);
      const [a1, b1, c1] = await manifestHashes(store, 'w');
      // a changes, c leaves (a tombstone), b stays.
      await store.works.write({ ...base, name: 'w', manifests: [cm('a', '2'), cm('b', '1')] }, at);
      const [a2] = await manifestHashes(store, 'w');

      const early = new TextSweeper(store, { now: () => t0 + 9 * minute });
      assert.equal(await early.sweep(), 0);
      for (const h of [a1, b1, c1, a2]) assert.ok(await store.works.text(h as string), 'kept within the grace period');

      const late = new TextSweeper(store, { now: () => t0 + 11 * minute });
      assert.equal(await late.sweep(), 2);
      assert.deepEqual(await store.works.missingTexts([a1, b1, c1, a2] as string[]), [a1, c1]);
      assert.equal(await late.sweep(), 0, 'nothing left to sweep');
      await store.close();
    });

    test('a text a manifest row or a status part names is never swept, however old', async () => {
      const store = await backend.open();
      const shared = cm('shared', 'é');
      await store.works.write({ ...base, name: 'one', manifests: [shared, cm('own', '1')] }, at);
      const two = (await store.works.write({ ...base, name: 'two', manifests: [shared] }, at)).work;
      const [sharedHash] = await manifestHashes(store, 'two');
      // Work one lets go of the shared text; work two still names it.
      await store.works.write({ ...base, name: 'one', manifests: [cm('own', '1')] }, at);
      const { parts } = largeStatus(10_000, 1024);
      await store.works.setStatus(two.uid, { parts, summary }, 1);

      const named = [sharedHash as string, ...(await manifestHashes(store, 'one')), ...parts.map((p) => p.hash)];
      const sweeper = new TextSweeper(store, { now: () => Date.now() + 365 * 24 * 60 * minute });
      assert.equal(await sweeper.sweep(), 0);
      assert.deepEqual(await store.works.missingTexts(named), []);
      for (const hash of named)
        assert.equal(
          await store.works.dropOrphan({ id: -1, hash }, new Date().toISOString()),
          false,
          'a named text is kept',
        );
      await store.close();
    });

    test('a sweep removes more texts than fit in one of its transactions', async () => {
      const store = await backend.open();
      const texts = Array.from({ length: 250 }, (_, i) => text(`{"i":${i}}`));
      await store.works.putTexts(texts, at);
      const sweeper = new TextSweeper(store, { now: () => t0 + 11 * minute });
      const first = sweeper.sweep();
      assert.equal(sweeper.sweep(), first, 'a sweep asked for while one runs is that one');
      assert.equal(await first, 250);
      assert.equal((await store.works.missingTexts(texts.map((m) => m.hash))).length, 250);
      await store.close();
    });

    test('a large status is stored in parts and read back as the hashes of its parts in order', async () => {
      const store = await backend.open();
      const { uid } = (await store.works.write({ ...base, name: 'w', manifests: [cm('a', '1')] }, at)).work;
      assert.equal(await store.works.statusOf(uid), null, 'no status before the first report');
      // Repeated text: several parts are equal and share one stored text.
      const { content, parts } = largeStatus(700 * 1024, 64 * 1024);
      assert.ok(new Set(parts.map((p) => p.hash)).size < parts.length);
      await store.works.setStatus(uid, { parts, summary }, 1);

      const kept = await store.works.statusOf(uid);
      assert.ok(kept !== null && kept !== 'inline');
      const hashes = kept.hashes;
      assert.deepEqual(
        hashes,
        parts.map((p) => p.hash),
      );
      assert.deepEqual(kept.summary, summary, 'the parts come with the summary of their report');
      const texts: Buffer[] = [];
      for (const h of hashes) texts.push((await store.works.text(h)) as Buffer);
      assert.deepEqual(Buffer.concat(texts), content);
      assert.deepEqual(await store.works.statusBytes(uid), content, 'read whole, however it is kept');
      assert.deepEqual((await store.works.get('c1', 'w'))?.statusSummary, summary);

      // A small status afterwards is kept in the row, and the parts are named no more.
      await store.works.setStatus(uid, { text: '{"conditions":[]}', summary }, 2);
      assert.equal(await store.works.statusOf(uid), 'inline');
      assert.equal(String(await store.works.statusBytes(uid)), '{"conditions":[]}');
      await store.close();
    });

    test('a status reported again after the row was read is shown whole with the hub keys of its own report', async () => {
      const store = await backend.open();
      const { uid } = (await store.works.write({ ...base, name: 'w', manifests: [cm('a', '1')] }, at)).work;
      const first = { conditions: [{ type: 'Applied', status: 'True' as const, reason: 'Ok', message: '' }] };
      const early = { ...summary, conditions: first.conditions, observedAt: '2026-01-01T00:00:01.000Z' };
      await store.works.setStatus(uid, { text: JSON.stringify(first), summary: early }, 1);
      const answer = async (shown: ReturnType<typeof workResource>) => {
        const out = jsonStream(jsonParts(shown), storedReader(store));
        const t = typeof out === 'string' ? out : String(Buffer.concat(await out.toArray()));
        return (JSON.parse(t) as { status: Record<string, unknown> }).status;
      };
      const shownStatus = async () => {
        const row = (await store.works.get('c1', 'w')) as WorkRow;
        return workResource(row, await store.works.statusOf(uid));
      };

      // Kept in the row: the row is read, then the agent reports again before the answer is
      // written (the status is read as it is written out).
      let shown = await shownStatus();
      const second = { conditions: [{ type: 'Applied', status: 'False' as const, reason: 'Conflict', message: 'x' }] };
      const later = { ...summary, conditions: second.conditions, observedAt: '2026-01-01T00:00:09.000Z' };
      await store.works.setStatus(uid, { text: JSON.stringify(second), summary: later }, 2);
      let status = await answer(shown);
      assert.deepEqual(status.conditions, second.conditions);
      assert.equal(status.observedAt, later.observedAt, 'the observedAt of the report shown, not of the row read');
      assert.equal(status.manifestCount, 1);

      // In parts: the hashes and their summary are of one report, whatever comes after.
      const { parts } = largeStatus(600 * 1024, 64 * 1024);
      const large = { ...summary, observedAt: '2026-01-01T00:00:20.000Z' };
      await store.works.setStatus(uid, { parts, summary: large }, 3);
      shown = await shownStatus();
      await store.works.setStatus(uid, { text: JSON.stringify(first), summary: early }, 4);
      status = await answer(shown);
      assert.equal(status.observedAt, large.observedAt);
      assert.equal(typeof status.big, 'string', 'the large report, whole');
      await store.close();
    });

    test('a work purged between its row and its status being read is shown without a status, not as a failure', async () => {
      const store = await backend.open();
      const { uid } = (await store.works.write({ ...base, name: 'w', manifests: [cm('a', '1')] }, at)).work;
      await store.works.setStatus(uid, { text: '{"conditions":[{"type":"Applied"}]}', summary }, 1);
      const row = (await store.works.get('c1', 'w')) as WorkRow;
      const shown = workResource(row, await store.works.statusOf(uid));
      // Its agent reports the deletion while the answer is on its way.
      await store.works.purge(uid);
      const read = storedReader(store);
      const answer = jsonStream(jsonParts(shown), read);
      const text = typeof answer === 'string' ? answer : String(Buffer.concat(await answer.toArray()));
      const status = (JSON.parse(text) as { status: Record<string, unknown> }).status;
      assert.deepEqual(status.conditions, []);
      assert.equal(status.manifestCount, 1);
      await store.close();
    });

    test('a purged work leaves its status parts and manifest texts to a sweep after the grace period', async () => {
      const store = await backend.open();
      const written = new Date(Date.now() - 20 * minute).toISOString();
      const { uid } = (await store.works.write({ ...base, name: 'w', manifests: [cm('a', '1')] }, written)).work;
      const manifests = await manifestHashes(store, 'w');
      const { parts } = largeStatus(300 * 1024, 64 * 1024);
      await store.works.setStatus(uid, { parts, summary }, 1);
      const all = [...new Set([...manifests, ...parts.map((p) => p.hash)])];

      await store.works.purge(uid);
      assert.equal(await store.works.statusOf(uid), null);
      // Written 20 minutes ago, but named until now: kept for the grace period from now.
      assert.equal(await new TextSweeper(store).sweep(), 0);
      assert.deepEqual(await store.works.missingTexts(all), []);
      const late = new TextSweeper(store, { now: () => Date.now() + 11 * minute });
      assert.equal(await late.sweep(), all.length);
      assert.deepEqual(await store.works.missingTexts(all), all);
      await store.close();
    });

    test('the grace counts from when a row stopped naming a text, not from when the text was written', async () => {
      const store = await backend.open();
      await store.works.write({ ...base, name: 'w', manifests: [cm('a', '1')] }, '2020-01-01T00:00:00.000Z');
      const [old] = await manifestHashes(store, 'w');
      const now = Date.parse('2026-06-01T00:00:00.000Z');
      await store.works.write({ ...base, name: 'w', manifests: [cm('a', '2')] }, new Date(now).toISOString());
      // An answer that began before the change may still be reading the old text.
      assert.equal(await new TextSweeper(store, { now: () => now + minute }).sweep(), 0);
      assert.ok(await store.works.text(old as string));
      assert.equal(await new TextSweeper(store, { now: () => now + 11 * minute }).sweep(), 1);
      assert.equal(await store.works.text(old as string), undefined);
      await store.close();
    });
  });
}

describe('a status replaced while it is read', () => {
  /** A works store whose next read of a status's parts first lets `replace` write. */
  function racing() {
    const db = new Database(':memory:');
    migrate(db);
    const base = new SqliteSql(db);
    const plain = workStore(base);
    const pending: (() => Promise<void>)[] = [];
    const sql = new Proxy(base, {
      get(target, prop) {
        if (prop === 'all') {
          return async (text: string, params?: unknown) => {
            if (text.includes('FROM work_status_parts')) await pending.shift()?.();
            return target.all(text, params as never);
          };
        }
        const v = Reflect.get(target, prop, target);
        return typeof v === 'function' ? v.bind(target) : v;
      },
    }) as Sql;
    return { works: workStore(sql), plain, pending, close: () => db.close() };
  }
  const report = (observedAt: string) => ({ ...summary, observedAt });

  test('parts replaced by other parts, or by a status in the row: read again, never mixed', async () => {
    const { works, plain, pending, close } = racing();
    const { uid } = (await plain.write({ ...base, name: 'w', manifests: [cm('a', '1')] }, at)).work;
    const a = largeStatus(600 * 1024, 64 * 1024);
    const b = largeStatus(700 * 1024, 64 * 1024);
    await plain.setStatus(uid, { parts: a.parts, summary: report('2026-01-01T00:00:01.000Z') }, 1);

    pending.push(() => plain.setStatus(uid, { parts: b.parts, summary: report('2026-01-01T00:00:02.000Z') }, 2));
    const kept = await works.statusOf(uid);
    assert.ok(kept && kept !== 'inline');
    assert.deepEqual(
      kept.hashes,
      b.parts.map((p) => p.hash),
    );
    assert.equal(kept.summary?.observedAt, '2026-01-01T00:00:02.000Z');

    pending.push(() => plain.setStatus(uid, { parts: a.parts, summary: report('2026-01-01T00:00:03.000Z') }, 3));
    const read = await works.statusRead(uid);
    assert.deepEqual(read?.bytes, a.content);
    assert.equal(read?.summary?.observedAt, '2026-01-01T00:00:03.000Z');

    pending.push(() =>
      plain.setStatus(uid, { text: '{"conditions":[]}', summary: report('2026-01-01T00:00:04.000Z') }, 4),
    );
    assert.equal(await works.statusOf(uid), 'inline');
    const inline = await works.statusRead(uid);
    assert.equal(String(inline?.bytes), '{"conditions":[]}');
    assert.equal(inline?.summary?.observedAt, '2026-01-01T00:00:04.000Z');
    close();
  });

  test('a status that keeps changing while it is read fails the read, bounded, never loops', async () => {
    const { works, plain, pending, close } = racing();
    const { uid } = (await plain.write({ ...base, name: 'w', manifests: [cm('a', '1')] }, at)).work;
    const a = largeStatus(600 * 1024, 64 * 1024);
    let seq = 1;
    await plain.setStatus(uid, { parts: a.parts, summary }, seq);
    for (let i = 0; i < 100; i++) pending.push(() => plain.setStatus(uid, { parts: a.parts, summary }, ++seq));
    await assert.rejects(works.statusOf(uid), /changed 21 times while it was read/);
    close();
  });
});
