// The Node flags the hub runs with: bin/outpost-hub, the hub image's entry point and the
// test harness all start it with these (node-flags.test.ts holds them to it).
//
// V8 grows its young generation to 64 MiB per semi-space under a burst of requests (a fleet
// registering, a rollout's statuses) and keeps it: 128 MiB of a hub's memory whatever the
// fleet's size. At 16 MiB the idle hub of 3,000 agents holds 96 MiB less and spends no more
// CPU (fleet benchmark, see README "Sizing").
export const hubNodeFlags: readonly string[] = ['--max-semi-space-size=16'];
