// One simulated agent: the real agent's protocol code (its HubClient over node:https with its
// own key and certificate, the /agent/v1 calls, the merge of work updates, full-jitter
// backoff honouring Retry-After), without a Kubernetes cluster behind it. It long-polls with
// the heartbeat carried by each poll (and heartbeats on its own only when no poll was answered
// for two heartbeat intervals, as the agent does), and acknowledges every work it receives
// with an Applied status report, as an agent whose applies all succeed would. It never touches the hub's database: everything goes
// through the hub's agent API, as a real agent's traffic does.

import { mergeUpdate } from '../../../packages/agent/src/sync/desired.ts';
import { backoffDelay, reconnectDelay } from '../../../packages/agent/src/transport/backoff.ts';
import { HubClient, runningConnectTimeoutMs } from '../../../packages/agent/src/transport/client.ts';
import { isHubError } from '../../../packages/agent/src/transport/errors.ts';
import { pollSync, postStatus, sendHeartbeat } from '../../../packages/agent/src/transport/hub-api.ts';
import type { DesiredWork } from '../../../packages/agent/src/work/types.ts';
import type { StatusReport, WorkStatus } from '../../../packages/shared/src/index.ts';

/** What every simulated agent adds to, shared by the fleet (one event loop: no locks). */
export interface FleetCounters {
  polls: number;
  /** Polls whose answer carried the heartbeat's answer. */
  pollHeartbeats: number;
  /** Polls answered with at least one work update. */
  pollsWithWork: number;
  heartbeats: number;
  statusPosts: number;
  /** Failed requests by kind: `poll:HUB_UNAVAILABLE`, `heartbeat:AGENT_HUB_UNREACHABLE`, … */
  errors: Map<string, number>;
  /** First successful poll after a failed one, per wall-clock second. */
  reconnectsPerSecond: Map<number, number>;
}

export const newCounters = (): FleetCounters => ({
  polls: 0,
  pollHeartbeats: 0,
  pollsWithWork: 0,
  heartbeats: 0,
  statusPosts: 0,
  errors: new Map(),
  reconnectsPerSecond: new Map(),
});

export interface SimAgentOptions {
  hubUrl: string;
  caPem: string;
  keyPem: string;
  certPem: string;
  pollWaitSeconds: number;
  heartbeatMs: number;
  counters: FleetCounters;
  /** Called when the agent holds `generation` of work `name` (the moment it "received" it). */
  onWork?: (agent: string, work: string, generation: number, at: number) => void;
}

const errorKind = (err: unknown) =>
  isHubError(err) ? err.code : ((err as { code?: string }).code ?? (err as Error).name ?? 'Error');

export class SimAgent {
  readonly name: string;
  readonly #o: SimAgentOptions;
  readonly #client: HubClient;
  readonly #stop = new AbortController();
  readonly #works = new Map<string, DesiredWork>();
  #hubEpoch: string | undefined;
  #revision = 0;
  #seq = 0;
  #outbox: StatusReport[] = [];
  readonly #heartbeat = { agentVersion: 'fleet-sim', workDelivery: true };
  #wakeStatus: (() => void) | undefined;
  /** Resolves the poll loop's wait for the outbox to be sent (#statusDrained). */
  #drained: (() => void) | undefined;
  #loops: Promise<unknown> | undefined;
  /** When the last poll succeeded (ms since the epoch). */
  lastPollAt = 0;
  /** When the agent sent the first poll that was answered after polls had failed (a restart):
   *  from then on that poll was held by the hub, so the agent was polling again. */
  resumedAt = 0;
  /** When a poll last brought the heartbeat's answer. */
  #heardAt = 0;
  /** The hub's reconnect window from its last answer, as the agent keeps it. */
  #reconnectWindowMs: number | undefined;
  #failing = false;
  /** The status loop waits to retry a failed upload. */
  #statusRetrying = false;

