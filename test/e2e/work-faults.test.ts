// Work delivery under faults, end to end: real hub processes, real agent processes joined
// with --kubeconfig (each with its own agent namespace), and one real kube-apiserver that
// every spoke shares (each test has its own cluster name and ConfigMap namespace).
//
//  - the hub's database replaced by an empty one, then restored from a backup: the agent
//    deletes nothing, keeps enforcing, and is refused visibly (SPEC invariant 1);
//  - the agent SIGKILLed in the middle of an apply converges after a restart;
//  - a 1,000-object work and a one-manifest change to it (timed);
//  - a 20 MiB work (timed);
//  - the hub down for two minutes: the agent repairs, records its status in order, and
//    delivers it once when the hub returns (SPEC invariant 2).
//
// The two-minute outage runs beside the other tests (on a hub of its own) to keep the file
// near five minutes; the others run one at a time.
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { rm } from 'node:fs/promises';
import { after, before, describe, type TestContext, test } from 'node:test';
import { CoreV1Api, PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import type { KubeCluster } from '../kube/index.ts';
import { startCluster } from '../kube/index.ts';
import { adminClient, HubClient, readAdminToken, waitFor } from './hub-client.ts';
import {
  backupDatabase,
  type DatabaseBackup,
  emptyDatabase,
  type HubProcess,
  startHub,
  testDatabase,
} from './hub-process.ts';
import {
  cm,
  condition,
  type OutboxReport,
  Spoke,
  SpokeConfigMaps,
  seconds,
  untilElapsed,
  Works,
  type WorkView,
  work,
} from './work-faults-harness.ts';

/** A figure for the report (node:test prints diagnostics under the test). */
const say = (t: TestContext, line: string) => t.diagnostic(line);

async function epochOf(hub: HubProcess): Promise<string> {
  const anon = new HubClient(hub.url, { ca: hub.caCertPem });
  try {
    const res = await anon.get<{ epoch: string }>('/readyz');
    assert.equal(res.status, 200, res.text);
    return res.body.epoch;
  } finally {
    await anon.close();
  }
}

describe('work delivery under faults (real hubs, real agents, a real kube-apiserver)', {
  timeout: 600_000,
  concurrency: true,
}, () => {
  let kube: KubeCluster;
  let core: CoreV1Api;

  before(async () => {
    kube = await startCluster({ name: 'faults' });
    core = kube.kubeConfig().makeApiClient(CoreV1Api);
  });
  after(async () => {
    await kube?.stop();
  });

  /** Server-side apply of a ConfigMap by another field manager, forced. */
  const intrude = (namespace: string, name: string, data: Record<string, string> | undefined) =>
    core.patchNamespacedConfigMap(
      {
        name,
        namespace,
        body: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, namespace }, ...(data ? { data } : {}) },
        fieldManager: 'intruder',
        force: true,
      },
      setHeaderOptions('Content-Type', PatchStrategy.ServerSideApply),
    );

  test('the hub down for two minutes: the agent repairs and records status, which arrives in order and once', {
    timeout: 330_000,
  }, async (t) => {
    const started = Date.now();
    const cluster = 'outage';
    const ns = 'faults-outage';
    let hub = await startHub({ args: ['--poll-timeout', '5s'] });
    const { port, dataDir } = hub;
    const admin = await adminClient(hub);
    const works = new Works(admin, cluster);
    // The default agent namespace: the outbox is the Secret outpost-agent-outbox in outpost-agent.
    const spoke = new Spoke(kube, core, cluster, 'outpost-agent');
    const cms = new SpokeConfigMaps(core, ns);
    try {
      await cms.create();
      await spoke.join(hub, admin);
      await spoke.start(['--poll-wait', '5s', '--resync-interval', '2s', '--heartbeat-interval', '5s']);
      const w = await works.put(
        work(
          cluster,
          'steady',
          ['o1', 'o2', 'o3'].map((n) => cm(n, ns, { value: '1' })),
          // Server-side apply without force: another writer's field is a conflict, reported.
          {
            manifestConfigs: [
              {
                resourceIdentifier: { resource: 'configmaps', namespace: ns, name: '*' },
                updateStrategy: { type: 'ServerSideApply' },
              },
            ],
          },
        ),
      );
      const gen = w.metadata.generation;
      await works.waitApplied('steady', gen);

      assert.equal(await hub.stop({ keepDataDir: true }), 0);
      const downAt = Date.now();
      const logsFrom = spoke.logs().length;

      // (1) An object deleted by hand comes back without a hub.
      await cms.remove('o1');
      await waitFor(
        'o1 repaired without a hub',
        async () => ((await cms.read('o1'))?.data?.value === '1' ? true : undefined),
        30_000,
      );

      // The latest report of the work in the durable outbox, and the Degraded message it carries.
      const latest = async () => {
        const box = await spoke.outbox();
        const mine = box?.reports.filter((r) => r.uid === w.metadata.uid) ?? [];
        return { box, mine, last: mine.at(-1) };
      };
      const degradedOf = (r: OutboxReport | undefined) => r?.status.conditions.find((c) => c.type === 'Degraded');
      const blames = (message: string | undefined, name: string) => new RegExp(`${ns}/${name}\\b`).test(message ?? '');

      // (2) Another field manager takes o2's field over: the work says ServerSideApply without
      // force, so the agent reports the conflict, and that report waits in the outbox.
      const taken = await intrude(ns, 'o2', { value: 'intruder' });
      assert.equal(taken.data?.value, 'intruder');
      const o2Report = await waitFor(
        'the o2 conflict recorded in the outbox',
        async () => {
          const { last } = await latest();
          const d = degradedOf(last);
          return d?.status === 'True' && blames(d.message, 'o2') ? last : undefined;
        },
        30_000,
      );

      // (3) The last change of the outage: o2 is given back, o3 is taken instead.
      await intrude(ns, 'o3', { value: 'intruder' });
      await intrude(ns, 'o2', undefined);
      const lastChangeAt = Date.now();
      const o3Report = await waitFor(
        'the o3 conflict (and no o2 conflict) recorded in the outbox',
        async () => {
          const { last } = await latest();
          const d = degradedOf(last);
          return d?.status === 'True' && blames(d.message, 'o3') && !blames(d.message, 'o2') ? last : undefined;
        },
        30_000,
      );
      await waitFor(
        'o2 repaired',
        async () => ((await cms.read('o2'))?.data?.value === '1' ? true : undefined),
        30_000,
      );
      assert.ok(Date.parse(o3Report.observedAt) >= lastChangeAt - 1_000, o3Report.observedAt);

      // Kept in order: the work's reports in the outbox have growing sequence numbers, and the
      // o2 conflict, if compaction kept it, comes before the o3 one.
      const { box, mine } = await latest();
      assert.ok(box && !box.spilled, 'the outbox is one document');
      const seqs = mine.map((r) => r.seq);
      assert.deepEqual(
        seqs,
        [...seqs].sort((a, b) => a - b),
        'outbox order',
      );
      assert.ok(new Set(seqs).size === seqs.length, 'no sequence number twice');
      assert.ok(o2Report.seq < o3Report.seq, `o2 conflict seq ${o2Report.seq} < o3 conflict seq ${o3Report.seq}`);

      await untilElapsed('two minutes of hub outage', downAt, 120_000);
      const upAt = Date.now();
      assert.ok(spoke.running, 'the agent kept running through the outage');
      const during = spoke.logs().slice(logsFrom);
      assert.ok(
        during.some((l) => l.msg === 'status upload failed; kept in the outbox'),
        'the agent logged failed uploads while the hub was down',
      );
      assert.ok(during.some((l) => l.msg === 'sync failed; keeping the last desired state'));
      assert.deepEqual((await cms.names()).sort(), ['o1', 'o2', 'o3']);
      const pendingAtReturn = (await spoke.outbox())?.reports.length ?? 0;
      assert.ok(pendingAtReturn > 0, 'reports wait in the outbox');

      hub = await startHub({ dataDir, args: ['--poll-timeout', '5s', '--listen', `127.0.0.1:${port}`] });
      const back = await adminClient(hub);
      works.admin = back;
      try {
        // The agent backs off up to 60 s (full jitter) after two minutes of failures.
        const arrived = await waitFor(
          'the outage status at the hub',
          async () => {
            const v = await works.view('steady');
            const d = v && condition(v, 'Degraded');
            return v && d?.status === 'True' && blames(d.message, 'o3') ? v : undefined;
          },
          90_000,
        );
        const arrivedAt = Date.now();
        say(t, `outage status arrived ${seconds(arrivedAt - upAt)} s after the hub returned`);
        const observedAt = Date.parse(arrived.status.observedAt ?? '');
        assert.ok(
          observedAt > downAt && observedAt < upAt,
          `observedAt ${arrived.status.observedAt} within the outage ${new Date(downAt).toISOString()}..${new Date(upAt).toISOString()}`,
        );
        assert.ok(observedAt >= lastChangeAt - 1_000, 'the status reflects the last change of the outage');
        assert.equal(arrived.status.observedAt, o3Report.observedAt, 'the hub stored the latest report');
        assert.equal(arrived.status.observedGeneration, gen);
        assert.ok(!blames(condition(arrived, 'Degraded')?.message, 'o2'), 'not the earlier o2 conflict');
        const perManifest = new Map(
          (arrived.status.resourceStatus?.manifests ?? []).map((m) => [
            m.resourceMeta.name,
            m.conditions.find((c) => c.type === 'Applied')?.status,
          ]),
        );
        assert.deepEqual(Object.fromEntries(perManifest), { o1: 'True', o2: 'True', o3: 'False' });

        // Delivered once: the outbox drains, and the stored status never goes back to an
        // older report while the agent goes on.
        const drained = await waitFor(
          'the outbox drained',
          async () => {
            const b = await spoke.outbox();
            return b && b.reports.length === 0 ? b : undefined;
          },
          30_000,
        );
        assert.ok(drained.acked >= o3Report.seq, `acked ${drained.acked} >= ${o3Report.seq}`);
        const failuresThen = spoke.logs().filter((l) => l.msg === 'status upload failed; kept in the outbox').length;
        const steadyFrom = Date.now();
        let polls = 0;
        await waitFor(
          'the hub status to stay on the latest report for 6 s',
          async () => {
            const v = await works.view('steady');
            assert.equal(v?.status.observedAt, arrived.status.observedAt, 'the stored status went backwards');
            assert.deepEqual(v?.status.conditions, arrived.status.conditions);
            polls++;
            await new Promise((r) => setTimeout(r, 250));
            return Date.now() - steadyFrom >= 6_000 ? true : undefined;
          },
          20_000,
        );
        assert.ok(polls >= 5, `${polls} reads`);
        assert.equal(
          spoke.logs().filter((l) => l.msg === 'status upload failed; kept in the outbox').length,
          failuresThen,
          'no failed uploads once the hub is back',
        );
        // The agent's first poll to the new process said what it holds: the hub, which knew
        // nothing of it, did not have to ask (a round trip per agent when a fleet returns).
        const metrics = await back.call('GET', '/metrics');
        assert.match(metrics.text, /^outpost_sync_inventory_requests_total 0$/m, 'the hub asked for no inventory');
        assert.ok(spoke.running);
      } finally {
        await back.close();
      }
      say(t, `test 5 (hub down two minutes) took ${seconds(Date.now() - started)} s`);
    } finally {
      await spoke.stop();
      await admin.close();
      await hub.stop();
      await rm(dataDir, { recursive: true, force: true });
    }
  });

  describe('one fault at a time', { concurrency: false }, () => {
    test('the hub database replaced by an empty one, later a backup restored: nothing is deleted, enforcement goes on', {
      timeout: 240_000,
    }, async (t) => {
      const started = Date.now();
      const cluster = 'dbswap';
      const ns = 'faults-dbswap';
      const hubArgs = ['--poll-timeout', '3s'];
      let hub = await startHub({ args: hubArgs });
      const { port, dataDir } = hub;
      const restart = async () => {
        hub = await startHub({ dataDir, args: [...hubArgs, '--listen', `127.0.0.1:${port}`] });
      };
      const adminToken = await readAdminToken(dataDir);
      let admin = await adminClient(hub);
      const works = new Works(admin, cluster);
      const reconnect = async (token?: string) => {
        await admin.close();
        admin = token ? new HubClient(hub.url, { ca: hub.caCertPem, token }) : await adminClient(hub);
        works.admin = admin;
      };
      const spoke = new Spoke(kube, core, cluster, 'outpost-agent-dbswap');
      const cms = new SpokeConfigMaps(core, ns);
      let backup: DatabaseBackup | undefined;
      const value = async (name: string) => (await cms.read(name))?.data?.value;
      try {
        await cms.create();
        await spoke.join(hub, admin);
        await spoke.start(['--poll-wait', '3s', '--resync-interval', '2s', '--heartbeat-interval', '3s']);
        const first = (v: string) =>
          work(
            cluster,
            'first',
            ['a', 'b', 'c'].map((n) => cm(n, ns, { value: n === 'a' ? v : '1' })),
          );
        const w1 = await works.put(first('1'));
        await works.waitApplied('first', w1.metadata.generation);
        const epoch = await epochOf(hub);

        // A backup while the work is applied (cold: the hub stopped, so the WAL is checkpointed).
        assert.equal(await hub.stop({ keepDataDir: true }), 0);
        backup = await backupDatabase(dataDir);
        await restart();
        await reconnect();

        // A second work the backup will not know.
        const w2 = await works.put(
          work(
            cluster,
            'second',
            ['late-1', 'late-2'].map((n) => cm(n, ns, { value: '1' })),
          ),
        );
        await works.waitApplied('second', w2.metadata.generation, 60_000);
        const all = ['a', 'b', 'c', 'late-1', 'late-2'];
        assert.deepEqual((await cms.names()).sort(), all);

        // --- The database replaced by an empty one. ---
        assert.equal(await hub.stop({ keepDataDir: true }), 0);
        await emptyDatabase(dataDir);
        const logsFrom = spoke.logs().length;
        await restart();
        await reconnect();
        assert.notEqual(await epochOf(hub), epoch, 'a new database has a new epoch');
        assert.equal(
          (await admin.get(`/api/v1/clusters/${cluster}`)).status,
          404,
          'the empty hub does not know the cluster',
        );
        assert.deepEqual((await admin.get<{ items: unknown[] }>('/api/v1/works')).body.items, []);

        // On SQLite the PKI stays in the data directory: the hub, same CA, has no record of the
        // agent's certificate. On PostgreSQL the PKI was in the database: the empty one has a
        // new CA, which the agent does not trust. Either way the agent is refused, visibly.
        const refusal =
          testDatabase === 'sqlite'
            ? { err: /no record of the client certificate/, log: /the hub refuses this agent's credentials/ }
            : { err: /is not trusted/, log: /this agent does not trust the hub/ };
        const refusedSyncs = () =>
          spoke
            .logs()
            .slice(logsFrom)
            .filter((l) => l.msg === 'sync failed; keeping the last desired state' && refusal.err.test(String(l.err)))
            .length;
        await waitFor('two refused syncs', async () => (refusedSyncs() >= 2 ? true : undefined), 60_000);
        await waitFor(
          "the agent's log of the refusal of its credentials",
          async () =>
            spoke
              .logs()
              .slice(logsFrom)
              .some((l) => refusal.log.test(l.msg ?? ''))
              ? true
              : undefined,
          30_000,
        );
        // Still enforcing: a ConfigMap deleted by hand comes back.
        await cms.remove('b');
        await waitFor('b repaired while refused', async () => ((await value('b')) === '1' ? true : undefined), 30_000);
        // Two more refused polls and at least two resync periods (2 s, +20 % jitter) later,
        // nothing has been deleted and the agent still runs.
        const mark = Date.now();
        const refusedAtMark = refusedSyncs();
        await waitFor(
          'two more refused syncs and two resync periods',
          async () => (refusedSyncs() >= refusedAtMark + 2 && Date.now() - mark >= 5_000 ? true : undefined),
          90_000,
        );
        assert.deepEqual((await cms.names()).sort(), all, 'nothing deleted by the empty hub');
        assert.equal(await value('a'), '1');
        assert.ok(spoke.running, 'the agent keeps running');
        assert.ok(
          !spoke
            .logs()
            .slice(logsFrom)
            .some((l) => l.msg === 'work deleted'),
        );
        say(t, `empty database: ${refusedSyncs()} refused syncs, nothing deleted`);

        // --- The backup restored (same epoch; it never heard of the second work). ---
        // The agent is away while the hub is restored and the restored hub is changed, so the
        // order is deterministic: the agent comes back holding revision N of a hub whose
        // (restored) revision counter reaches N again with other content.
        await spoke.stop();
        assert.equal(await hub.stop({ keepDataDir: true }), 0);
        await backup.restore();
        await restart();
        // The empty database wrote its own admin token over admin.token; the backup knows the first.
        await reconnect(adminToken);
        assert.equal(await epochOf(hub), epoch, 'the backup has the original epoch');
        assert.equal(await works.view('second'), undefined, 'the restored hub never heard of the second work');
        const restoredAt = Date.now();
        const w1b = await works.put(first('2'));
        assert.ok(w1b.metadata.generation > w1.metadata.generation);
        await spoke.start();
        // The agent delivers its status to the restored hub (proof it talks to it) ...
        await waitFor(
          'a status report at the restored hub',
          async () => {
            const v = await works.view('first');
            return Date.parse(v?.status.observedAt ?? '') > restoredAt ? v : undefined;
          },
          60_000,
        );
        // ... and for a few polls after that, deletes nothing of the second work.
        const syncedAt = Date.now();
        await untilElapsed('two poll periods with the restored hub', syncedAt, 7_000);
        assert.deepEqual((await cms.names()).sort(), all, 'the restored hub made nothing go');
        assert.ok(!spoke.logs().some((l) => l.msg === 'work deleted'));

        // The restored hub's desired state is taken: the change made after the restore.
        // Regression: a restored database reuses revision numbers; the agent's inventory, not
        // the revision, decides what it is sent (hub sync/service.ts).
        await waitFor('a=2 from the restored hub', async () => ((await value('a')) === '2' ? true : undefined), 30_000);
        await works.waitApplied('first', w1b.metadata.generation, 30_000);
        assert.deepEqual((await cms.names()).sort(), all);
        say(t, `test 1 (database replaced, backup restored) took ${seconds(Date.now() - started)} s`);
      } finally {
        await spoke.stop();
        await admin.close();
        await hub.stop();
        await rm(dataDir, { recursive: true, force: true });
        await backup?.remove();
      }
    });

    describe('on a shared hub', () => {
      let hub: HubProcess;
      let admin: HubClient;
      let crash: Spoke;
      let bulk: Spoke;

      before(async () => {
        hub = await startHub({ args: ['--poll-timeout', '5s', '--max-work-size', '32Mi'] });
        admin = await adminClient(hub);
        crash = new Spoke(kube, core, 'crash', 'outpost-agent-crash');
        bulk = new Spoke(kube, core, 'bulk', 'outpost-agent-bulk');
        await crash.join(hub, admin);
        await bulk.join(hub, admin);
        // Long resyncs: a full re-apply must not run into the kill or the timings.
        await crash.start(['--poll-wait', '5s', '--resync-interval', '30m', '--heartbeat-interval', '5s']);
        await bulk.start(['--poll-wait', '5s', '--resync-interval', '30m', '--heartbeat-interval', '5s']);
      });
      after(async () => {
        await crash?.stop();
        await bulk?.stop();
        await admin?.close();
        await hub?.stop();
      });

      test('the agent SIGKILLed in the middle of an apply converges after a restart', {
        timeout: 180_000,
      }, async (t) => {
        const started = Date.now();
        const ns = 'faults-crash';
        const cms = new SpokeConfigMaps(core, ns);
        await cms.create();
        const works = new Works(admin, 'crash');
        const names = Array.from({ length: 300 }, (_, i) => `c-${String(i).padStart(3, '0')}`);
        const w = await works.put(
          work(
            'crash',
            'three-hundred',
            names.map((n) => cm(n, ns, { value: n, pad: 'x'.repeat(2048) })),
          ),
        );
        const agent = crash.agent;
        assert.ok(agent);
        await waitFor(
          'the first ConfigMaps on the spoke',
          async () => ((await cms.count()) > 0 ? true : undefined),
          30_000,
        );
        agent.proc.kill('SIGKILL');
        const dead = await agent.exited(10_000);
        assert.equal(dead.signal, 'SIGKILL');
        // Requests already sent may still land; read once they have.
        let atKill = await cms.count();
        await waitFor(
          'the count to settle after the kill',
          async () => {
            const n = await cms.count();
            if (n === atKill) return true;
            atKill = n;
            return undefined;
          },
          10_000,
        );
        say(t, `killed with ${atKill} of 300 ConfigMaps on the spoke`);
        assert.ok(atKill > 0 && atKill < 300, `the kill landed in the middle of the apply (${atKill} of 300)`);

        await crash.start();
        const applied = await works.waitApplied('three-hundred', w.metadata.generation, 90_000);
        const onSpoke = await cms.names();
        assert.equal(onSpoke.length, 300, 'exactly 300 ConfigMaps');
        assert.deepEqual([...onSpoke].sort(), names);
        const reported = (applied.status.resourceStatus?.manifests ?? []).map((m) => m.resourceMeta.name);
        assert.equal(reported.length, 300, 'one manifest status each');
        assert.deepEqual([...reported].sort(), names, 'no duplicate manifest status');
        assert.ok(
          applied.status.resourceStatus?.manifests?.every(
            (m) => m.conditions.find((c) => c.type === 'Applied')?.status === 'True',
          ),
        );
        const list = await admin.get<{ items: WorkView[] }>('/api/v1/clusters/crash/works');
        assert.deepEqual(
          list.body.items.map((i) => i.metadata.name),
          ['three-hundred'],
        );
        // Every ConfigMap has one field manager entry of the agent (no duplicate apply owners).
        const sample = await cms.read('c-000');
        const managers = sample?.metadata?.managedFields?.map((f) => `${f.manager}/${f.operation}`) ?? [];
        assert.deepEqual(managers, ['outpost-agent/Apply'], JSON.stringify(managers));
        const resultsAt = Date.now();

        // Converged also means owned: deleting the work (Foreground) removes every ConfigMap,
        // those created before the kill included.
        // Regression: objects the killed pass created are not in the ledger yet; the restarted
        // pass recognises them by our Apply entry carrying the creation time (createdByOurApply).
        await works.delete('three-hundred');
        await waitFor(
          'the work forgotten by the hub',
          async () => ((await works.view('three-hundred')) === undefined ? true : undefined),
          60_000,
        );
        const left = await cms.names();
        assert.equal(
          left.length,
          0,
          `${left.length} ConfigMaps left behind after deleting the work: ${left.slice(0, 5).join(', ')}…`,
        );
        say(
          t,
          `test 2 (kill mid-apply) took ${seconds(resultsAt - started)} s (+ ${seconds(Date.now() - resultsAt)} s deletion)`,
        );
      });

      test('a 1,000-object work is applied, then a one-manifest change (timed)', { timeout: 300_000 }, async (t) => {
        const ns = 'faults-bulk';
        const cms = new SpokeConfigMaps(core, ns);
        await cms.create();
        const works = new Works(admin, 'bulk');
        const names = Array.from({ length: 1000 }, (_, i) => `k-${String(i).padStart(4, '0')}`);
        const make = (changed: string) =>
          work(
            'bulk',
            'thousand',
            names.map((n) => cm(n, ns, { value: n === 'k-0500' ? changed : '1' })),
          );
        const t0 = Date.now();
        const w = await works.put(make('1'));
        await works.waitApplied('thousand', w.metadata.generation, 240_000);
        const full = Date.now() - t0;
        assert.equal((await cms.names()).length, 1000);
        say(t, `1,000-object work: PUT to Applied at the hub in ${seconds(full)} s`);

        const t1 = Date.now();
        const w2 = await works.put(make('2'));
        assert.equal(w2.metadata.generation, w.metadata.generation + 1);
        await waitFor(
          'k-0500=2 on the spoke',
          async () => ((await cms.read('k-0500'))?.data?.value === '2' ? true : undefined),
          120_000,
        );
        const onSpoke = Date.now() - t1;
        await works.waitApplied('thousand', w2.metadata.generation, 120_000);
        const change = Date.now() - t1;
        assert.equal((await cms.read('k-0499'))?.data?.value, '1');
        say(
          t,
          `one-manifest change of the 1,000-object work: on the spoke in ${seconds(onSpoke)} s, Applied at the hub in ${seconds(change)} s`,
        );
      });

      test('a 20 MiB work is accepted, delivered, applied and reported (timed)', { timeout: 300_000 }, async (t) => {
        const ns = 'faults-huge';
        const cms = new SpokeConfigMaps(core, ns);
        await cms.create();
        const works = new Works(admin, 'bulk');
        // 100 ConfigMaps of ~210 KiB of incompressible text each (one object stays far below
        // the apiserver's 1 MiB limit); the work is over 20 MiB.
        const blobs = Array.from({ length: 100 }, () => randomBytes(161_280).toString('base64'));
        const names = blobs.map((_, i) => `h-${String(i).padStart(3, '0')}`);
        const w0 = work(
          'bulk',
          'twenty-mib',
          blobs.map((b, i) => cm(names[i] as string, ns, { blob: b })),
        );
        const bytes = Buffer.byteLength(JSON.stringify(w0));
        assert.ok(bytes >= 20 * 1024 * 1024, `${bytes} bytes`);
        const t0 = Date.now();
        const w = await works.put(w0);
        const putMs = Date.now() - t0;
        const applied = await works.waitApplied('twenty-mib', w.metadata.generation, 240_000);
        const totalMs = Date.now() - t0;
        assert.equal(applied.status.manifestCount, 100);
        assert.ok((applied.status.sizeBytes ?? 0) >= 20 * 1024 * 1024, `sizeBytes ${applied.status.sizeBytes}`);
        assert.equal((await cms.names()).length, 100);
        const sha = (s: string | undefined) =>
          createHash('sha256')
            .update(s ?? '')
            .digest('hex');
        for (const i of [0, 57, 99]) {
          assert.equal(sha((await cms.read(names[i] as string))?.data?.blob), sha(blobs[i]), `${names[i]} content`);
        }
        say(
          t,
          `20 MiB work (${(bytes / 1024 / 1024).toFixed(1)} MiB JSON, 100 ConfigMaps): PUT ${seconds(putMs)} s, PUT to Applied at the hub ${seconds(totalMs)} s`,
        );
      });
    });
  });
});
