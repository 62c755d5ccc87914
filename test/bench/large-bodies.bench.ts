// The hub's event loop while it handles the largest bodies it takes: a real hub process, one
// joined cluster with an mTLS agent client, and works just under the work limit (16 MiB), in
// two shapes (2,000 ConfigMaps of 7 KiB; 14 ConfigMaps of 1 MiB), and a work of the most
// manifests a work may have (OUTPOST_BENCH_TINY, 10,000 small ConfigMaps). Each operation runs over
// and over for one whole 10 s window of the hub's own event-loop delay monitor, alone; the
// figure is that window's max (and /readyz latency seen from a process of its own meanwhile).
// Operations: work PUT (JSON, and YAML for the many-manifest shape), work GET (JSON, and
// YAML: Accept application/yaml), a JSON patch of one manifest of the work, the agent's
// full sync of that work, an agent status report of ~14 MiB, a ManifestWorkReplicaSet of the
// 2,000-manifest template on edge-0 and OUTPOST_BENCH_WORKSET_CLUSTERS more (20) clusters
// (a status report of its work on edge-0, which the controller looks at again; its PUT,
// which renders and writes every cluster's work), and a 17 MiB PUT the hub refuses.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import { stringify as yamlStringify } from 'yaml';
import {
  agentPaths,
  agentSubject,
  createCsr,
  generateKeyPair,
  privateKeyToPem,
} from '../../packages/shared/src/index.ts';
import { adminClient, agentClient, anonymousClient, createToken, readAdminToken } from '../e2e/hub-client.ts';
import { startHub } from '../e2e/hub-process.ts';
import { eventLoopWindow, type Metric, report } from './lib.ts';

const mib = 1024 * 1024;
const only = process.env.OUTPOST_BENCH_ONLY;
/** Clusters besides edge-0 that the workset's placement selects. */
const worksetClusters = Number(process.env.OUTPOST_BENCH_WORKSET_CLUSTERS ?? 20);

const cm = (name: string, bytes: number, keys: number) => ({
  apiVersion: 'v1',
  kind: 'ConfigMap',
  metadata: { name, namespace: 'demo', labels: { app: 'big' } },
  data: Object.fromEntries(
    Array.from({ length: keys }, (_, k) => [`k${k}`, `${name}-${k}-`.padEnd(Math.floor(bytes / keys), 'x')]),
  ),
});
const workOf = (name: string, manifests: unknown[]) => ({
  apiVersion: 'work.open-cluster-management.io/v1',
  kind: 'ManifestWork',
  metadata: { name },
  spec: { workload: { manifests } },
});
const many = workOf(
  'many',
  Array.from({ length: 2_000 }, (_, i) => cm(`cm-${i}`, 7 * 1024, 8)),
);
const few = workOf(
  'few',
  Array.from({ length: 14 }, (_, i) => cm(`big-${i}`, mib - 4096, 256)),
);
const tinyCount = Number(process.env.OUTPOST_BENCH_TINY ?? 10_000);
const tiny = workOf(
  'tiny',
  Array.from({ length: tinyCount }, (_, i) => cm(`t-${i}`, 64, 1)),
);
const tooBig = workOf(
  'too-big',
  Array.from({ length: 17 }, (_, i) => cm(`big-${i}`, mib, 256)),
);
const bodies = {
  many: Buffer.from(JSON.stringify(many)),
  manyYaml: Buffer.from(yamlStringify(many)),
  few: Buffer.from(JSON.stringify(few)),
  tiny: Buffer.from(JSON.stringify(tiny)),
  tooBig: Buffer.from(JSON.stringify(tooBig)),
};

