// A /readyz prober in a process of its own, for benchmarks that lower their own priority
// (hostile.bench.ts): started before that, it keeps the hub's priority, so its latencies show
// the hub, not the benchmark's busy clients. Usage: node readyz-probe.ts URL CA_FILE. It probes
// every 20 ms over one kept-alive connection from the line `start` on stdin to the line `stop`
// (or the end of stdin: the benchmark is gone), then prints one JSON line
// `{ "ms": [latencies of answered probes], "failed": N }` and exits. A probe without an
// answer within 10 s counts as failed.
import { readFileSync } from 'node:fs';
import * as https from 'node:https';
import { createInterface } from 'node:readline';

const [url, caFile] = process.argv.slice(2);
if (!url || !caFile) throw new Error('usage: readyz-probe.ts URL CA_FILE');
const agent = new https.Agent({ keepAlive: true, maxSockets: 1, ca: readFileSync(caFile) });
const ms: number[] = [];
let failed = 0;
let running = false;
let finished: Promise<void> | undefined;

const probe = () =>
  new Promise<void>((resolve) => {
    const t0 = performance.now();
    let done = false;
    const end = (ok: boolean) => {
      if (done) return;
      done = true;
      if (ok) ms.push(performance.now() - t0);
      else failed++;
      resolve();
    };
    const req = https.get(`${url}/readyz`, { agent, timeout: 10_000 }, (res) => {
      res.on('error', () => end(false));
      res.on('aborted', () => end(false));
      res.on('end', () => end(res.statusCode === 200));
      res.resume();
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', () => end(false));
  });

async function loop(): Promise<void> {
  while (running) {
    await probe();
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function stop(): Promise<void> {
  running = false;
  await finished;
  agent.destroy();
  // Exit only once the line is out: a pipe takes large writes in several turns.
  process.stdout.write(`${JSON.stringify({ ms, failed })}\n`, () => process.exit(0));
}

const lines = createInterface({ input: process.stdin });
lines.on('line', (line) => {
  if (line === 'start' && !running) {
    running = true;
    finished = loop();
  } else if (line === 'stop') void stop();
});
lines.on('close', () => void stop());
