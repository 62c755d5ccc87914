// A fleet of simulated agents (sim-agent.ts) against a real hub process, and the probes the
// fleet benchmark and its functional test read the hub with: its resident memory and CPU
// time from /proc, the sockets it holds, and /readyz latency while the fleet runs.
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { HubClient as AgentHubClient } from '../../../packages/agent/src/transport/client.ts';
import { createRegistration } from '../../../packages/agent/src/transport/hub-api.ts';
import { agentSubject, createCsr, generateKeyPair, privateKeyToPem } from '../../../packages/shared/src/index.ts';
import type { HubClient } from '../../e2e/hub-client.ts';
import { type FleetCounters, newCounters, SimAgent } from './sim-agent.ts';

export interface Credentials {
  name: string;
  keyPem: string;
  certPem: string;
}

export interface FleetOptions {
  hubUrl: string;
  caPem: string;
  pollWaitSeconds: number;
  heartbeatMs: number;
}

/** Keys and CSRs are the spokes' cost, made before the clock starts. */
export async function prepareJoiners(names: string[]): Promise<{ name: string; keyPem: string; csr: string }[]> {
  const out: { name: string; keyPem: string; csr: string }[] = [];
  for (const name of names) {
    const keys = await generateKeyPair();
    out.push({ name, keyPem: await privateKeyToPem(keys.privateKey), csr: await createCsr(keys, agentSubject(name)) });
  }
  return out;
}

/** An auto-approving bootstrap token good for `uses` joins. */
export async function fleetToken(admin: HubClient, uses: number, labels: Record<string, string> = {}): Promise<string> {
  const res = await admin.post<{ status: { token: string } }>('/api/v1/bootstraptokens', {
    spec: { ttl: '2h', usageLimit: uses, autoApprove: true, labels },
  });
  if (res.status !== 201) throw new Error(`token: ${res.status} ${res.text}`);
  return res.body.status.token;
}

/**
 * Registers every joiner through the agent API (`inFlight` at once, each on its own
 * connection, retrying with the agent's backoff on refusals), returns the credentials and
 * the registrations per second.
 */
export async function registerAll(
  o: Pick<FleetOptions, 'hubUrl' | 'caPem'>,
  token: string,
  joiners: { name: string; keyPem: string; csr: string }[],
  inFlight: number,
  onProgress?: (done: number) => void,
): Promise<{ credentials: Credentials[]; perSecond: number; refusals: number }> {
  const credentials: Credentials[] = [];
  let next = 0;
  let refusals = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: inFlight }, async () => {
      const client = new AgentHubClient(o.hubUrl, { ca: o.caPem });
      try {
        while (next < joiners.length) {
          const j = joiners[next++] as (typeof joiners)[number];
          for (let attempt = 0; ; attempt++) {
            try {
              const { view } = await createRegistration(client, { token, clusterName: j.name, csr: j.csr });
              if (view.state !== 'Approved' || !view.certificate) throw new Error(`${j.name}: ${view.state}`);
              credentials.push({ name: j.name, keyPem: j.keyPem, certPem: view.certificate });
              break;
            } catch (err) {
              refusals++;
              if (attempt >= 8) throw err;
              await sleep(Math.random() * Math.min(30_000, 500 * 2 ** attempt));
            }
          }
          if (credentials.length % 500 === 0) onProgress?.(credentials.length);
        }
      } finally {
        await client.close();
      }
    }),
  );
  return { credentials, perSecond: joiners.length / ((performance.now() - started) / 1000), refusals };
}

export class Fleet {
  readonly agents: SimAgent[];
  readonly counters: FleetCounters = newCounters();
  /** Per work name and generation: when each agent first held it. */
  readonly received = new Map<string, Map<string, number>>();

  constructor(credentials: Credentials[], o: FleetOptions) {
    this.agents = credentials.map(
      (c) =>
        new SimAgent(c.name, {
          hubUrl: o.hubUrl,
          caPem: o.caPem,
          keyPem: c.keyPem,
          certPem: c.certPem,
          pollWaitSeconds: o.pollWaitSeconds,
          heartbeatMs: o.heartbeatMs,
          counters: this.counters,
          onWork: (agent, work, generation, at) => {
            const key = `${work}@${generation}`;
            const m = this.received.get(key) ?? new Map<string, number>();
            if (!m.has(agent)) m.set(agent, at);
            this.received.set(key, m);
          },
        }),
    );
  }

  /** Starts the agents `perTick` at a time, one tick per millisecond, as a fleet comes up. */
  async start(perTick = 20): Promise<void> {
    for (let i = 0; i < this.agents.length; i += perTick) {
      for (const a of this.agents.slice(i, i + perTick)) a.start();
      await sleep(1);
    }
  }

  async stop(): Promise<void> {
    await Promise.all(this.agents.map((a) => a.stop()));
  }

  /** How many agents have held `work` at `generation`, and when the last one did. */
  receivedBy(work: string, generation: number): { count: number; last: number } {
    const m = this.received.get(`${work}@${generation}`);
    return { count: m?.size ?? 0, last: m ? Math.max(...m.values()) : 0 };
  }

  /** Agents whose last successful poll is at or after `since`. */
  pollingSince(since: number): number {
    return this.agents.filter((a) => a.lastPollAt >= since).length;
  }

  errorCounts(): Record<string, number> {
    return Object.fromEntries([...this.counters.errors].sort());
  }

  maxReconnectsInOneSecond(since: number): number {
    let max = 0;
    for (const [second, n] of this.counters.reconnectsPerSecond) if (second * 1000 >= since && n > max) max = n;
    return max;
  }
}

// --- the hub seen from outside -------------------------------------------------------------

export function procStatusMiB(pid: number, field: 'VmRSS' | 'VmHWM'): number {
  const kb = new RegExp(`${field}:\\s+(\\d+)\\s+kB`).exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
  return Number(kb ?? Number.NaN) / 1024;
}

/** User + system CPU seconds the process has used. */
export function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // utime and stime are fields 14 and 15 of stat, 12 and 13 after the command name.
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

export function socketCount(pid: number): number {
  let n = 0;
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      if (readlinkSync(`/proc/${pid}/fd/${fd}`).startsWith('socket:')) n++;
    } catch {
      // closed meanwhile
    }
  }
  return n;
}

/** Probes /readyz every `everyMs` until stopped; keeps every latency (ms) and failures. */
export function readyzProbe(
  hub: HubClient,
  everyMs = 250,
): { stop(): Promise<{ latencies: number[]; failures: number }> } {
  const latencies: number[] = [];
  let failures = 0;
  let running = true;
  const loop = (async () => {
    while (running) {
      const t0 = performance.now();
      try {
        const res = await hub.get('/readyz', { timeoutMs: 60_000 });
        if (res.status === 200) latencies.push(performance.now() - t0);
        else failures++;
      } catch {
        failures++;
      }
      await sleep(everyMs);
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
      return { latencies, failures };
    },
  };
}
