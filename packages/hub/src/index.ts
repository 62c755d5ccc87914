// @outpost/hub: the hub's building blocks, for tests and benchmarks. The binary is main.ts.
export { type AppDeps, buildApp } from './app.ts';
export { loadServeConfig, parseListen, type ServeConfig } from './config/index.ts';
export { ensureHubPki, type HubPki } from './pki/index.ts';
export { migrate, openStore, type Store } from './store/index.ts';
export { hubVersion } from './version.ts';
