// Helpers for work-faults.test.ts: spokes (a cluster joined to a hub with a real agent
// process in its own agent namespace of the shared kube-apiserver), ManifestWork builders,
// reads of the hub's view of a work, of the spoke's ConfigMaps, of the agent's JSON logs
// and of its durable status outbox (the Secret outpost-agent-outbox).
import assert from 'node:assert/strict';
import { gunzipSync } from 'node:zlib';
import type { CoreV1Api } from '@kubernetes/client-node';
import type { KubeCluster } from '../kube/index.ts';
import { type AgentProcess, runAgent, startAgent } from './agent-process.ts';
import { createToken, type HubClient, waitFor } from './hub-client.ts';

export const cm = (name: string, namespace: string, data: Record<string, string>) => ({
  apiVersion: 'v1',
  kind: 'ConfigMap',
  metadata: { name, namespace },
  data,
});

export const work = (cluster: string, name: string, manifests: unknown[], extra: Record<string, unknown> = {}) => ({
  apiVersion: 'work.open-cluster-management.io/v1',
  kind: 'ManifestWork',
  metadata: { name, namespace: cluster },
  spec: { workload: { manifests }, ...extra },
});
export type Work = ReturnType<typeof work>;

export interface Condition {
  type: string;
  status: string;
  reason?: string;
  message: string;
  observedGeneration?: number;
}
export interface ManifestStatusView {
  resourceMeta: { kind: string; namespace: string; name: string; ordinal: number };
  conditions: Condition[];
}
export interface WorkView {
  metadata: { name: string; uid: string; generation: number };
  status: {
    conditions?: Condition[];
    observedGeneration?: number;
    observedAt?: string;
    reportedGeneration?: number;
    resourceStatus?: { manifests?: ManifestStatusView[] };
    manifestCount?: number;
    sizeBytes?: number;
  };
}

export const condition = (w: Pick<WorkView, 'status'>, type: string) =>
  w.status.conditions?.find((c) => c.type === type);

/** One report of the agent's outbox, as stored. */
export interface OutboxReport {
  seq: number;
  work: string;
  uid: string;
  generation: number;
  observedAt: string;
  status: { conditions: Condition[] };
}
export interface OutboxView {
  nextSeq: number;
  acked: number;
  reports: OutboxReport[];
  spilled: boolean;
}

/** A JSON log line of the agent (pino). */
export interface LogLine {
  time?: number;
  level?: number;
  msg?: string;
  err?: unknown;
  work?: string;
  conditions?: Record<string, string>;
  [k: string]: unknown;
}

export function logLines(text: string): LogLine[] {
  const out: LogLine[] = [];
  for (const line of text.split('\n')) {
    if (!line.startsWith('{')) continue;
    try {
      out.push(JSON.parse(line) as LogLine);
    } catch {
      // a line cut in the middle of a write
    }
  }
  return out;
}

/** A cluster joined to a hub, with its agent process (restartable). */
export class Spoke {
  readonly cluster: string;
  readonly agentNamespace: string;
  readonly #kube: KubeCluster;
  readonly #core: CoreV1Api;
  #args: string[] = [];
  agent: AgentProcess | undefined;

  constructor(kube: KubeCluster, core: CoreV1Api, cluster: string, agentNamespace: string) {
    this.#kube = kube;
    this.#core = core;
    this.cluster = cluster;
    this.agentNamespace = agentNamespace;
  }

  /** `outpost-agent join` with an auto-approving token, credentials in the agent namespace. */
  async join(hub: { url: string; caHash: string }, admin: HubClient): Promise<void> {
    const tok = await createToken(admin, { autoApprove: true, ttl: '10m' });
    const joined = await runAgent([
      'join',
      '--hub',
      hub.url,
      '--token',
      tok.token,
      '--ca-cert-hash',
      hub.caHash,
      '--cluster-name',
      this.cluster,
      '--kubeconfig',
      this.#kube.kubeconfigPath,
      '--namespace',
      this.agentNamespace,
    ]);
    assert.equal(joined.code, 0, `${joined.stdout}\n${joined.stderr}`);
  }

  /** Starts `outpost-agent run` with `extra` flags (kept for restarts); waits for its banner. */
  async start(extra: string[] = this.#args): Promise<AgentProcess> {
    this.#args = extra;
    const agent = startAgent([
      'run',
      '--kubeconfig',
      this.#kube.kubeconfigPath,
      '--namespace',
      this.agentNamespace,
      ...extra,
    ]);
    this.agent = agent;
    await agent.waitForOutput(new RegExp(`serving cluster ${this.cluster}\\b`));
    return agent;
  }

  get running(): boolean {
    const p = this.agent?.proc;
    return p !== undefined && p.exitCode === null && p.signalCode === null;
  }

