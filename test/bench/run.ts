// `pnpm bench`: runs every test/bench/*.bench.ts in turn, each in its own process, and
// leaves their results in test/bench/results/. A name filter may be given: `pnpm bench tls`;
// arguments after it go to the benchmarks it selects (`pnpm bench fleet 10000`).
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';

const filter = process.argv[2];
const files = readdirSync(import.meta.dirname)
  .filter((f) => f.endsWith('.bench.ts') && (!filter || f.includes(filter)))
  .sort();
let failed = 0;
for (const f of files) {
  process.stdout.write(`\n== ${f}\n`);
  const res = spawnSync(process.execPath, [join(import.meta.dirname, f), ...process.argv.slice(3)], {
    stdio: 'inherit',
  });
  if (res.status !== 0) {
    failed++;
    process.stdout.write(`== ${f} failed (exit ${res.status})\n`);
  }
}
process.exitCode = failed ? 1 : 0;
