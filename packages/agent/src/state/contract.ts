// One test body for every AgentStateStore: the Secret store (kube.test.ts, real
// kube-apiserver) and the file store (files.test.ts) must behave the same.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, type TestContext, test } from 'node:test';
import type { Condition, ManifestEntry, StatusReport, WorkStatus } from '@outpost/shared';
import type { AppliedObject, DesiredWork } from '../work/types.ts';
import type { DurableStateStore, StateStoreOptions } from './store.ts';

export interface StoreHarness {
  name: string;
  /** A new store instance on storage `loc` (a namespace, a directory); same loc, same state. */
  open(loc: string, options?: StateStoreOptions): DurableStateStore;
  /** Names of the parts (chunks) stored at `loc`. */
  parts(loc: string): Promise<string[]>;
  /** Compressed size of the outbox document at `loc`. */
  outboxBytes(loc: string): Promise<number>;
  /** True when a large blob is split over several parts (Secrets); files keep one each. */
  splits: boolean;
  /** Figures for the report, printed at the end. */
  figures: Record<string, string>;
}

/** A ManifestWork of `count` ConfigMaps of `bytesEach` bytes, a third of it random (barely compressible). */
export function configMapWork(name: string, count: number, bytesEach: number, generation = 1): DesiredWork {
  const manifests: ManifestEntry[] = [];
  for (let i = 0; i < count; i++) {
    const data: Record<string, string> = {};
    const keys = 8;
    for (let k = 0; k < keys; k++) {
      const size = Math.floor(bytesEach / keys);
      data[`key-${k}`] =
        k % 3 === 0
          ? randomBytes(Math.floor((size * 3) / 4)).toString('base64')
          : `${name} entry ${i} field ${k} generation ${generation}; `.repeat(Math.ceil(size / 40)).slice(0, size);
    }
    const namespace = `team-${i % 17}`;
    manifests.push({
      key: `|ConfigMap|${namespace}|cm-${i}`,
      ordinal: i,
      manifest: {
        apiVersion: 'v1',
        kind: 'ConfigMap',
        metadata: { name: `cm-${i}`, namespace, labels: { app: name, index: String(i) } },
        data,
      },
    });
  }
  return { name, uid: `uid-${name}-${generation}`, generation, manifests };
}

export function smallWork(name: string, generation = 1): DesiredWork {
  return {
    name,
    uid: `uid-${name}`,
    generation,
    manifests: [
      {
        key: `|Namespace||${name}`,
        ordinal: 0,
        manifest: { apiVersion: 'v1', kind: 'Namespace', metadata: { name } },
      },
      {
        key: `apps|Deployment|${name}|web`,
        ordinal: 1,
        manifest: {
          apiVersion: 'apps/v1',
          kind: 'Deployment',
          metadata: { name: 'web', namespace: name },
          spec: { replicas: generation, template: { spec: { containers: [{ name: 'web', image: 'nginx:1.27' }] } } },
        },
      },
    ],
    deleteOption: { propagationPolicy: 'SelectivelyOrphan', selectivelyOrphans: { orphaningRules: [] } },
    manifestConfigs: [
      {
        resourceIdentifier: { group: 'apps', resource: 'deployments', namespace: name, name: 'web' },
        updateStrategy: { type: 'ServerSideApply', serverSideApply: { force: true } },
      },
    ],
  };
}

export function appliedObjects(count: number, tag: string): AppliedObject[] {
  return Array.from({ length: count }, (_, i) => ({
    group: i % 2 ? 'apps' : '',
    version: 'v1',
    kind: i % 2 ? 'Deployment' : 'ConfigMap',
    resource: i % 2 ? 'deployments' : 'configmaps',
    namespace: `team-${i % 17}`,
    name: `${tag}-${i}`,
    uid: `${randomBytes(4).toString('hex')}-0000-4000-8000-${String(i).padStart(12, '0')}`,
  }));
}

const cond = (type: string, status: 'True' | 'False', reason: string): Condition => ({
  type,
  status,
  reason,
  message: `${type} is ${status}`,
});

export function status(applied: boolean, manifests = 0, generation = 1): WorkStatus {
  return {
    conditions: [cond('Applied', applied ? 'True' : 'False', applied ? 'AppliedManifestComplete' : 'ApplyFailed')],
    resourceStatus: {
      manifests: Array.from({ length: manifests }, (_, i) => ({
        resourceMeta: {
          group: '',
          version: 'v1',
          kind: 'ConfigMap',
          resource: 'configmaps',
          namespace: 'team',
          name: `cm-${i}`,
          ordinal: i,
        },
        conditions: [cond('Applied', 'True', 'Applied'), cond('Available', 'True', 'ResourceExists')],
      })),
    },
    observedGeneration: generation,
  };
}

