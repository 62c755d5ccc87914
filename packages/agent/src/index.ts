// @outpost/agent: the agent's building blocks, for tests and benchmarks. The binary is main.ts.
export { type JoinConfig, loadJoinConfig, loadRunConfig, type RunConfig } from './config/index.ts';
export { FileEntryStore } from './credentials/files.ts';
export { CredentialStore, type Credentials, certificateInfo, entryNames } from './credentials/index.ts';
export { SecretEntryStore } from './credentials/secret.ts';
export { AgentError, agentErrorCodes } from './errors.ts';
export { join } from './join/index.ts';
export { renewalTime } from './renew/timing.ts';
export { AgentRuntime, createAgentRuntime } from './run/index.ts';
export { backoffDelay, discoverHub, HubClient, HubError, parseRetryAfter } from './transport/index.ts';
export { agentVersion } from './version.ts';
