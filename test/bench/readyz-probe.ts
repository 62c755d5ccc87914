// A /readyz prober in a process of its own, for benchmarks that lower their own priority
// (hostile.bench.ts): started before that, it keeps the hub's priority, so its latencies show
// the hub, not the benchmark's busy clients. Usage: node readyz-probe.ts URL CA_FILE. It probes
// every 20 ms over one kept-alive connection from the line `start` on stdin to the line `stop`,
// then prints the latencies (ms) as one JSON array and exits.
import { readFileSync } from 'node:fs';
import * as https from 'node:https';
import { createInterface } from 'node:readline';

const [url, caFile] = process.argv.slice(2);
if (!url || !caFile) throw new Error('usage: readyz-probe.ts URL CA_FILE');
const agent = new https.Agent({ keepAlive: true, maxSockets: 1, ca: readFileSync(caFile) });
const samples: number[] = [];
let running = false;
let finished: Promise<void> | undefined;

const once = () =>
  new Promise<void>((resolve) => {
    const t0 = performance.now();
    https
      .get(`${url}/readyz`, { agent }, (res) => {
        res.resume();
        res.on('end', () => {
          samples.push(performance.now() - t0);
          resolve();
        });
      })
      .on('error', () => {
        samples.push(performance.now() - t0);
        resolve();
      });
  });

async function loop(): Promise<void> {
  while (running) {
    await once();
    await new Promise((r) => setTimeout(r, 20));
  }
}

createInterface({ input: process.stdin }).on('line', async (line) => {
  if (line === 'start' && !running) {
    running = true;
    finished = loop();
  } else if (line === 'stop') {
    running = false;
    await finished;
    process.stdout.write(`${JSON.stringify(samples)}\n`);
    agent.destroy();
    process.exit(0);
  }
});
