// The agent's memory with CRD-heavy works, on real processes (a hub, an agent joined with
// --kubeconfig, a real kube-apiserver + etcd as the spoke): six operator-like works of
// about 380 objects in all, one of them about 5 MB, mostly CustomResourceDefinitions with
// large openAPIV3Schemas (crd-works.ts makes them, deterministically). Measured:
//  1. the agent's resident memory idle, then after the six works were delivered through the
//     hub and Applied and it settled, and its peak (VmHWM) over that delivery;
//  2. the same after a restart of the agent with the works in its state Secrets (it loads
//     them and re-applies everything before the hub is asked), and its peak over that;
//  3. the delivery time (PUTs → all Applied at the hub) and each work's own apply pass.
// Where the memory is: anonymous (heaps, malloc) vs file-backed (node's code) from
// smaps_rollup, and V8's heap and external memory from the agent's debug log.
// OUTPOST_BENCH_SETTLE_MS changes the wait before each measurement (default 10 s).
// For investigation, OUTPOST_BENCH_DIAG=DIR writes the agent's memory map (smaps) and its log
// so far at each measurement into DIR, and with OUTPOST_BENCH_DIAG_HEAP=1 a heap snapshot after it (which
// raises the figures after it).
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { type AgentProcess, joinSpoke, startAgent } from '../e2e/agent-process.ts';
import { adminClient, type HubClient } from '../e2e/hub-client.ts';
import { type HubProcess, startHub } from '../e2e/hub-process.ts';
import { ensureKubeBinaries, type KubeCluster, startCluster } from '../kube/index.ts';
import { crdWorks } from './crd-works.ts';
import { KubeRaw, type LogLine, logLines, rssBreakdown, rssMiB } from './delivery-lib.ts';
import { type Metric, report } from './lib.ts';

const settleMs = Number(process.env.OUTPOST_BENCH_SETTLE_MS ?? 10_000);
const watchdogMs = 8 * 60_000;
const cluster = 'spoke-crds';
const diagDir = process.env.OUTPOST_BENCH_DIAG ? resolve(process.env.OUTPOST_BENCH_DIAG) : undefined;
const heapSnapshots = diagDir !== undefined && process.env.OUTPOST_BENCH_DIAG_HEAP === '1';

const scratch = mkdtempSync(join(tmpdir(), 'outpost-bench-crds-'));
const dirsToRemove = new Set<string>([scratch]);
process.on('exit', () => {
  for (const d of dirsToRemove) rmSync(d, { recursive: true, force: true });
});
const watchdog = setTimeout(() => {
  process.stderr.write(`delivery-crds bench: watchdog after ${watchdogMs / 1000} s; stopping\n`);
  process.exit(1);
}, watchdogMs);

const say = (s: string) => process.stdout.write(`${s}\n`);
const since = (t0: number) => performance.now() - t0;

interface WorkView {
  metadata: { generation: number };
  status?: { conditions?: { type: string; status: string }[]; observedGeneration?: number };
}

const appliedAt = (w: WorkView | undefined, generation: number) =>
  w?.status?.observedGeneration === generation &&
  w.status.conditions?.some((c) => c.type === 'Applied' && c.status === 'True') === true;

let kube: KubeCluster | undefined;
let hub: HubProcess | undefined;
let admin: HubClient | undefined;
let kraw: KubeRaw | undefined;
let agent: AgentProcess | undefined;

async function waitApplied(name: string, generation: number, timeoutMs = 60_000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const res = await (admin as HubClient).get<WorkView>(`/api/v1/clusters/${cluster}/works/${name}`);
    if (res.status === 200 && appliedAt(res.body, generation)) return;
    if (performance.now() > deadline) {
      throw new Error(
        `work ${name} not Applied at generation ${generation}: ${JSON.stringify(res.body?.status?.conditions)}`,
      );
    }
    await sleep(50);
  }
}

/** Waits until the spoke's discovery lists the resource of every CRD among `manifests`. */
async function waitServed(manifests: Record<string, unknown>[], timeoutMs = 60_000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  for (const m of manifests) {
    if (m.kind !== 'CustomResourceDefinition') continue;
    const spec = m.spec as { group: string; names: { plural: string } };
    for (;;) {
      const res = await (kraw as KubeRaw).call('GET', `/apis/${spec.group}/v1`);
      const served =
        res.status === 200 &&
        (JSON.parse(res.text) as { resources?: { name: string }[] }).resources?.some(
          (r) => r.name === spec.names.plural,
        );
      if (served) break;
      if (performance.now() > deadline) throw new Error(`${spec.names.plural}.${spec.group} not served`);
      await sleep(100);
    }
  }
}

function runWorkAgent(): AgentProcess {
  return startAgent(
    [
      'run',
      '--kubeconfig',
      (kube as KubeCluster).kubeconfigPath,
      '--poll-wait',
      '30s',
      '--resync-interval',
      '1h',
      '--log-level',
      'debug',
    ],
    heapSnapshots ? { env: { NODE_OPTIONS: `--heapsnapshot-signal=SIGUSR2 --diagnostic-dir=${diagDir}` } } : {},
  );
}

