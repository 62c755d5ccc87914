// Benchmark plumbing: every benchmark reports through `report`, which prints its figures
// and writes test/bench/results/NAME.json in the shape SPEC.md fixes.
import { writeFileSync } from 'node:fs';
import { availableParallelism, cpus, totalmem } from 'node:os';
import { join } from 'node:path';

export interface Metric {
  value: number;
  unit: string;
  target?: string;
}

export const resultsDir = join(import.meta.dirname, 'results');

export function report(name: string, metrics: Record<string, Metric>, notes?: Record<string, unknown>): void {
  const result = {
    name,
    date: new Date().toISOString(),
    machine: {
      cpus: availableParallelism(),
      cpuModel: cpus()[0]?.model ?? 'unknown',
      memoryGiB: Math.round(totalmem() / 2 ** 30),
      node: process.version,
    },
    metrics,
    ...(notes ? { notes } : {}),
  };
  writeFileSync(join(resultsDir, `${name}.json`), `${JSON.stringify(result, null, 2)}\n`);
  process.stdout.write(`\n${name}\n`);
  for (const [key, m] of Object.entries(metrics)) {
    const value = Number.isInteger(m.value) ? String(m.value) : m.value.toFixed(m.value < 10 ? 3 : 1);
    process.stdout.write(
      `  ${key.padEnd(44)} ${value.padStart(12)} ${m.unit}${m.target ? `   (target ${m.target})` : ''}\n`,
    );
  }
}

/** p-quantile of a sorted-in-place sample. */
export function quantile(sample: number[], p: number): number {
  sample.sort((a, b) => a - b);
  return sample[Math.min(sample.length - 1, Math.floor(p * sample.length))] ?? Number.NaN;
}

/** Runs `count` operations, `inFlight` at a time; operations per second. */
export async function rate(count: number, inFlight: number, op: (i: number) => Promise<unknown>): Promise<number> {
  let next = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: inFlight }, async () => {
      while (next < count) await op(next++);
    }),
  );
  return count / ((performance.now() - t0) / 1000);
}

/** Runs `fn` for `ms` (after a warm-up) with `concurrency` loops; returns completed ops/s. */
export async function throughput(
  fn: () => Promise<void>,
  opts: { ms: number; concurrency: number; warmupMs?: number },
) {
  const run = async (ms: number) => {
    const end = performance.now() + ms;
    let ops = 0;
    const loop = async () => {
      while (performance.now() < end) {
        await fn();
        ops++;
      }
    };
    const start = performance.now();
    await Promise.all(Array.from({ length: opts.concurrency }, loop));
    return (ops * 1000) / (performance.now() - start);
  };
  if (opts.warmupMs) await run(opts.warmupMs);
  return run(opts.ms);
}

/** The hub's event-loop delay of its last finished 10 s window, from a /metrics text (ms). */
export function eventLoopWindow(metricsText: string): { count: number; p99: number; max: number } {
  const num = (re: RegExp) => Number(re.exec(metricsText)?.[1] ?? Number.NaN);
  return {
    count: num(/^outpost_event_loop_delay_windows_total (\S+)$/m),
    p99: num(/^outpost_event_loop_delay_seconds\{quantile="0.99"\} (\S+)$/m) * 1000,
    max: num(/^outpost_event_loop_delay_seconds\{quantile="1"\} (\S+)$/m) * 1000,
  };
}
