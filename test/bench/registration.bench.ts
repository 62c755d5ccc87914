// Registrations per second on a real hub process: 1,000 joins (CSR check, signing, store)
// with an auto-approving token, 8 in flight over keep-alive HTTPS. Keys and CSRs are made
// beforehand: they are the spokes' cost, not the hub's.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Agent, request } from 'undici';
import { agentSubject, createCsr, generateKeyPair } from '../../packages/shared/src/index.ts';
import { startHub } from '../e2e/hub-process.ts';
import { quantile, report } from './lib.ts';

const joins = Number(process.env.OUTPOST_BENCH_JOINS ?? 1000);
const inFlight = 8;

const hub = await startHub({ args: ['--log-level', 'warn'] });
try {
  const admin = readFileSync(join(hub.dataDir, 'admin.token'), 'utf8').trim();
  const dispatcher = new Agent({ connect: { ca: hub.caCertPem }, connections: inFlight });
  const post = async (path: string, body: unknown, headers: Record<string, string> = {}) => {
    const res = await request(`${hub.url}${path}`, {
      method: 'POST',
      dispatcher,
      headers: { 'content-type': 'application/json', ...headers },
      body: JSON.stringify(body),
    });
    const json = (await res.body.json()) as Record<string, unknown>;
    if (res.statusCode !== 201) throw new Error(`${path}: ${res.statusCode} ${JSON.stringify(json)}`);
    return json;
  };
  const tok = (await post(
    '/api/v1/bootstraptokens',
    { spec: { ttl: '1h', usageLimit: joins, autoApprove: true } },
    { authorization: `Bearer ${admin}` },
  )) as { status: { token: string } };

  process.stdout.write(`preparing ${joins} keys and CSRs…\n`);
  const csrs: { name: string; csr: string }[] = [];
  for (let i = 0; i < joins; i++) {
    const name = `bench-${String(i).padStart(5, '0')}`;
    csrs.push({ name, csr: await createCsr(await generateKeyPair(), agentSubject(name)) });
  }

  const latencies: number[] = [];
  let next = 0;
  const start = performance.now();
  await Promise.all(
    Array.from({ length: inFlight }, async () => {
      while (next < csrs.length) {
        const item = csrs[next++] as { name: string; csr: string };
        const t0 = performance.now();
        const view = (await post('/agent/v1/registrations', {
          token: tok.status.token,
          clusterName: item.name,
          csr: item.csr,
        })) as {
          state: string;
        };
        if (view.state !== 'Approved') throw new Error(`expected Approved, got ${view.state}`);
        latencies.push(performance.now() - t0);
      }
    }),
  );
  const seconds = (performance.now() - start) / 1000;
  await dispatcher.close();
  const hubRss = Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${hub.proc.pid}/status`, 'utf8'))?.[1] ?? 0) / 1024;
  report('registration', {
    registrations_per_second: { value: joins / seconds, unit: 'registrations/s', target: '>= 200' },
    latency_p50: { value: quantile(latencies, 0.5), unit: 'ms' },
    latency_p99: { value: quantile(latencies, 0.99), unit: 'ms' },
    joins: { value: joins, unit: 'count' },
    hub_rss_after: { value: hubRss, unit: 'MiB' },
  });
} finally {
  await hub.stop();
}
