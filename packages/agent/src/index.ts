// @outpost/agent: the agent's building blocks, for tests and benchmarks. The binary is main.ts.
export { agentVersion } from './version.ts';
