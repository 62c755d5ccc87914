// The fleet run, phase by phase, against one real hub process on loopback: registration,
// idle, fan-out of one workset to every cluster, a one-manifest change, a SIGTERM restart,
// a SIGKILL restart, and dead-agent detection. Shared by the benchmark (fleet.bench.ts,
// figures) and the functional test (test/e2e/fleet.test.ts, nothing lost). Every wait is
// bounded; every process is stopped at the end.
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { adminClient, type HubClient } from '../../e2e/hub-client.ts';
import { type HubProcess, startHub } from '../../e2e/hub-process.ts';
import type { Metric } from '../lib.ts';
import { quantile } from '../lib.ts';
import {
  cpuSeconds,
  cpuShares,
  Fleet,
  fleetToken,
  prepareJoiners,
  procStatusMiB,
  readyzProbe,
  registerAll,
  socketCount,
} from './fleet.ts';

export interface FleetRunOptions {
  agents: number;
  /** The hub's --poll-timeout and the agents' wait, seconds. */
  pollSeconds: number;
  heartbeatMs: number;
  /** The hub's --missed-polls. */
  missedPolls: number;
  idleMs: number;
  /** Threads the simulated agents are spread over (default 2 from 1,000 agents, else 1). */
  workers?: number;
  /** Agents stopped for the dead-agent phase. */
  dead: number;
  registerInFlight: number;
  say: (line: string) => void;
}

export interface FleetRunResult {
  metrics: Record<string, Metric>;
  notes: Record<string, unknown>;
  /** What the functional test checks: every count that must equal `agents`. */
  complete: {
    registered: number;
    pollingAtStart: number;
    receivedFanOut: number;
    appliedFanOut: number;
    receivedChange: number;
    appliedChange: number;
    backAfterSigterm: number;
    backAfterSigkill: number;
    deadDetected: number;
    /** Heartbeats the agents sent on their own while idle (polls carry them: none expected). */
    ownHeartbeatsWhileIdle: number;
    /** Sockets the hub held while the fleet idled (listeners and admin included). */
    socketsWhileIdle: number;
  };
}

const workset = 'fleet-demo';

/**
 * A workset (default `fleet-demo`) of one ConfigMap of its name to a placement (default
 * `fleet-all`: every cluster at once), rolled out to all at once; paused if asked.
 */
export function worksetBody(value: string, o: { name?: string; placement?: string; paused?: boolean } = {}) {
  const name = o.name ?? workset;
  return {
    apiVersion: 'work.open-cluster-management.io/v1alpha1',
    kind: 'ManifestWorkReplicaSet',
    metadata: { name, namespace: 'default' },
    spec: {
      manifestWorkTemplate: {
        workload: {
          manifests: [
            {
              apiVersion: 'v1',
              kind: 'ConfigMap',
              metadata: { name, namespace: 'default' },
              data: { value },
            },
          ],
        },
      },
      placementRefs: [{ name: o.placement ?? 'fleet-all', rolloutStrategy: { type: 'All' } }],
      ...(o.paused ? { paused: true } : {}),
    },
  };
}

/** `check`'s first value other than undefined, asked every `everyMs`; undefined after `timeoutMs`. */
export async function until<T>(check: () => Promise<T | undefined> | T | undefined, timeoutMs: number, everyMs = 200) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v !== undefined) return v;
    if (Date.now() > deadline) return undefined;
    await sleep(everyMs);
  }
}

const seconds = (ms: number) => Math.round(ms) / 1000;

/** The value of one series of a /metrics text (`series` as written, labels included); NaN
 *  when the hub does not report it. */
function metricValue(text: string, series: string): number {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? Number.NaN : Number(line.slice(series.length + 1));
}