  constructor(name: string, o: SimAgentOptions) {
    this.name = name;
    this.#o = o;
    this.#client = new HubClient(
      o.hubUrl,
      { ca: o.caPem, identity: { keyPem: o.keyPem, certPem: o.certPem } },
      // As the running agent.
      { connectTimeoutMs: runningConnectTimeoutMs },
    );
  }

  get works(): ReadonlyMap<string, DesiredWork> {
    return this.#works;
  }

  start(): void {
    const signal = this.#stop.signal;
    this.#loops = Promise.all([this.#pollLoop(signal), this.#heartbeatLoop(signal), this.#statusLoop(signal)]);
  }

  /** Stops the loops and closes the connections (a clean stop, as SIGTERM of an agent). */
  async stop(): Promise<void> {
    this.#stop.abort();
    this.#wakeStatus?.();
    await this.#client.close();
    await this.#loops;
  }

  #fail(what: string, err: unknown): void {
    const key = `${what}:${errorKind(err)}`;
    this.#o.counters.errors.set(key, (this.#o.counters.errors.get(key) ?? 0) + 1);
  }

  async #sleep(ms: number, signal: AbortSignal): Promise<void> {
    if (signal.aborted) return;
    await new Promise<void>((resolve) => {
      const t = setTimeout(done, ms);
      function done() {
        clearTimeout(t);
        signal.removeEventListener('abort', done);
        resolve();
      }
      signal.addEventListener('abort', done, { once: true });
    });
  }

  async #pollLoop(signal: AbortSignal): Promise<void> {
    let failures = 0;
    let sendInventory = true;
    while (!signal.aborted) {
      const sentAt = Date.now();
      try {
        const res = await pollSync(
          this.#client,
          this.name,
          {
            revision: this.#revision,
            waitSeconds: this.#o.pollWaitSeconds,
            heartbeat: this.#heartbeat,
            ...(this.#hubEpoch ? { hubEpoch: this.#hubEpoch } : {}),
            ...(sendInventory
              ? {
                  inventory: Object.fromEntries(
                    [...this.#works.values()].map((w) => [w.name, { uid: w.uid, generation: w.generation }]),
                  ),
                }
              : {}),
          },
          { signal },
        );
        const now = Date.now();
        this.#o.counters.polls++;
        if (res.heartbeat) {
          this.#o.counters.pollHeartbeats++;
          this.#heardAt = now;
        }
        if (this.#failing) {
          this.resumedAt = sentAt;
          const second = Math.floor(now / 1000);
          this.#o.counters.reconnectsPerSecond.set(second, (this.#o.counters.reconnectsPerSecond.get(second) ?? 0) + 1);
        }
        this.#failing = false;
        this.lastPollAt = now;
        failures = 0;
        if (res.needInventory) {
          sendInventory = true;
          continue;
        }
        sendInventory = false;
        if (res.reconnectWindowSeconds !== undefined) this.#reconnectWindowMs = res.reconnectWindowSeconds * 1000;
        this.#hubEpoch = res.hubEpoch;
        this.#revision = res.revision;
        if (res.works.length > 0) this.#o.counters.pollsWithWork++;
        for (const u of res.works) {
          let w: DesiredWork;
          try {
            w = mergeUpdate(this.#works.get(u.name), u, new Date(now));
          } catch {
            sendInventory = true;
            continue;
          }
          if (w.deleting) {
            this.#works.delete(w.name);
            this.#queue(w, true);
          } else {
            this.#works.set(w.name, w);
            this.#o.onWork?.(this.name, w.name, w.generation, now);
            this.#queue(w, false);
          }
        }
        // As the agent: the statuses go out before the next poll is held, on its connection.
        if (res.works.length > 0) await this.#statusDrained(30_000, signal);
      } catch (err) {
        if (signal.aborted) return;
        this.#fail('poll', err);
        this.#failing = true;
        // As the agent: the first poll after a failed one carries the inventory.
        sendInventory = true;
        const retryAfterMs = isHubError(err) ? err.retryAfterMs : undefined;
        await this.#sleep(reconnectDelay(failures++, this.#reconnectWindowMs, { retryAfterMs }), signal);
      }
    }
  }

  async #heartbeatLoop(signal: AbortSignal): Promise<void> {
    // The fleet models agents that were running already, whose polls carry their heartbeats:
    // one heartbeats on its own only when its polls stop being answered (a real agent also
    // sends one as it starts, before its first poll is answered).
    this.#heardAt = Date.now();
    await this.#sleep(Math.random() * this.#o.heartbeatMs, signal);
    let failures = 0;
    while (!signal.aborted) {
      try {
        if (Date.now() - this.#heardAt > 2 * this.#o.heartbeatMs) {
          await sendHeartbeat(this.#client, this.name, this.#heartbeat, { signal });
          this.#o.counters.heartbeats++;
        }
        failures = 0;
        await this.#sleep(this.#o.heartbeatMs * (0.8 + 0.4 * Math.random()), signal);
      } catch (err) {
        if (signal.aborted) return;
        this.#fail('heartbeat', err);
        const retryAfterMs = isHubError(err) ? err.retryAfterMs : undefined;
        await this.#sleep(backoffDelay(failures++, { retryAfterMs }), signal);
      }
    }
  }

  /** An Applied status for every manifest, as an agent whose applies succeeded reports it. */
  #queue(w: DesiredWork, deleted: boolean): void {
    const at = new Date().toISOString();
    const ok = (type: string) => ({
      type,
      status: 'True' as const,
      reason: `${type}Complete`,
      message: '',
      observedGeneration: w.generation,
    });
    const status: WorkStatus = deleted
      ? { conditions: [], resourceStatus: { manifests: [] }, observedGeneration: w.generation }
      : {
          conditions: [ok('Applied'), ok('Available')],
          resourceStatus: {
            manifests: w.manifests.map((m) => {
              const slash = m.manifest.apiVersion.indexOf('/');
              return {
                resourceMeta: {
                  group: slash < 0 ? '' : m.manifest.apiVersion.slice(0, slash),
                  version: slash < 0 ? m.manifest.apiVersion : m.manifest.apiVersion.slice(slash + 1),
                  kind: m.manifest.kind,
                  resource: `${m.manifest.kind.toLowerCase()}s`,
                  namespace: m.manifest.metadata.namespace ?? '',
                  name: m.manifest.metadata.name,
                  ordinal: m.ordinal,
                },
                conditions: [ok('Applied'), ok('Available')],
              };
            }),
          },
          observedGeneration: w.generation,
        };
    // The latest report per work is what matters; older ones waiting are superseded.
    this.#outbox = this.#outbox.filter((r) => r.work !== w.name);
    this.#outbox.push({
      seq: ++this.#seq,
      work: w.name,
      uid: w.uid,
      generation: w.generation,
      observedAt: at,
      status,
      ...(deleted ? { deleted: true } : {}),
    });
    this.#wakeStatus?.();
  }

  async #statusDrained(timeoutMs: number, signal: AbortSignal): Promise<void> {
    if (signal.aborted || this.#outbox.length === 0 || this.#statusRetrying) return;
    await new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.#drained = undefined;
        signal.removeEventListener('abort', done);
        resolve();
      };
      const timer = setTimeout(done, timeoutMs);
      this.#drained = done;
      signal.addEventListener('abort', done, { once: true });
    });
  }

  async #statusLoop(signal: AbortSignal): Promise<void> {
    let failures = 0;
    while (!signal.aborted) {
      if (this.#outbox.length === 0) {
        this.#drained?.();
        await new Promise<void>((resolve) => {
          this.#wakeStatus = resolve;
        });
        this.#wakeStatus = undefined;
        continue;
      }
      const batch = this.#outbox.slice(0, 100);
      try {
        const ack = await postStatus(this.#client, this.name, { reports: batch }, { signal });
        this.#o.counters.statusPosts++;
        this.#outbox = this.#outbox.filter((r) => r.seq > ack.ackedSeq);
        failures = 0;
      } catch (err) {
        if (signal.aborted) return;
        this.#fail('status', err);
        // As the agent: a poll waits for an upload in flight, not for its retry.
        this.#statusRetrying = true;
        this.#drained?.();
        const retryAfterMs = isHubError(err) ? err.retryAfterMs : undefined;
        await this.#sleep(reconnectDelay(failures++, this.#reconnectWindowMs, { retryAfterMs }), signal);
        this.#statusRetrying = false;
      }
    }
  }
}