/** The agent's last `memory` debug line (process.memoryUsage(), MiB) since `mark`. */
function lastMemoryLine(a: AgentProcess, mark: number): LogLine | undefined {
  return logLines(a.stdout().slice(mark))
    .filter((l) => l.msg === 'memory')
    .at(-1);
}

interface Sample {
  rss: number;
  peak: number;
  anonymous: number;
  fileBacked: number;
  heapUsed: number;
  heapTotal: number;
  external: number;
}

/** Settles, then reads the agent's memory from /proc and its own last report. */
async function sample(a: AgentProcess, what: string): Promise<Sample> {
  const pid = a.proc.pid as number;
  const mark = a.stdout().length;
  await sleep(settleMs);
  const parts = rssBreakdown(pid);
  const out: Sample = {
    rss: rssMiB(pid),
    peak: rssMiB(pid, 'VmHWM'),
    anonymous: parts.anonymous ?? Number.NaN,
    fileBacked: parts.fileBacked ?? Number.NaN,
    heapUsed: Number.NaN,
    heapTotal: Number.NaN,
    external: Number.NaN,
  };
  const mem = lastMemoryLine(a, mark);
  if (mem) {
    out.heapUsed = Number(mem.heapUsedMiB);
    out.heapTotal = Number(mem.heapTotalMiB);
    out.external = Number(mem.externalMiB);
  }
  say(
    `  ${what}: VmRSS ${out.rss.toFixed(1)} MiB (anonymous ${out.anonymous.toFixed(1)}, file-backed ${out.fileBacked.toFixed(1)}), ` +
      `VmHWM ${out.peak.toFixed(1)} MiB; V8 heap ${out.heapUsed.toFixed(1)}/${out.heapTotal.toFixed(1)} MiB, external ${out.external.toFixed(1)} MiB`,
  );
  if (diagDir) {
    writeFileSync(join(diagDir, `${what}.smaps`), readFileSync(`/proc/${pid}/smaps`));
    writeFileSync(join(diagDir, `${what}.log`), a.stdout());
  }
  if (heapSnapshots) {
    a.proc.kill('SIGUSR2');
    await sleep(5_000);
  }
  return out;
}

/** Resolves when the agent logged an apply pass ('work applied') for every name, since `mark`. */
async function waitPasses(a: AgentProcess, mark: number, names: string[], timeoutMs = 180_000): Promise<LogLine[]> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const lines = logLines(a.stdout().slice(mark)).filter(
      (l) => l.msg === 'work applied' || l.msg === 'work applied with failures',
    );
    const found = names.map((n) => lines.find((l) => l.work === n));
    if (found.every(Boolean)) return found as LogLine[];
    if (performance.now() > deadline) throw new Error(`no apply pass of every work in ${timeoutMs} ms`);
    await sleep(100);
  }
}

const loadBefore = loadavg()[0];

