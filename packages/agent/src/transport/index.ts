// transport/: how the agent talks to the hub — an HTTPS client (http.ts) with swappable TLS material
// (client.ts), the typed /agent/v1 calls (hub-api.ts), pinned discovery (discovery.ts),
// error classification into transient and terminal (errors.ts), and retry timing: full-jitter
// backoff, Retry-After, deadlines (backoff.ts, retry.ts).
export { backoffDelay, defaultBackoff, jitter, parseRetryAfter } from './backoff.ts';
export { HubClient, type HubResponse, type TlsIdentity, type TrustMaterial } from './client.ts';
export { type DiscoveredHub, discoverHub } from './discovery.ts';
export { HubError, isHubError } from './errors.ts';
export { createRegistration, fetchCaBundle, getRegistration, renewCertificate, sendHeartbeat } from './hub-api.ts';
export { type Clock, DeadlineError, retryTransient, systemClock } from './retry.ts';
