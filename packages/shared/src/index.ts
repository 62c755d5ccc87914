// @outpost/shared: what hub and agent both speak — error codes, durations, crypto.

export * from './crypto/index.ts';
export * from './durations.ts';
export * from './errors.ts';
