// @outpost/shared: what hub and agent both speak — error codes, durations, limits,
// label rules, the agent protocol and crypto.

export * from './canonical.ts';
export * from './crypto/index.ts';
export * from './durations.ts';
export * from './errors.ts';
export * from './labels/index.ts';
export * from './labels/selector.ts';
export * from './limits.ts';
export * from './metrics/prometheus.ts';
export * from './net/address.ts';
export * from './protocol/index.ts';
export * from './protocol/sync.ts';
export * from './protocol/validate.ts';
export * from './protocol/work.ts';
export * from './text/table.ts';