export function report(work: string, applied: boolean, manifests = 0): Omit<StatusReport, 'seq'> {
  return {
    work,
    uid: `uid-${work}`,
    generation: 1,
    observedAt: new Date().toISOString(),
    status: status(applied, manifests),
  };
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? 0;
};
const ms = (n: number) => `${n.toFixed(n < 10 ? 2 : 0)} ms`;

export function stateStoreContract(h: StoreHarness): void {
  describe(`${h.name}: desired works`, () => {
    test('round trip of a 16 MiB work (1,000 ConfigMaps) and small ones through a new instance', async (t: TestContext) => {
      const a = h.open('round-trip');
      const empty = await a.load();
      assert.equal(empty.hubEpoch, undefined);
      assert.equal(empty.revision, 0);
      assert.equal(empty.works.size, 0);

      const big = configMapWork('big', 1_000, 17_800);
      const jsonBytes = Buffer.byteLength(JSON.stringify(big));
      assert.ok(jsonBytes >= 16 * 1024 * 1024, `the big work is ${jsonBytes} bytes`);
      const a1 = smallWork('small-a');
      const b1: DesiredWork = { ...smallWork('small-b'), deleting: true };
      // A first small save creates what a first save creates (a namespace), outside the figure.
      await a.saveDesired({ hubEpoch: 'epoch-1', revision: 6, upsert: [a1], remove: [] });
      let t0 = performance.now();
      await a.saveDesired({ hubEpoch: 'epoch-1', revision: 7, upsert: [big, a1, b1], remove: [] });
      const saveMs = performance.now() - t0;

      const bigParts = (await h.parts('round-trip')).filter((n) => n.startsWith('outpost-work-'));
      if (h.splits) assert.ok(bigParts.length >= 3, `${bigParts.length} parts`);
      else assert.equal(bigParts.length, 1, 'one file for the big work, the small ones inline');

      const b = h.open('round-trip');
      t0 = performance.now();
      const loaded = await b.load();
      const loadMs = performance.now() - t0;
      assert.equal(loaded.hubEpoch, 'epoch-1');
      assert.equal(loaded.revision, 7);
      assert.deepEqual(
        loaded.works,
        new Map([
          ['big', big],
          ['small-a', a1],
          ['small-b', b1],
        ]),
      );
      h.figures['saveDesired 16 MiB work'] =
        `${ms(saveMs)} (${(jsonBytes / 2 ** 20).toFixed(1)} MiB JSON, ${bigParts.length} part(s))`;
      h.figures['load (16 MiB work + 2 small)'] = ms(loadMs);
      t.diagnostic(`saveDesired ${ms(saveMs)}, load ${ms(loadMs)}, ${bigParts.length} parts`);

      // An unchanged work is not written again; a removal and an update are one change.
      const a2 = smallWork('small-a', 2);
      await b.saveDesired({ hubEpoch: 'epoch-1', revision: 8, upsert: [big, a2], remove: ['small-b'] });
      assert.deepEqual(
        (await h.parts('round-trip')).filter((n) => n.startsWith('outpost-work-')).sort(),
        bigParts.sort(),
      );
      const again = await h.open('round-trip').load();
      assert.equal(again.revision, 8);
      assert.deepEqual(
        again.works,
        new Map([
          ['big', big],
          ['small-a', a2],
        ]),
      );

      // Replacing the big work swaps its parts.
      const big2 = configMapWork('big', 300, 8_000, 2);
      await b.saveDesired({ hubEpoch: 'epoch-2', revision: 9, upsert: [big2], remove: [] });
      const after = (await h.parts('round-trip')).filter((n) => n.startsWith('outpost-work-'));
      assert.ok(
        after.every((n) => !bigParts.includes(n)),
        'old parts deleted after the switch',
      );
      const last = await h.open('round-trip').load();
      assert.equal(last.hubEpoch, 'epoch-2');
      assert.deepEqual(last.works.get('big'), big2);
      // An empty epoch (a removal before any sync) keeps the stored one.
      await b.saveDesired({ hubEpoch: '', revision: 9, upsert: [], remove: ['small-a'] });
      const kept = await h.open('round-trip').load();
      assert.equal(kept.hubEpoch, 'epoch-2');
      assert.deepEqual([...kept.works.keys()], ['big']);
    });

    test('a crash after the new parts and before the index switch leaves the old state; orphans go', async () => {
      let crash = false;
      const opts: StateStoreOptions = {
        beforeCommit: (doc) => {
          if (crash && doc === 'index') throw new Error('simulated crash');
        },
      };
      const a = h.open('crash', opts);
      await a.load();
      const w1 = configMapWork('w1', 200, 8_000);
      const w2 = smallWork('w2');
      await a.saveDesired({ hubEpoch: 'e', revision: 1, upsert: [w1, w2], remove: [] });
      await a.saveLedger(w1.uid, appliedObjects(300, 'w1'));
      const committed = (await h.parts('crash')).sort();

      crash = true;
      const w1b = configMapWork('w1', 200, 8_000, 2);
      await assert.rejects(
        a.saveDesired({ hubEpoch: 'e', revision: 2, upsert: [w1b], remove: ['w2'] }),
        /simulated crash/,
      );
      await assert.rejects(a.saveLedger(w1.uid, appliedObjects(10, 'x')), /simulated crash/);
      const withOrphans = await h.parts('crash');
      assert.ok(withOrphans.length > committed.length, 'the new parts were written');

      // A restarted agent sees the old state whole; young orphans may be another
      // replica's save in flight, so they stay until the grace period passes.
      const restarted = await h.open('crash').load();
      assert.equal(restarted.revision, 1);
      assert.deepEqual(restarted.works.get('w1'), w1);
      assert.deepEqual(restarted.works.get('w2'), w2);
      assert.equal(restarted.ledger.get(w1.uid)?.length, 300);
      assert.equal((await h.parts('crash')).length, withOrphans.length);

      // Past the grace period, the load deletes them.
      const late = await h.open('crash', { orphanGraceMs: 0 }).load();
      assert.deepEqual(late.works.get('w1'), w1);
      assert.deepEqual((await h.parts('crash')).sort(), committed);

      // The crashed process itself deletes its own leftovers with its next save.
      await assert.rejects(a.saveDesired({ hubEpoch: 'e', revision: 2, upsert: [w1b], remove: [] }));
      assert.ok((await h.parts('crash')).length > committed.length);
      crash = false;
      await a.saveDesired({ hubEpoch: 'e', revision: 3, upsert: [w1b], remove: [] });
      const final = await h.open('crash').load();
      assert.equal(final.revision, 3);
      assert.deepEqual(final.works.get('w1'), w1b);
      const parts = await h.parts('crash');
      const ledgerParts = parts.filter((n) => n.startsWith('outpost-ledger-'));
      const workParts = parts.filter((n) => n.startsWith('outpost-work-'));
      assert.equal(ledgerParts.length, 1, 'only the committed ledger part');
      assert.ok(
        workParts.every((n) => n.includes('-g2-')),
        `only generation 2 parts of w1 remain: ${workParts.join(', ')}`,
      );
    });

    test('two replicas saving at once: the loser of the index race re-applies its change', async () => {
      const a = h.open('replicas');
      const b = h.open('replicas');
      await Promise.all([a.load(), b.load()]);
      const x = configMapWork('x', 100, 8_000);
      const y = smallWork('y');
      await Promise.all([
        a.saveDesired({ hubEpoch: 'e', revision: 1, upsert: [x], remove: [] }),
        b.saveDesired({ hubEpoch: 'e', revision: 1, upsert: [y], remove: [] }),
        a.saveLedger(x.uid, appliedObjects(200, 'x')),
        b.saveLedger(y.uid, appliedObjects(3, 'y')),
      ]);
      const loaded = await h.open('replicas').load();
      assert.deepEqual(
        loaded.works,
        new Map([
          ['x', x],
          ['y', y],
        ]),
      );
      assert.deepEqual([...loaded.ledger.keys()].sort(), [x.uid, y.uid].sort());
    });

    test('ledgers (1,500 objects) and held deletions round trip; removal deletes them', async () => {
      const a = h.open('ledger');
      await a.load();
      const big = appliedObjects(1_500, 'big');
      const small = appliedObjects(2, 'small');
      const held = [{ workUid: 'uid-x', objects: appliedObjects(400, 'x'), since: '2026-01-02T03:04:05.000Z' }];
      await a.saveLedger('uid-big', big);
      await a.saveLedger('uid-small', small);
      await a.saveLedger('uid-empty', []);
      await a.saveHeldDeletions(held);
      const loaded = await h.open('ledger').load();
      assert.deepEqual(
        loaded.ledger,
        new Map([
          ['uid-big', big],
          ['uid-small', small],
          ['uid-empty', []],
        ]),
      );
      assert.deepEqual(loaded.heldDeletions, held);

      const before = await h.parts('ledger');
      await a.saveLedger('uid-big', big); // unchanged: nothing written
      assert.deepEqual(await h.parts('ledger'), before);

      await a.saveLedger('uid-big', undefined);
      await a.saveHeldDeletions([]);
      const after = await h.open('ledger').load();
      assert.deepEqual([...after.ledger.keys()].sort(), ['uid-empty', 'uid-small']);
      assert.deepEqual(after.heldDeletions, []);
      assert.deepEqual(await h.parts('ledger'), [], 'small ledgers live inline in the index');
    });

    test('released objects (10,000 UIDs) round trip; an empty set removes them', async () => {
      const a = h.open('released');
      assert.deepEqual((await a.load()).released, [], 'nothing released in a new state');
      const uids = Array.from({ length: 10_000 }, (_, i) => `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`);
      await a.saveReleased(uids);
      assert.deepEqual((await h.open('released').load()).released, uids);
      await a.saveReleased([]);
      assert.deepEqual((await h.open('released').load()).released, []);
      assert.deepEqual(await h.parts('released'), [], 'no part left behind');
    });

    test('the last answered poll is kept in the index; other saves keep it, a newer one replaces it', async () => {
      const a = h.open('polled');
      await a.load();
      assert.equal(a.polledAt, undefined, 'none in a new state');
      const w = smallWork('w');
      await a.saveDesired({ hubEpoch: 'e', revision: 1, upsert: [w], remove: [] });
      await a.savePolledAt('2026-01-02T03:04:05.000Z');
      await a.saveLedger(w.uid, appliedObjects(2, 'w'));
      await a.saveHeldDeletions([
        { workUid: w.uid, objects: appliedObjects(1, 'h'), since: '2026-01-02T03:04:06.000Z' },
      ]);
      const b = h.open('polled');
      const loaded = await b.load();
      assert.equal(b.polledAt, '2026-01-02T03:04:05.000Z');
      assert.deepEqual(loaded.works.get('w'), w);
      assert.equal(loaded.ledger.get(w.uid)?.length, 2);
      assert.equal(loaded.heldDeletions.length, 1);
      await b.saveDesired({ hubEpoch: 'e', revision: 2, upsert: [], remove: [] });
      await b.savePolledAt('2026-01-02T03:05:05.000Z');
      const c = h.open('polled');
      assert.equal((await c.load()).revision, 2);
      assert.equal(c.polledAt, '2026-01-02T03:05:05.000Z');
    });
  });

  describe(`${h.name}: status outbox`, () => {
    test('strictly increasing seqs across restarts, ordered pending, durable acks, no reuse', async () => {
      const a = h.open('outbox-seq', { firstSeq: () => 1 });
      await a.load();
      const seqs: number[] = [];
      for (let i = 0; i < 5; i++) seqs.push((await a.outbox.append(report(`w${i}`, true))).seq);
      assert.deepEqual(seqs, [1, 2, 3, 4, 5]);

      const b = h.open('outbox-seq');
      await b.load();
      assert.deepEqual(
        b.outbox.pending(10).map((r) => r.seq),
        seqs,
      );
      assert.deepEqual(
        b.outbox.pending(2).map((r) => r.work),
        ['w0', 'w1'],
      );
      assert.equal(b.outbox.depth(), 5);
      assert.equal((await b.outbox.append(report('w5', true))).seq, 6);
      await b.outbox.ack(3);
      assert.deepEqual(
        b.outbox.pending(10).map((r) => r.seq),
        [4, 5, 6],
      );

      const c = h.open('outbox-seq');
      await c.load();
      assert.deepEqual(
        c.outbox.pending(10).map((r) => r.seq),
        [4, 5, 6],
      );
      await c.outbox.ack(6);
      assert.equal(c.outbox.depth(), 0);
      const d = h.open('outbox-seq');
      await d.load();
      assert.equal(d.outbox.depth(), 0);
      assert.equal((await d.outbox.append(report('w0', false))).seq, 7, 'a seq is never reused after acks');
      const stored = d.outbox.pending(1)[0];
      assert.equal(stored?.work, 'w0');
      assert.deepEqual(stored?.status, status(false));
    });

    test('a new outbox starts its seqs from the clock, above anything a lost outbox used', async () => {
      const a = h.open('outbox-clock');
      await a.load();
      const before = Date.now() * 1000;
      const r = await a.outbox.append(report('w', true));
      assert.ok(r.seq >= before && r.seq <= Date.now() * 1000 + 1, String(r.seq));
      assert.ok(Number.isSafeInteger(r.seq));
    });

    test('compaction: latest per work, transitions only, bounded history, survives restart', async () => {
      const a = h.open('outbox-compact', { outboxHistory: 5, firstSeq: () => 1 });
      await a.load();
      // w-flap alternates Applied True/False 20 times; w-steady repeats the same state.
      for (let i = 0; i < 20; i++) {
        await a.outbox.append(report('flap', i % 2 === 0));
        await a.outbox.append(report('steady', true));
      }
      const pending = a.outbox.pending(100);
      const latest = (w: string) => pending.filter((r) => r.work === w).at(-1)?.seq;
      const flap = pending.filter((r) => r.work === 'flap');
      const steady = pending.filter((r) => r.work === 'steady');
      assert.equal(steady.length, 1, 'equal reports collapse into the latest');
      assert.equal(flap.length, 6, 'the latest plus 5 transitions');
      assert.equal(latest('flap'), 39);
      assert.equal(latest('steady'), 40);
      for (let i = 1; i < flap.length; i++) {
        assert.notEqual(flap[i - 1]?.status.conditions[0]?.status, flap[i]?.status.conditions[0]?.status);
      }
      assert.deepEqual(
        pending.map((r) => r.seq),
        [...pending.map((r) => r.seq)].sort((x, y) => x - y),
      );
      const b = h.open('outbox-compact');
      await b.load();
      assert.deepEqual(b.outbox.pending(100), pending);
    });

    test('1,000 appends: under 1 MiB, every latest kept, append latency', async (t: TestContext) => {
      const a = h.open('outbox-1000');
      await a.load();
      const latencies: number[] = [];
      // 40 works, each report carrying 100 manifest statuses (~30 KB of JSON).
      const works = 40;
      for (let i = 0; i < 1_000; i++) {
        const t0 = performance.now();
        await a.outbox.append(report(`w${i % works}`, i % 3 !== 0, 100));
        latencies.push(performance.now() - t0);
      }
      assert.ok(a.outbox.depth() <= works + 20, `depth ${a.outbox.depth()}`);
      const bytes = await h.outboxBytes('outbox-1000');
      assert.ok(bytes < 1024 * 1024, `${bytes} bytes`);
      const restarted = h.open('outbox-1000');
      await restarted.load();
      assert.deepEqual(restarted.outbox.pending(10_000), a.outbox.pending(10_000));
      assert.equal(new Set(restarted.outbox.pending(10_000).map((r) => r.work)).size, works);
      latencies.sort((x, y) => x - y);
      h.figures['outbox append p50 / p99 (40 works × 100 manifest statuses)'] =
        `${ms(median(latencies))} / ${ms(latencies[Math.floor(latencies.length * 0.99)] ?? 0)}`;
      h.figures['outbox document after 1,000 appends'] =
        `${(bytes / 1024).toFixed(0)} KiB compressed, ${a.outbox.depth()} reports`;
      t.diagnostic(`append p50 ${ms(median(latencies))}, outbox ${bytes} bytes`);
    });

    test('two replicas appending at once never share a seq', async () => {
      const a = h.open('outbox-race', { firstSeq: () => 1 });
      const b = h.open('outbox-race', { firstSeq: () => 1 });
      await Promise.all([a.load(), b.load()]);
      const each = 40;
      const run = (s: DurableStateStore, tag: string) =>
        Promise.all(Array.from({ length: each }, (_, i) => s.outbox.append(report(`${tag}-${i}`, true))));
      const [ra, rb] = await Promise.all([run(a, 'a'), run(b, 'b')]);
      const seqs = [...ra, ...rb].map((r) => r.seq);
      assert.equal(new Set(seqs).size, 2 * each, 'no duplicate seq');
      const c = h.open('outbox-race');
      await c.load();
      const pending = c.outbox.pending(1_000);
      assert.equal(pending.length, 2 * each, 'every report kept (each is the latest of its work)');
      assert.deepEqual(
        pending.map((r) => r.seq),
        [...seqs].sort((x, y) => x - y),
      );
    });
  });
}
