// A hub that comes back after an outage sees its agents return spread out, not all at once
// (invariant 4). Twelve real agent processes heartbeat every second through a loopback TCP
// relay that stands for the hub's address; the relay refuses connections for 20 s (the hub
// is gone: connection refused, as after a crash), then accepts again and records when each
// new connection arrives. Full-jitter backoff means each agent sleeps a random time within
// its current window, so the arrivals spread over seconds; agents that retried on a fixed
// schedule would all arrive within one heartbeat.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server, type Socket, connect as tcpConnect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { type AgentProcess, runAgent, startAgent } from './agent-process.ts';
import { adminClient, waitFor } from './hub-client.ts';
import { type HubProcess, startHub } from './hub-process.ts';

const agents = 12;
const outageMs = 20_000;

/** A TCP relay to the hub that can refuse connections (down) and timestamps accepted ones. */
class Relay {
  readonly #target: number;
  #server: Server | undefined;
  readonly #sockets = new Set<Socket>();
  port = 0;
  accepted: number[] = [];

  constructor(targetPort: number) {
    this.#target = targetPort;
  }

  async up(): Promise<void> {
    const server = createServer((client) => {
      this.accepted.push(Date.now());
      const upstream = tcpConnect(this.#target, '127.0.0.1');
      for (const s of [client, upstream]) {
        this.#sockets.add(s);
        s.on('close', () => this.#sockets.delete(s));
        s.on('error', () => {
          client.destroy();
          upstream.destroy();
        });
      }
      client.pipe(upstream).pipe(client);
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.port, '127.0.0.1', () => resolve());
    });
    this.port = (server.address() as { port: number }).port;
    this.#server = server;
  }

  /** Stops listening (new connections are refused) and cuts every open connection. */
  async down(): Promise<void> {
    const server = this.#server;
    this.#server = undefined;
    for (const s of this.#sockets) s.destroy();
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}

let hub: HubProcess | undefined;
let relay: Relay | undefined;
const running: AgentProcess[] = [];
const dirs: string[] = [];
after(async () => {
  await Promise.all(running.map((a) => a.stop()));
  await relay?.down();
  await hub?.stop();
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

test(`${agents} agents come back to a returning hub spread out by full-jitter backoff`, {
  timeout: 180_000,
}, async () => {
  hub = await startHub();
  relay = new Relay(hub.port);
  await relay.up();
  const url = `https://127.0.0.1:${relay.port}`;
  const admin = await adminClient(hub);
  const tok = await admin.post<{ status: { token: string } }>('/api/v1/bootstraptokens', {
    spec: { autoApprove: true, usageLimit: agents },
  });

  await Promise.all(
    Array.from({ length: agents }, async (_, i) => {
      const dir = await mkdtemp(join(tmpdir(), 'outpost-reconnect-'));
      dirs.push(dir);
      const name = `reconnect-${i}`;
      const joined = await runAgent(
        ['join', '--hub', url, '--token', tok.body.status.token, '--ca-cert-hash', hub?.caHash as string],
        { env: { OUTPOST_AGENT_CLUSTER_NAME: name, OUTPOST_AGENT_CREDENTIALS_DIR: dir } },
      );
      assert.equal(joined.code, 0, joined.stderr);
      running.push(startAgent(['run', '--heartbeat-only', '--credentials-dir', dir, '--heartbeat-interval', '1s']));
    }),
  );
  // Every agent heartbeating through the relay.
  const since = Date.now();
  await waitFor(
    'every agent reporting',
    async () => {
      const list = await admin.get<{ items: { status: { lastSeen?: string } }[] }>('/api/v1/clusters');
      const fresh = list.body.items.filter((c) => c.status.lastSeen && Date.parse(c.status.lastSeen) > since);
      return fresh.length === agents ? true : undefined;
    },
    30_000,
  );

  await relay.down();
  await new Promise((r) => setTimeout(r, outageMs));
  relay.accepted = [];
  const back = Date.now();
  await relay.up();
  // One kept-alive connection per agent once it is back.
  const arrivals = await waitFor(
    `${agents} agents reconnecting`,
    async () => (relay && relay.accepted.length >= agents ? relay.accepted.slice(0, agents) : undefined),
    90_000,
  );
  const offsets = arrivals.map((t) => (t - back) / 1000).sort((a, b) => a - b);
  const spread = (offsets.at(-1) as number) - (offsets[0] as number);
  let densest = 0;
  for (const start of offsets) densest = Math.max(densest, offsets.filter((o) => o >= start && o < start + 1).length);
  console.log(
    `reconnect after a ${outageMs / 1000} s outage: ${agents} agents over ${spread.toFixed(1)} s; ` +
      `at most ${densest} in any 1 s; arrivals (s after the hub was back): ${offsets.map((o) => o.toFixed(1)).join(' ')}`,
  );
  assert.ok(spread >= 3, `arrivals spread over only ${spread.toFixed(1)} s`);
  assert.ok(densest <= agents / 2, `${densest} of ${agents} agents arrived within one second`);
});