const hub = await startHub({ args: ['--log-level', 'warn'], timeoutMs: 60_000 });
const caFile = join(hub.dataDir, 'ca.crt');
const admin = await adminClient(hub, { connections: 2 });
const anon = anonymousClient(hub, { connections: 1 });
const probe = anonymousClient(hub, { connections: 1 });
const adminToken = await readAdminToken(hub.dataDir);
let agent: ReturnType<typeof agentClient> | undefined;
try {
  const token = await createToken(admin, { autoApprove: true, ttl: '1h', usageLimit: 1 });
  const keys = await generateKeyPair();
  const name = 'edge-0';
  const reg = await anon.post<{ certificate: string }>(agentPaths.registrations, {
    token: token.token,
    clusterName: name,
    csr: await createCsr(keys, agentSubject(name)),
  });
  if (reg.status !== 201) throw new Error(`join: ${reg.status} ${reg.text}`);
  agent = agentClient(hub, { certPem: reg.body.certificate, keyPem: await privateKeyToPem(keys.privateKey) });
  const a = agent;
  const works = `/api/v1/clusters/${name}/works`;
  const expect = (what: string, status: number, want: number[]) => {
    if (!want.includes(status)) throw new Error(`${what}: ${status}`);
  };
  // Every PUT changes one value, so the hub stores a new generation each time.
  let n = 0;
  const changed = (body: Buffer) => {
    n++;
    const text = body.toString();
    const i = text.indexOf('-x') + 1;
    return Buffer.from(`${text.slice(0, i)}${String(n % 10)}${text.slice(i + 1)}`);
  };
  const statusReport = (uid: string, generation: number) => ({
    reports: [
      {
        seq: ++n,
        work: 'many',
        uid,
        generation,
        observedAt: new Date().toISOString(),
        status: {
          conditions: [{ type: 'Applied', status: 'True', reason: 'AppliedManifestWorkComplete', message: 'ok' }],
          resourceStatus: {
            manifests: Array.from({ length: 2_000 }, (_, i) => ({
              resourceMeta: {
                ordinal: i,
                group: '',
                version: 'v1',
                kind: 'ConfigMap',
                resource: 'configmaps',
                namespace: 'demo',
                name: `cm-${i}`,
              },
              conditions: [
                {
                  type: 'Applied',
                  status: 'True',
                  reason: 'AppliedManifestComplete',
                  message: `applied cm-${i} `.padEnd(7_000, '.'),
                },
              ],
            })),
          },
          observedGeneration: generation,
        },
      },
    ],
  });
  const put = (path: string, body: Buffer, contentType = 'application/json') =>
    admin.call('PUT', path, { raw: body, contentType, timeoutMs: 120_000 });
  // Stored once, so that GET, sync and status have something to work on.
  expect('PUT many', (await put(`${works}/many`, bodies.many)).status, [200, 201]);
  expect('PUT few', (await put(`${works}/few`, bodies.few)).status, [200, 201]);
  expect('PUT tiny', (await put(`${works}/tiny`, bodies.tiny)).status, [200, 201]);
  // The status reports are for the work as stored now (the PUTs below change it, and each
  // report then stands for an older generation, which the hub stores all the same).
  const stored = (await admin.get<{ metadata: { uid: string; generation: number } }>(`${works}/many`)).body.metadata;

  // A ManifestWorkReplicaSet of the 2,000-manifest template on every cluster: edge-0 and
  // worksetClusters more that joined without an agent. A change renders and writes every
  // cluster's work; a status report for one of its works makes the controller look again.
  for (let i = 0; i < worksetClusters; i++) {
    const t = await createToken(admin, { autoApprove: true, ttl: '1h', usageLimit: 1 });
    const k = await generateKeyPair();
    const r = await anon.post(agentPaths.registrations, {
      token: t.token,
      clusterName: `ws-${i}`,
      csr: await createCsr(k, agentSubject(`ws-${i}`)),
    });
    if (r.status !== 201) throw new Error(`join ws-${i}: ${r.status} ${r.text}`);
  }
  const placement = {
    apiVersion: 'cluster.open-cluster-management.io/v1beta1',
    kind: 'Placement',
    metadata: { name: 'everywhere' },
    // The clusters without an agent never report: tolerate the taints that marks.
    spec: {
      tolerations: ['unreachable', 'unavailable'].map((t) => ({
        key: `cluster.open-cluster-management.io/${t}`,
        operator: 'Exists',
      })),
    },
  };
  expect('placement', (await admin.call('PUT', '/api/v1/placements/everywhere', { json: placement })).status, [201]);
  const workset = Buffer.from(
    JSON.stringify({
      apiVersion: 'work.open-cluster-management.io/v1alpha1',
      kind: 'ManifestWorkReplicaSet',
      metadata: { name: 'ws-many' },
      spec: {
        placementRefs: [{ name: 'everywhere', rolloutStrategy: { type: 'All' } }],
        manifestWorkTemplate: many.spec,
      },
    }),
  );
  expect('PUT workset', (await put('/api/v1/worksets/ws-many', workset)).status, [201]);
  const handedOut = Date.now();
  let wsWork: { uid: string; generation: number } | undefined;
  while (!wsWork) {
    const w = await admin.get<{ metadata: { uid: string; generation: number } }>(`${works}/ws-many`);
    if (w.status === 200) wsWork = w.body.metadata;
    else if (Date.now() - handedOut > 30_000) {
      const ws = await admin.get('/api/v1/worksets/ws-many');
      throw new Error(`the workset's work never came: ${w.status}; workset: ${ws.text.slice(-2000)}`);
    } else await new Promise((r) => setTimeout(r, 200));
  }
  const wsStatus = () => ({
    reports: [
      {
        seq: ++n,
        work: 'ws-many',
        uid: (wsWork as { uid: string }).uid,
        generation: (wsWork as { generation: number }).generation,
        observedAt: new Date().toISOString(),
        status: {
          conditions: [
            {
              type: 'Applied',
              status: n % 2 ? 'True' : 'False',
              reason: 'AppliedManifestWorkComplete',
              message: 'ok',
            },
          ],
          resourceStatus: { manifests: [] },
          observedGeneration: (wsWork as { generation: number }).generation,
        },
      },
    ],
  });
  const ops: [string, () => Promise<void>][] = [
    ['workPutJson2000', async () => expect('PUT', (await put(`${works}/many`, changed(bodies.many))).status, [200])],
    [
      'workPutYaml2000',
      async () =>
        expect('PUT yaml', (await put(`${works}/many`, changed(bodies.manyYaml), 'application/yaml')).status, [200]),
    ],
    ['workPutJson14', async () => expect('PUT few', (await put(`${works}/few`, changed(bodies.few))).status, [200])],
    [
      'workPutJsonTiny',
      async () => expect('PUT tiny', (await put(`${works}/tiny`, changed(bodies.tiny))).status, [200]),
    ],
    [
      'workGetTiny',
      async () => expect('GET tiny', (await admin.get(`${works}/tiny`, { timeoutMs: 120_000 })).status, [200]),
    ],
    [
      'workGet2000',
      async () => expect('GET', (await admin.get(`${works}/many`, { timeoutMs: 120_000 })).status, [200]),
    ],
    [
      'workGetAsYaml2000',
      async () =>
        expect(
          'GET yaml',
          (await admin.get(`${works}/many`, { timeoutMs: 120_000, headers: { accept: 'application/yaml' } })).status,
          [200],
        ),
    ],
    [
      'workGetAsYaml14',
      async () =>
        expect(
          'GET yaml',
          (await admin.get(`${works}/few`, { timeoutMs: 120_000, headers: { accept: 'application/yaml' } })).status,
          [200],
        ),
    ],
    // One value of one manifest, by a JSON patch: the hub reads the whole stored work, patches
    // and prepares it on the body thread.
    ...(['many', 'few'] as const).map((work): [string, () => Promise<void>] => [
      `workPatchOne${work === 'many' ? 2000 : 14}`,
      async () => {
        const patch = [{ op: 'replace', path: '/spec/workload/manifests/7/data/k0', value: `v${++n}` }];
        const res = await admin.call('PATCH', `${works}/${work}`, {
          raw: JSON.stringify(patch),
          contentType: 'application/json-patch+json',
          timeoutMs: 120_000,
        });
        expect('PATCH', res.status, [200]);
      },
    ]),
    [
      'agentFullSync',
      async () =>
        expect(
          'sync',
          (
            await a.post(
              agentPaths.sync(name),
              { revision: 0, inventory: {} },
              { timeoutMs: 120_000, headers: { 'accept-encoding': 'gzip' } },
            )
          ).status,
          [200],
        ),
    ],
    [
      'agentStatus14MiB',
      async () => {
        const status = await a.post(agentPaths.status(name), statusReport(stored.uid, stored.generation), {
          timeoutMs: 120_000,
        });
        expect('status', status.status, [200]);
      },
    ],
    [
      'worksetStatusReport',
      async () => {
        const r = await a.post(agentPaths.status(name), wsStatus(), { timeoutMs: 120_000 });
        if (r.status !== 200) throw new Error(`status: ${r.status} ${r.text}`);
        // The controller looks again after its batch delay; one report per look.
        await new Promise((r) => setTimeout(r, 300));
      },
    ],
    [
      'worksetPut2000',
      async () => expect('PUT workset', (await put('/api/v1/worksets/ws-many', changed(workset))).status, [200]),
    ],
    [
      'workPutRefused17MiB',
      async () => expect('PUT too big', (await put(`${works}/too-big`, bodies.tooBig)).status, [413]),
    ],
  ];

  const window = async () => eventLoopWindow((await probe.get('/metrics', { token: adminToken })).text);

  const metrics: Record<string, Metric> = {};
  const detail: Record<string, unknown> = {};
  for (const [what, op] of ops) {
    if (only && !what.includes(only)) continue;
    process.stdout.write(`${what}…\n`);
    const prober = spawn(process.execPath, [join(import.meta.dirname, 'readyz-probe.ts'), hub.url, caFile], {
      stdio: ['pipe', 'pipe', 'inherit'],
    });
    let out = '';
    prober.stdout?.on('data', (d: Buffer) => (out += d.toString()));
    const exited = once(prober, 'exit');
    // From a window boundary to the end of the next whole window, the operation runs alone.
    const start = (await window()).count;
    while ((await window()).count === start) await new Promise((r) => setTimeout(r, 50));
    prober.stdin?.write('start\n');
    let runs = 0;
    const ms: number[] = [];
    let w = await window();
    const first = w.count;
    while (w.count === first) {
      const t0 = performance.now();
      await op();
      ms.push(performance.now() - t0);
      runs++;
      w = await window();
    }
    prober.stdin?.write('stop\n');
    await exited;
    const probes = JSON.parse(out.trim() || '{"ms":[],"failed":0}') as { ms: number[]; failed: number };
    metrics[`${what}LoopMax`] = { value: w.max, unit: 'ms', target: '< 100' };
    metrics[`${what}ReadyzMax`] = { value: Math.max(...probes.ms), unit: 'ms', target: '< 200' };
    detail[what] = {
      runs,
      requestMs: ms.map((x) => Math.round(x)),
      loopP99: w.p99,
      readyzFailed: probes.failed,
    };
  }
  report('large-bodies', metrics, {
    bodies: Object.fromEntries(Object.entries(bodies).map(([k, b]) => [k, `${(b.length / mib).toFixed(1)} MiB`])),
    eventLoop:
      "the hub's monitorEventLoopDelay max over one whole 10 s window in which only that operation ran, back to back",
    readyz: '/readyz every 20 ms over one kept-alive connection, from a process of its own (readyz-probe.ts)',
    detail,
  });
} finally {
  await Promise.all([admin.close(), anon.close(), probe.close(), agent?.close()].map((p) => p?.catch(() => undefined)));
  await hub.stop();
}