  logs(): LogLine[] {
    return logLines(this.agent?.stdout() ?? '');
  }

  async stop(): Promise<void> {
    await this.agent?.stop();
  }

  /** The agent's status outbox, decoded from its Secret (NDJSON, one gzip member a line). */
  async outbox(): Promise<OutboxView | undefined> {
    let secret: Awaited<ReturnType<CoreV1Api['readNamespacedSecret']>>;
    try {
      secret = await this.#core.readNamespacedSecret({ name: 'outpost-agent-outbox', namespace: this.agentNamespace });
    } catch {
      return undefined;
    }
    const data = secret.data?.['outbox.json.gz'];
    if (data === undefined) return undefined;
    const lines = gunzipSync(Buffer.from(data, 'base64'))
      .toString('utf8')
      .split('\n')
      .filter((l) => l.length > 0);
    const header = JSON.parse(lines[0] ?? '{}') as { nextSeq: number; acked?: number; spill?: unknown };
    return {
      nextSeq: header.nextSeq,
      acked: header.acked ?? 0,
      reports: lines.slice(1).map((l) => JSON.parse(l) as OutboxReport),
      spilled: header.spill !== undefined,
    };
  }
}

/** The admin API calls about one cluster's works. */
export class Works {
  readonly cluster: string;
  admin: HubClient;

  constructor(admin: HubClient, cluster: string) {
    this.admin = admin;
    this.cluster = cluster;
  }

  async put(w: Work): Promise<WorkView> {
    const res = await this.admin.call<WorkView>('PUT', `/api/v1/clusters/${this.cluster}/works/${w.metadata.name}`, {
      json: w,
      timeoutMs: 120_000,
    });
    assert.ok(
      res.status === 200 || res.status === 201,
      `PUT ${w.metadata.name}: ${res.status} ${res.text.slice(0, 500)}`,
    );
    return res.body;
  }

  /** The work without its manifests (from the list: a large work's GET carries all of them). */
  async view(name: string): Promise<WorkView | undefined> {
    const res = await this.admin.get<{ items: WorkView[] }>(`/api/v1/clusters/${this.cluster}/works?limit=500`, {
      timeoutMs: 60_000,
    });
    assert.equal(res.status, 200, res.text.slice(0, 500));
    return res.body.items.find((w) => w.metadata.name === name);
  }

  async delete(name: string): Promise<void> {
    const res = await this.admin.delete(`/api/v1/clusters/${this.cluster}/works/${name}`);
    assert.equal(res.status, 200, res.text);
  }

  /** Waits until the hub reports `name` Applied=True for exactly `generation`. */
  waitApplied(name: string, generation: number, timeoutMs = 60_000): Promise<WorkView> {
    return waitFor(
      `work ${this.cluster}/${name} Applied at generation ${generation}`,
      async () => {
        const w = await this.view(name);
        return w?.status.observedGeneration === generation && condition(w, 'Applied')?.status === 'True'
          ? w
          : undefined;
      },
      timeoutMs,
    );
  }
}

/** ConfigMaps of one spoke namespace. */
export class SpokeConfigMaps {
  readonly #core: CoreV1Api;
  readonly namespace: string;

  constructor(core: CoreV1Api, namespace: string) {
    this.#core = core;
    this.namespace = namespace;
  }

  async create(): Promise<void> {
    await this.#core.createNamespace({ body: { metadata: { name: this.namespace } } });
  }

  async read(name: string) {
    try {
      return await this.#core.readNamespacedConfigMap({ name, namespace: this.namespace });
    } catch {
      return undefined;
    }
  }

  /** Every ConfigMap's name (paged). */
  async names(): Promise<string[]> {
    const out: string[] = [];
    let cont: string | undefined;
    do {
      const page = await this.#core.listNamespacedConfigMap({
        namespace: this.namespace,
        limit: 500,
        ...(cont ? { _continue: cont } : {}),
      });
      for (const c of page.items) out.push(c.metadata?.name ?? '');
      cont = page.metadata?._continue || undefined;
    } while (cont);
    return out;
  }

  /** How many ConfigMaps exist, cheaply: one item and the apiserver's count of the rest. */
  async count(): Promise<number> {
    const page = await this.#core.listNamespacedConfigMap({ namespace: this.namespace, limit: 1 });
    return page.items.length + (page.metadata?.remainingItemCount ?? 0);
  }

  async remove(name: string): Promise<void> {
    await this.#core.deleteNamespacedConfigMap({ name, namespace: this.namespace });
  }
}

/** Waits, on the clock and bounded, until `ms` have passed since `since`. */
export function untilElapsed(what: string, since: number, ms: number): Promise<true> {
  return waitFor(what, async () => (Date.now() - since >= ms ? true : undefined), ms + 10_000);
}

export const seconds = (ms: number) => (ms / 1000).toFixed(1);
