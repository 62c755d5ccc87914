// status/: what `outpost-agent status` reports — gathered from what the agent stores
// (collect.ts, with the state opened read-only by state.ts), the Lease (lease.ts), the running
// agent's local listener when it answers (live.ts) and, when asked, the hub's /readyz
// (hub.ts) — and printed as a table, JSON or YAML (render.ts). Nothing here writes.
export {
  type AgentStatus,
  type CaView,
  collectStatus,
  plannedRenewal,
  type StatusSources,
  type WorkView,
} from './collect.ts';
export { checkHub, type HubCheck, hubCheckTimeoutMs } from './hub.ts';
export { type LeaseView, readLease } from './lease.ts';
export { fetchLiveStatus, type LiveAnswer, type LiveStatus, liveTimeoutMs, parseLiveStatus } from './live.ts';
export { type OutputFormat, relative, renderStatus, statusTable } from './render.ts';
export { openReadOnlyState, readOnlyBackend, type StatusState } from './state.ts';
