// Fleet scale: N simulated mTLS agents (test/bench/fleet/, the real agent's protocol code,
// each with its own key and certificate from a real registration) against one real hub
// process on this machine, simulator and hub sharing its cores. Phases and figures:
// registrations/s; idle hub CPU, memory and sockets; /readyz latency; fan-out of one
// workset to all and a one-manifest change (every agent received / all Applied at the hub);
// SIGTERM and SIGKILL restarts (until every agent polls again, errors by kind, the largest
// number of reconnects in one second); dead-agent detection. Beside them, per phase, where
// the machine's CPU went (notes.cpu_by_phase: the hub, the simulator, all busy, and what the
// host took, steal), so that a slow run can be told from a slow hub.
//   ./scripts/bench fleet [N]     (default 1000; OUTPOST_BENCH_FLEET works too)
// Writes test/bench/results/fleet.json. Bounded: every phase has a deadline, a watchdog
// stops the whole run, and every process is stopped at the end.

import { runFleet } from './fleet/phases.ts';
import { report } from './lib.ts';

const agents = Number(process.argv[2] ?? process.env.OUTPOST_BENCH_FLEET ?? 1000);
if (!Number.isInteger(agents) || agents < 10) {
  process.stderr.write('fleet bench: N must be an integer of at least 10\n');
  process.exit(2);
}
const watchdogMs = (15 + Math.ceil(agents / 1000) * 3) * 60_000;
const watchdog = setTimeout(() => {
  process.stderr.write(`fleet bench: watchdog after ${watchdogMs / 60_000} min; stopping\n`);
  process.exit(1);
}, watchdogMs);
watchdog.unref();

const result = await runFleet({
  agents,
  // The hub's and agents' defaults: 30 s polls, 30 s heartbeats, 3 missed polls.
  pollSeconds: 30,
  heartbeatMs: 30_000,
  missedPolls: 3,
  idleMs: 30_000,
  dead: Math.min(10, agents),
  registerInFlight: 8,
  say: (line) => process.stdout.write(`${line}\n`),
});
report('fleet', result.metrics, { ...result.notes, complete: result.complete });
clearTimeout(watchdog);
