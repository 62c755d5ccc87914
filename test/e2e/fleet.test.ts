// The fleet simulator as a functional test: 200 simulated agents (the real agent's protocol
// code, each with its own key and certificate) against a real hub process go through every
// phase of the fleet benchmark, and nothing is lost: every agent registers, polls, receives
// the workset and its change, is Applied at the hub, comes back after a SIGTERM and a SIGKILL
// restart, and the stopped ones are marked Available=Unknown; while idle each agent holds one
// connection, its polls carrying the heartbeats. Figures belong to
// `./scripts/bench fleet`; here only the counts are checked.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { runFleet } from '../bench/fleet/phases.ts';

const agents = 200;

test('200 simulated agents: every phase completes and nothing is lost', { timeout: 600_000 }, async (t) => {
  const result = await runFleet({
    agents,
    pollSeconds: 5,
    heartbeatMs: 5_000,
    missedPolls: 3,
    idleMs: 5_000,
    dead: 5,
    registerInFlight: 8,
    // Two threads, as the benchmark runs from 1,000 agents: their answers must add up.
    workers: 2,
    say: (line) => t.diagnostic(line),
  });
  const c = result.complete;
  assert.equal(c.registered, agents, 'every agent registered');
  assert.equal(c.pollingAtStart, agents, 'every agent polls');
  assert.equal(c.receivedFanOut, agents, 'every agent received the workset');
  assert.equal(c.appliedFanOut, agents, 'every work Applied at the hub');
  assert.equal(c.receivedChange, agents, 'every agent received the change');
  assert.equal(c.appliedChange, agents, 'the change Applied at the hub everywhere');
  assert.equal(c.backAfterSigterm, agents, 'every agent polls again after a SIGTERM restart');
  assert.equal(c.backAfterSigkill, agents, 'every agent polls again after a SIGKILL restart');
  assert.equal(c.deadDetected, 5, 'every stopped agent marked Available=Unknown');
  // Polls carry the heartbeats: an idle agent holds one connection and sends nothing else.
  assert.equal(c.ownHeartbeatsWhileIdle, 0, 'no heartbeat requests of their own while polls answer');
  assert.ok(c.socketsWhileIdle <= agents + 10, `about one socket per agent: ${c.socketsWhileIdle}`);
});