export async function runFleet(o: FleetRunOptions): Promise<FleetRunResult> {
  const names = Array.from({ length: o.agents }, (_, i) => `fleet-${String(i).padStart(5, '0')}`);
  const hubArgs = [
    '--poll-timeout',
    `${o.pollSeconds}s`,
    '--missed-polls',
    String(o.missedPolls),
    '--log-level',
    'warn',
  ];
  let hub: HubProcess = await startHub({ args: hubArgs });
  const dataDir = hub.dataDir;
  const port = hub.port;
  let admin: HubClient = await adminClient(hub);
  const metrics: Record<string, Metric> = {};
  const notes: Record<string, unknown> = {};
  const complete: FleetRunResult['complete'] = {
    registered: 0,
    pollingAtStart: 0,
    receivedFanOut: 0,
    appliedFanOut: 0,
    receivedChange: 0,
    appliedChange: 0,
    backAfterSigterm: 0,
    backAfterSigkill: 0,
    deadDetected: 0,
    ownHeartbeatsWhileIdle: 0,
    socketsWhileIdle: 0,
  };
  let fleet: Fleet | undefined;
  // The simulator's own loop: a late timer here means the figures below are the simulator's.
  const simLoop = monitorEventLoopDelay({ resolution: 20 });
  simLoop.enable();
  const restart = async (signal: 'SIGTERM' | 'SIGKILL') => {
    await admin.close();
    const t0 = performance.now();
    await hub.stop({ signal, keepDataDir: true });
    const stopMs = performance.now() - t0;
    const t1 = performance.now();
    // Agents reconnect as soon as the new process listens, before /readyz answers here.
    const startAt = Date.now();
    hub = await startHub({ dataDir, args: [...hubArgs, '--listen', `127.0.0.1:${port}`], timeoutMs: 120_000 });
    admin = await adminClient(hub);
    await until(async () => ((await admin.get('/readyz')).status === 200 ? true : undefined), 60_000, 50);
    return { stopMs, readyMs: performance.now() - t1, readyAt: Date.now(), startAt };
  };

  try {
    // 1. Registration.
    o.say(`preparing ${o.agents} keys and CSRs…`);
    const joiners = await prepareJoiners(names);
    const token = await fleetToken(admin, o.agents, { fleet: 'sim' });
    o.say(`registering ${o.agents} agents (${o.registerInFlight} in flight)…`);
    const probe1 = readyzProbe(admin);
    const reg = await registerAll({ hubUrl: hub.url, caPem: hub.caCertPem }, token, joiners, o.registerInFlight, (n) =>
      o.say(`  ${n} registered`),
    );
    const r1 = await probe1.stop();
    complete.registered = reg.credentials.length;
    metrics.registrations_per_second = { value: reg.perSecond, unit: 'registrations/s', target: '>= 200' };
    metrics.readyz_max_while_registering = { value: Math.max(0, ...r1.latencies), unit: 'ms' };
    notes.registration_refusals = reg.refusals;

    // 2. The fleet comes up and idles.
    await admin.call('PUT', '/api/v1/placements/fleet-all', {
      json: { metadata: { name: 'fleet-all' }, spec: { predicates: [] } },
    });
    fleet = new Fleet(reg.credentials, {
      hubUrl: hub.url,
      caPem: hub.caCertPem,
      pollWaitSeconds: o.pollSeconds,
      heartbeatMs: o.heartbeatMs,
      workers: o.workers ?? (o.agents >= 1000 ? 2 : 1),
    });
    const started = Date.now();
    await fleet.start();
    const f = fleet;
    const allPolling = await until(
      async () => ((await f.pollingSince(started)) === o.agents ? Date.now() : undefined),
      120_000,
      250,
    );
    complete.pollingAtStart = await fleet.pollingSince(started);
    metrics.fleet_up_seconds = { value: allPolling ? seconds(allPolling - started) : Number.NaN, unit: 's' };
    o.say(`${complete.pollingAtStart} of ${o.agents} polling; idling ${o.idleMs / 1000} s…`);
    await sleep(Math.min(10_000, o.idleMs / 3));
    const counters0 = await fleet.counters();
    const beats0 = counters0.heartbeats;
    const cpu0 = cpuSeconds(hub.proc.pid as number);
    const shares = cpuShares(() => hub.proc.pid as number);
    const cpuByPhase: Record<string, ReturnType<typeof shares.stop>> = {};
    notes.cpu_by_phase = cpuByPhase;
    const t0 = performance.now();
    const probe2 = readyzProbe(admin);
    // The hub's own event-loop delay: the last 10 s window its /metrics reports, read once after
    // the idle phase. Not more often: each scrape older than 5 s starts a snapshot
    // pass over every cluster and work, and scrapes every 2 s at 10,000 agents raised the idle
    // CPU and delayed the next phases (docs/architecture.md, Sizing).
    const readLoop = async () => {
      const text = (await admin.get('/metrics')).text;
      return {
        p99: metricValue(text, 'outpost_event_loop_delay_seconds{quantile="0.99"}') * 1000,
        max: metricValue(text, 'outpost_event_loop_delay_seconds{quantile="1"}') * 1000,
      };
    };
    await sleep(o.idleMs);
    const idle = await probe2.stop();
    const pid = hub.proc.pid as number;
    const idleCpuSeconds = cpuSeconds(pid) - cpu0;
    cpuByPhase.idle = shares.stop();
    metrics.hub_cpu_idle = {
      value: (100 * idleCpuSeconds) / ((performance.now() - t0) / 1000),
      unit: '% of a core',
      target: '<= 25 (10,000 agents)',
    };
    metrics.hub_rss_idle = { value: procStatusMiB(pid, 'VmRSS'), unit: 'MiB', target: '<= 1536 (10,000 agents)' };
    metrics.hub_vmhwm_idle = { value: procStatusMiB(pid, 'VmHWM'), unit: 'MiB' };
    complete.socketsWhileIdle = socketCount(pid, hub.port);
    const idleCounters = await fleet.counters();
    complete.ownHeartbeatsWhileIdle = idleCounters.heartbeats - beats0;
    metrics.hub_sockets_idle = { value: complete.socketsWhileIdle, unit: 'sockets', target: 'one per agent' };
    const loopWindow = await readLoop(); // after the CPU figure: the scrape is not idling
    metrics.event_loop_delay_p99_idle = {
      value: loopWindow.p99,
      unit: "ms (the hub's last 10 s window, from its /metrics)",
      target: '<= 50',
    };
    metrics.event_loop_delay_max_idle = { value: loopWindow.max, unit: 'ms' };
    metrics.readyz_p99_idle = { value: quantile(idle.latencies, 0.99), unit: 'ms' };
    metrics.readyz_max_idle = { value: Math.max(0, ...idle.latencies), unit: 'ms' };
    // What a poll costs the hub, whatever the agents' jittered poll rate in this run.
    metrics.hub_cpu_ms_per_poll_idle = {
      value: (1000 * idleCpuSeconds) / Math.max(1, idleCounters.polls - counters0.polls),
      unit: 'ms of hub CPU per answered poll while idle',
    };
    notes.idle_requests = {
      polls: idleCounters.polls,
      pollsCarryingHeartbeats: idleCounters.pollHeartbeats,
      heartbeats: idleCounters.heartbeats,
    };

    // 3. Fan-out of one workset to every cluster, then a one-manifest change.
    for (const [phase, generation, value] of [
      ['fanout', 1, 'one'],
      ['change', 2, 'two'],
    ] as const) {
      const t = Date.now();
      shares.start();
      const res = await admin.call('PUT', `/api/v1/worksets/${workset}`, { json: worksetBody(value) });
      if (res.status !== 200 && res.status !== 201) throw new Error(`workset: ${res.status} ${res.text}`);
      const budget = 60_000 + o.agents * 20;
      await until(
        async () => ((await f.receivedBy(workset, generation)).count === o.agents ? true : undefined),
        budget,
      );
      const got = await fleet.receivedBy(workset, generation);
      const applied = await until(
        async () => {
          const s = (
            await admin.get<{ status?: { summary?: { applied?: number; total?: number } } }>(
              `/api/v1/worksets/${workset}`,
            )
          ).body.status?.summary;
          return s?.applied === o.agents && s.total === o.agents ? Date.now() : undefined;
        },
        budget,
        500,
      );
      const summary = (await admin.get<{ status?: { summary?: { applied?: number } } }>(`/api/v1/worksets/${workset}`))
        .body.status?.summary;
      if (phase === 'fanout') {
        complete.receivedFanOut = got.count;
        complete.appliedFanOut = summary?.applied ?? 0;
      } else {
        complete.receivedChange = got.count;
        complete.appliedChange = summary?.applied ?? 0;
      }
      metrics[`${phase}_all_received`] = {
        value: got.count === o.agents ? seconds(got.last - t) : Number.NaN,
        unit: 's',
      };
      metrics[`${phase}_all_applied_at_hub`] = {
        value: applied ? seconds(applied - t) : Number.NaN,
        unit: 's',
        target: '<= 30 (10,000 agents)',
      };
      cpuByPhase[phase] = shares.stop();
      notes[`${phase}_missing`] = { received: o.agents - got.count, applied: o.agents - (summary?.applied ?? 0) };
      o.say(`${phase}: ${got.count} received, ${summary?.applied ?? 0} Applied at the hub`);
    }
    metrics.hub_vmhwm_after_rollout = { value: procStatusMiB(hub.proc.pid as number, 'VmHWM'), unit: 'MiB' };

    // 4. Restarts: SIGTERM, then SIGKILL; until every agent polls the new process.
    for (const signal of ['SIGTERM', 'SIGKILL'] as const) {
      if (signal === 'SIGKILL') {
        // A steady fleet before the kill: after the SIGTERM restart each agent's poll that
        // carried its inventory (the new process asked for it) is held for a poll wait; one
        // still held at the kill would be sent again and held again, which is the SIGTERM's
        // tail, not the kill's.
        await sleep(o.pollSeconds * 1100 + 5000);
      }
      const errorsBefore = await fleet.errorCounts();
      const r = await restart(signal);
      shares.start();
      // Seen from the hub: the first moment every agent has a poll held by the new process.
      // It keeps looking for 30 s after every agent had a poll answered, then gives up.
      let heldAll: number | undefined;
      let giveUpAt = Number.POSITIVE_INFINITY;
      const budget = 120_000 + o.agents * 30;
      const held = until(
        async () => {
          try {
            const text = (await admin.get('/metrics')).text;
            if (metricValue(text, 'outpost_longpoll_waiting') >= o.agents) heldAll = Date.now();
          } catch {
            // A scrape that failed (the new process busy) is tried again next second.
          }
          return heldAll ?? (Date.now() > giveUpAt ? 0 : undefined);
        },
        budget,
        1000,
      );
      const back = await until(
        async () => ((await f.pollingSince(r.startAt)) === o.agents ? Date.now() : undefined),
        budget,
        250,
      );
      const { count: n, resumedBy } = await fleet.resumedSince(r.startAt);
      giveUpAt = Date.now() + 30_000;
      await held;
      const errorsAfter = await fleet.errorCounts();
      const key = signal.toLowerCase();
      cpuByPhase[key] = shares.stop();
      if (signal === 'SIGTERM') complete.backAfterSigterm = n;
      else complete.backAfterSigkill = n;
      metrics[`${key}_hub_stop`] = { value: seconds(r.stopMs), unit: 's' };
      metrics[`${key}_restart_to_ready`] = { value: seconds(r.readyMs), unit: 's' };
      // An agent polls again from when it sends the first poll the new process answers (the
      // new process knows nothing of its works and asks for its inventory at once; the poll
      // that brings it is then held for a poll wait, so "every agent answered" comes later).
      metrics[`${key}_all_polling_again`] = {
        value: back && resumedBy ? seconds(resumedBy - r.startAt) : Number.NaN,
        unit: "s after the new process started (send time of the last agent's first answered poll)",
        target: '<= 60 (10,000 agents)',
      };
      metrics[`${key}_all_held_at_hub`] = {
        value: heldAll ? seconds(heldAll - r.startAt) : Number.NaN,
        unit: "s after the new process started (the hub's held polls, outpost_longpoll_waiting, first reached the fleet's size; read each second)",
      };
      metrics[`${key}_all_answered_again`] = {
        value: back ? seconds(back - r.startAt) : Number.NaN,
        unit: 's after the new process started (every agent had a poll answered)',
      };
      metrics[`${key}_max_reconnects_in_one_second`] = {
        value: await fleet.maxReconnectsInOneSecond(r.startAt - 1000),
        unit: 'agents',
      };
      notes[`${key}_errors`] = Object.fromEntries(
        Object.entries(errorsAfter)
          .map(([k, v]) => [k, v - (errorsBefore[k] ?? 0)])
          .filter(([, v]) => (v as number) > 0),
      );
      notes[`${key}_back`] = n;
      // The new process's handshakes: how many of the fleet's reconnects resumed their session.
      const text = (await admin.get('/metrics')).text;
      const handshakes = (resumed: boolean) => metricValue(text, `outpost_tls_handshakes_total{resumed="${resumed}"}`);
      notes[`${key}_tls_handshakes`] = { full: handshakes(false), resumed: handshakes(true) };
      o.say(`${signal}: ${n} of ${o.agents} polling again`);
    }

    // 5. Dead agents: stopped without a word; until the hub says Available=Unknown.
    const t5 = Date.now();
    const dead = await fleet.stopAgents(o.dead);
    const detected = new Map<string, number>();
    await until(
      async () => {
        for (const name of dead) {
          if (detected.has(name)) continue;
          const c = (
            await admin.get<{ status?: { conditions?: { type: string; status: string }[] } }>(
              `/api/v1/clusters/${name}`,
            )
          ).body;
          if (c.status?.conditions?.find((x) => x.type === 'Available')?.status === 'Unknown')
            detected.set(name, Date.now());
        }
        return detected.size === dead.length ? true : undefined;
      },
      (o.missedPolls + 2) * o.pollSeconds * 1000 + 60_000,
      1000,
    );
    complete.deadDetected = detected.size;
    metrics.dead_agent_detected = {
      value: detected.size === dead.length ? seconds(Math.max(...detected.values()) - t5) : Number.NaN,
      unit: 's (slowest of the stopped agents)',
      target: '<= 35',
    };
    metrics.hub_vmhwm_end = { value: procStatusMiB(hub.proc.pid as number, 'VmHWM'), unit: 'MiB' };
    const end = await fleet.counters();
    notes.errors_total = end.errors;
    notes.simulator_event_loop_delay_p99_ms = {
      main: simLoop.percentile(99) / 1e6,
      slowestWorker: end.loopP99Ms,
    };
    notes.simulator_workers = o.workers ?? (o.agents >= 1000 ? 2 : 1);
    notes.agents = o.agents;
    notes.poll_seconds = o.pollSeconds;
    notes.heartbeat_seconds = o.heartbeatMs / 1000;
    return { metrics, notes, complete };
  } finally {
    simLoop.disable();
    await fleet?.stop();
    await admin.close();
    await hub.stop();
  }
}
