// A fleet of simulated agents (sim-agent.ts) against a real hub process, and the probes the
// fleet benchmark and its functional test read the hub with: its resident memory and CPU
// time from /proc, the sockets it holds, and /readyz latency while the fleet runs.
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { Worker } from 'node:worker_threads';
import { HubClient as AgentHubClient } from '../../../packages/agent/src/transport/client.ts';
import { createRegistration } from '../../../packages/agent/src/transport/hub-api.ts';
import { agentSubject, createCsr, generateKeyPair, privateKeyToPem } from '../../../packages/shared/src/index.ts';
import type { HubClient } from '../../e2e/hub-client.ts';
import type { PollingSince, WorkerCounters, WorkerInit, WorkerRequest } from './sim-worker.ts';

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

/**
 * The simulated fleet, spread over `workers` threads (sim-worker.ts), each holding its share
 * of the agents. Every question is a message round trip, so the answers are promises.
 */
export class Fleet {
  readonly size: number;
  readonly #workers: Worker[] = [];
  readonly #pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  #nextId = 0;
  readonly #dead = new Map<Worker, Error>();

  constructor(credentials: Credentials[], o: FleetOptions & { workers: number }) {
    this.size = credentials.length;
    const n = Math.max(1, Math.min(o.workers, credentials.length));
    const { workers: _, ...options } = o;
    for (let w = 0; w < n; w++) {
      const share = credentials.filter((_c, i) => i % n === w);
      const worker = new Worker(new URL('./sim-worker.ts', import.meta.url), {
        workerData: { credentials: share, options } satisfies WorkerInit,
      });
      worker.on('message', (m: { id: number; result?: unknown; error?: string }) => {
        const p = this.#pending.get(m.id);
        this.#pending.delete(m.id);
        if (m.error !== undefined) p?.reject(new Error(m.error));
        else p?.resolve(m.result);
      });
      // A worker that failed or exited answers nothing more: every question to it is refused
      // at once (a run must fail, not hang).
      const gone = (err: Error) => {
        this.#dead.set(worker, err);
        for (const p of this.#pending.values()) p.reject(err);
        this.#pending.clear();
      };
      worker.on('error', gone);
      worker.on('exit', (code) => {
        if (!this.#dead.has(worker)) gone(new Error(`a simulator thread exited (${code})`));
      });
      this.#workers.push(worker);
    }
  }

  #ask<T>(worker: Worker, req: DistributiveOmit<WorkerRequest, 'id'>): Promise<T> {
    const dead = this.#dead.get(worker);
    if (dead) return Promise.reject(dead);
    const id = this.#nextId++;
    return new Promise<T>((resolve, reject) => {
      this.#pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      worker.postMessage({ ...req, id });
    });
  }

  #all<T>(req: DistributiveOmit<WorkerRequest, 'id'>): Promise<T[]> {
    return Promise.all(this.#workers.map((w) => this.#ask<T>(w, req)));
  }

  /**
   * Starts the agents at `perSecond` across the workers, as a fleet comes up: each one's first
   * connection is a full TLS handshake (no session yet), and a hub makes several hundred a
   * second on this machine, so 10,000 started within half a second timed out in the queue
   * and backed off (a run's idle figures then included that storm).
   */
  async start(perSecond = 500): Promise<void> {
    const everyMs = 10;
    const perTick = Math.max(1, Math.round((perSecond * everyMs) / 1000 / this.#workers.length));
    await this.#all({ op: 'start', perTick, everyMs });
  }

  async stop(): Promise<void> {
    try {
      await this.#all({ op: 'stop' });
    } finally {
      // Stopped on purpose: their exits are no failure.
      for (const w of this.#workers) this.#dead.set(w, new Error('the simulator was stopped'));
      await Promise.all(this.#workers.map((w) => w.terminate()));
    }
  }

  /** Stops `count` agents without a word (spread over the workers); returns their names. */
  async stopAgents(count: number): Promise<string[]> {
    const n = this.#workers.length;
    const names = await Promise.all(
      this.#workers.map((w, i) =>
        this.#ask<string[]>(w, { op: 'stopAgents', count: Math.floor(count / n) + (i < count % n ? 1 : 0) }),
      ),
    );
    return names.flat();
  }

  /** How many agents have held `work` at `generation`, and when the last one did. */
  async receivedBy(work: string, generation: number): Promise<{ count: number; last: number }> {
    const parts = await this.#all<{ count: number; last: number }>({ op: 'receivedBy', key: `${work}@${generation}` });
    return {
      count: parts.reduce((a, p) => a + p.count, 0),
      last: Math.max(0, ...parts.map((p) => p.last)),
    };
  }

  /** Running agents whose last successful poll is at or after `since`. */
  async pollingSince(since: number): Promise<number> {
    return (await this.resumedSince(since)).count;
  }

  /** As `pollingSince`, with the latest send time of an agent's first answered poll after its
   *  polls failed at or after `since`: when the last agent was polling the hub again. */
  async resumedSince(since: number): Promise<PollingSince> {
    const parts = await this.#all<PollingSince>({ op: 'pollingSince', since });
    return {
      count: parts.reduce((a, p) => a + p.count, 0),
      resumedBy: Math.max(0, ...parts.map((p) => p.resumedBy)),
    };
  }

  /** The counters of every worker, added up (reconnects per second across the whole fleet);
   *  `loopP99Ms` is the slowest worker's. */
  async counters(): Promise<
    Omit<WorkerCounters, 'errors' | 'reconnectsPerSecond'> & {
      errors: Record<string, number>;
      reconnectsPerSecond: Map<number, number>;
    }
  > {
    const parts = await this.#all<WorkerCounters>({ op: 'counters' });
    const errors: Record<string, number> = {};
    const reconnectsPerSecond = new Map<number, number>();
    for (const p of parts) {
      for (const [k, v] of p.errors) errors[k] = (errors[k] ?? 0) + v;
      for (const [s, v] of p.reconnectsPerSecond) reconnectsPerSecond.set(s, (reconnectsPerSecond.get(s) ?? 0) + v);
    }
    const sum = (f: (p: WorkerCounters) => number) => parts.reduce((a, p) => a + f(p), 0);
    return {
      polls: sum((p) => p.polls),
      pollHeartbeats: sum((p) => p.pollHeartbeats),
      pollsWithWork: sum((p) => p.pollsWithWork),
      heartbeats: sum((p) => p.heartbeats),
      statusPosts: sum((p) => p.statusPosts),
      errors: Object.fromEntries(Object.entries(errors).sort()),
      reconnectsPerSecond,
      loopP99Ms: Math.max(0, ...parts.map((p) => p.loopP99Ms)),
    };
  }

  async errorCounts(): Promise<Record<string, number>> {
    return (await this.counters()).errors;
  }

  async maxReconnectsInOneSecond(since: number): Promise<number> {
    let max = 0;
    for (const [second, n] of (await this.counters()).reconnectsPerSecond) {
      if (second * 1000 >= since && n > max) max = n;
    }
    return max;
  }
}

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;

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

/** The machine's CPU time so far, in clock ticks (/proc/stat's first line): busy, stolen
 *  by the host (a virtual machine's neighbours) and in all. */
export function machineTicks(): { busy: number; steal: number; total: number } {
  const line = readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '';
  // cpu user nice system idle iowait irq softirq steal guest guest_nice (guest is in user)
  const [user, nice, system, idle, iowait, irq, softirq, steal] = line.trim().split(/\s+/).slice(1).map(Number);
  const busy = [user, nice, system, irq, softirq].reduce<number>((a, b) => a + (b ?? 0), 0);
  const total = busy + (idle ?? 0) + (iowait ?? 0) + (steal ?? 0);
  return { busy, steal: steal ?? 0, total };
}

/**
 * Where the machine's CPU went from `start()` to `stop()`, in % of one core: all of it busy,
 * the hub, this process (the simulator, its workers included), and what the host took
 * (steal). A slow phase with high steal or a busy simulator is the machine's, not the hub's.
 */
export function cpuShares(hubPid: () => number) {
  const cores = availableParallelism();
  let t0 = machineTicks();
  let hub0 = cpuSeconds(hubPid());
  let self0 = process.cpuUsage();
  let wall0 = performance.now();
  return {
    start() {
      t0 = machineTicks();
      hub0 = cpuSeconds(hubPid());
      self0 = process.cpuUsage();
      wall0 = performance.now();
    },
    stop() {
      const t1 = machineTicks();
      const seconds = (performance.now() - wall0) / 1000;
      const total = t1.total - t0.total || 1;
      const self = process.cpuUsage(self0);
      const pct = (x: number) => Math.round(x * 10) / 10;
      return {
        machineBusy: pct((100 * cores * (t1.busy - t0.busy)) / total),
        steal: pct((100 * cores * (t1.steal - t0.steal)) / total),
        hub: pct((100 * (cpuSeconds(hubPid()) - hub0)) / seconds),
        simulator: pct((self.user + self.system) / 1e4 / seconds),
      };
    },
  };
}

export function socketCount(pid: number, port: number): number {
  // The process's sockets by inode (its database connections are sockets too, and are not
  // counted: only connections to `port`, the hub's listener).
  const inodes = new Set<string>();
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
      if (m) inodes.add(m[1] as string);
    } catch {
      // closed meanwhile
    }
  }
  let n = 0;
  for (const table of [`/proc/${pid}/net/tcp`, `/proc/${pid}/net/tcp6`]) {
    let text = '';
    try {
      text = readFileSync(table, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      // sl local_address rem_address st tx_queue:rx_queue tr:tm->when retrnsmt uid timeout inode
      const f = line.trim().split(/\s+/);
      const local = f[1];
      if (!local || !inodes.has(f[9] ?? '')) continue;
      // st 0A is LISTEN: the listener itself is not a connection.
      if (f[3] !== '0A' && Number.parseInt(local.slice(local.lastIndexOf(':') + 1), 16) === port) n++;
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