async function main(): Promise<void> {
  await ensureKubeBinaries();
  if (diagDir) mkdirSync(diagDir, { recursive: true });
  const works = crdWorks();
  const objects = works.reduce((n, w) => n + w.manifests.length, 0);
  const sizes = Object.fromEntries(works.map((w) => [w.name, JSON.stringify(w.manifests).length]));
  const largest = Math.max(...Object.values(sizes));
  say(
    `${works.length} works, ${objects} objects, ${(Object.values(sizes).reduce((a, b) => a + b, 0) / 1e6).toFixed(2)} MB of manifests (largest ${(largest / 1e6).toFixed(2)} MB)`,
  );

  say('starting kube-apiserver and hub…');
  kube = await startCluster({ name: cluster });
  kraw = new KubeRaw(kube, 1);
  hub = await startHub({ args: ['--log-level', 'warn'] });
  dirsToRemove.add(hub.dataDir);
  admin = await adminClient(hub, { connections: 1 });

  await joinSpoke(hub, admin, cluster, kube.kubeconfigPath);

  // --- 1. delivery through the hub --------------------------------------------------------
  agent = runWorkAgent();
  await agent.waitForOutput(/serving cluster spoke-crds/);
  say('agent running; settling for the idle figure…');
  const idle = await sample(agent, 'idle');

  say('delivering the six works…');
  const mark = agent.stdout().length;
  const t0 = performance.now();
  for (const w of works) {
    const res = await admin.call<WorkView>('PUT', `/api/v1/clusters/${cluster}/works/${w.name}`, {
      json: {
        apiVersion: 'work.open-cluster-management.io/v1',
        kind: 'ManifestWork',
        metadata: { name: w.name, namespace: cluster },
        spec: { workload: { manifests: w.manifests } },
      },
      timeoutMs: 60_000,
    });
    if (res.status !== 200 && res.status !== 201) throw new Error(`PUT ${w.name}: ${res.status} ${res.text}`);
    // In turn, as operators are installed: a work's custom resources need the CRDs of an
    // earlier work served first. The agent learns kinds of CRDs of another work only from
    // discovery, so the next work waits until the spoke's discovery serves them.
    await waitApplied(w.name, res.body.metadata.generation);
    await waitServed(w.manifests);
  }
  const deliveryMs = since(t0);
  const passes = await waitPasses(
    agent,
    mark,
    works.map((w) => w.name),
  );
  const crds = await kraw.count('/apis/apiextensions.k8s.io/v1/customresourcedefinitions');
  say(`all six Applied in ${deliveryMs.toFixed(0)} ms (${crds} CRDs on the spoke); settling…`);
  const delivered = await sample(agent, 'delivered');

  // --- 2. a restart with the works in the state Secrets --------------------------------------
  const stopped = await agent.stop();
  const warnings = logLines(stopped.stdout)
    .filter((l) => l.level >= 40)
    .map((l) => l.msg);
  agent = runWorkAgent();
  const t1 = performance.now();
  const restartPasses = await waitPasses(
    agent,
    0,
    works.map((w) => w.name),
  );
  const restartMs = since(t1);
  say(`restarted agent re-applied all six in ${restartMs.toFixed(0)} ms; settling…`);
  const restarted = await sample(agent, 'restarted');
  const stopped2 = await agent.stop();
  agent = undefined;
  warnings.push(
    ...logLines(stopped2.stdout)
      .filter((l) => l.level >= 40)
      .map((l) => l.msg),
  );

  // --- report -----------------------------------------------------------------------------
  const mib = (value: number, target?: string): Metric => ({ value, unit: 'MiB', ...(target ? { target } : {}) });
  const passMs = (lines: LogLine[]) => Object.fromEntries(lines.map((l) => [String(l.work), Number(l.ms)]));
  const metrics: Record<string, Metric> = {
    works: { value: works.length, unit: 'count' },
    objects: { value: objects, unit: 'count' },
    largest_work: { value: largest / 1e6, unit: 'MB', target: 'JSON of its manifests' },
    agent_rss_idle: mib(idle.rss, '<= 100'),
    agent_rss_delivered: mib(delivered.rss, '<= 100'),
    agent_rss_delivered_peak: mib(delivered.peak, 'VmHWM: start, idle and the delivery'),
    agent_rss_delivered_anonymous: mib(delivered.anonymous, 'heaps and malloc'),
    agent_rss_delivered_file_backed: mib(delivered.fileBacked, 'code pages of node'),
    agent_heap_used_delivered: mib(delivered.heapUsed, 'V8 heap in use (process.memoryUsage)'),
    agent_heap_total_delivered: mib(delivered.heapTotal),
    agent_external_delivered: mib(delivered.external, 'Buffers and other memory V8 knows of'),
    agent_rss_restarted: mib(restarted.rss, '<= 100'),
    agent_rss_restarted_peak: mib(restarted.peak, 'VmHWM: load from the state Secrets and re-apply all'),
    agent_rss_restarted_anonymous: mib(restarted.anonymous),
    agent_heap_used_restarted: mib(restarted.heapUsed),
    delivery: { value: deliveryMs, unit: 'ms', target: 'first PUT at the hub → the last work Applied at the hub' },
    restart_reapply: { value: restartMs, unit: 'ms', target: 'agent start → every work re-applied' },
  };
  report('delivery-crds', metrics, {
    method: {
      works:
        'crd-works.ts: 17 CRDs (openAPIV3Schema with thousands of described properties, 40-720 KB each), custom resources filled from their schemas, Namespaces, ServiceAccounts, (Cluster)Roles and bindings, Deployments, Services, ConfigMaps',
      rss: `VmRSS and VmHWM of the agent process (node packages/agent/main.mjs run, compile cache warm, --log-level debug), each ${settleMs / 1000} s after the phase ended; anonymous/file-backed from smaps_rollup; V8 heap from the agent's last 'memory' debug line`,
      delivery:
        'each work PUT at the hub once the one before is Applied (GET every 50 ms), as operator stacks are installed',
      restart: 'SIGTERM, then a new agent process on the same state Secrets: it loads them and re-applies every work',
    },
    work_json_bytes: sizes,
    apply_pass_ms: passMs(passes),
    apply_pass_ms_after_restart: passMs(restartPasses),
    idle: idle,
    delivered: delivered,
    restarted: restarted,
    crds_on_spoke: crds,
    agent_warnings: warnings.slice(0, 20),
    load_average_1m: { before: loadBefore, after: loadavg()[0] },
  });
}

try {
  await main();
} finally {
  await agent?.stop().catch(() => {});
  await admin?.close().catch(() => {});
  await kraw?.close().catch(() => {});
  await hub?.stop().catch(() => {});
  await kube?.stop().catch(() => {});
  rmSync(scratch, { recursive: true, force: true });
  clearTimeout(watchdog);
}
