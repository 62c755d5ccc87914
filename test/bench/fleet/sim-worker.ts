// A worker thread holding a share of the simulated fleet (fleet.ts's Fleet starts several):
// its agents, their counters and what they received live here, and the main thread asks for
// them by message. Spreading the agents over threads keeps the simulator from being what a
// run measures (one thread for 10,000 agents lagged by seconds), and keeps the main thread,
// which probes the hub, free.
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { parentPort, workerData } from 'node:worker_threads';
import type { Credentials, FleetOptions } from './fleet.ts';
import { newCounters, SimAgent } from './sim-agent.ts';

export interface WorkerInit {
  credentials: Credentials[];
  options: FleetOptions;
}

/** What the main thread may ask; each answer comes back under the request's id. */
export type WorkerRequest =
  | { id: number; op: 'start'; perTick: number; everyMs: number }
  | { id: number; op: 'stop' }
  | { id: number; op: 'stopAgents'; count: number }
  | { id: number; op: 'pollingSince'; since: number }
  | { id: number; op: 'receivedBy'; key: string }
  | { id: number; op: 'counters' };

/** Running agents whose last poll was answered at or after `since`, and the latest time one of
 *  them was polling again: the send time of its first answered poll after a failure at or
 *  after `since` (or, for an agent whose polls did not fail, its last answer). */
export interface PollingSince {
  count: number;
  resumedBy: number;
}

/** The counters of one worker, as plain data. */

export interface WorkerCounters {
  polls: number;
  pollHeartbeats: number;
  pollsWithWork: number;
  heartbeats: number;
  statusPosts: number;
  errors: [string, number][];
  reconnectsPerSecond: [number, number][];
  /** This thread's event-loop delay p99 (ms) since it started. */
  loopP99Ms: number;
}

const { credentials, options } = workerData as WorkerInit;
const counters = newCounters();
/** Per work name and generation: when each agent first held it. */
const received = new Map<string, Map<string, number>>();
const agents = credentials.map(
  (c) =>
    new SimAgent(c.name, {
      hubUrl: options.hubUrl,
      caPem: options.caPem,
      keyPem: c.keyPem,
      certPem: c.certPem,
      pollWaitSeconds: options.pollWaitSeconds,
      heartbeatMs: options.heartbeatMs,
      counters,
      onWork: (agent, work, generation, at) => {
        const key = `${work}@${generation}`;
        const m = received.get(key) ?? new Map<string, number>();
        if (!m.has(agent)) m.set(agent, at);
        received.set(key, m);
      },
    }),
);
let stopped = 0;
const loop = monitorEventLoopDelay({ resolution: 20 });
loop.enable();

async function answer(req: WorkerRequest): Promise<unknown> {
  switch (req.op) {
    case 'start':
      // A few at a time, as a fleet comes up (Fleet.start sets the rate).
      for (let i = 0; i < agents.length; i += req.perTick) {
        for (const a of agents.slice(i, i + req.perTick)) a.start();
        await sleep(req.everyMs);
      }
      return null;
    case 'stop':
      await Promise.all(agents.slice(stopped).map((a) => a.stop()));
      loop.disable();
      return null;
    case 'stopAgents': {
      const gone = agents.slice(stopped, stopped + req.count);
      stopped += gone.length;
      await Promise.all(gone.map((a) => a.stop()));
      return gone.map((a) => a.name);
    }
    case 'pollingSince': {
      const back = agents.slice(stopped).filter((a) => a.lastPollAt >= req.since);
      let resumedBy = 0;
      for (const a of back) {
        const at = a.resumedAt >= req.since ? a.resumedAt : a.lastPollAt;
        if (at > resumedBy) resumedBy = at;
      }
      return { count: back.length, resumedBy } satisfies PollingSince;
    }
    case 'receivedBy': {
      const m = received.get(req.key);
      let last = 0;
      for (const at of m?.values() ?? []) if (at > last) last = at;
      return { count: m?.size ?? 0, last };
    }
    case 'counters':
      return {
        polls: counters.polls,
        pollHeartbeats: counters.pollHeartbeats,
        pollsWithWork: counters.pollsWithWork,
        heartbeats: counters.heartbeats,
        statusPosts: counters.statusPosts,
        errors: [...counters.errors],
        reconnectsPerSecond: [...counters.reconnectsPerSecond],
        loopP99Ms: loop.percentile(99) / 1e6,
      } satisfies WorkerCounters;
  }
}

parentPort?.on('message', (req: WorkerRequest) => {
  answer(req).then(
    (result) => parentPort?.postMessage({ id: req.id, result }),
    (err: unknown) => parentPort?.postMessage({ id: req.id, error: String((err as Error)?.stack ?? err) }),
  );
});
