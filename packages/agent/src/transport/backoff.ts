// Retry timing: full-jitter exponential backoff (AWS architecture blog, "Exponential Backoff
// And Jitter") and the hub's Retry-After. Pure functions; the random source is injected.
import { durations } from '@outpost/shared';

export interface BackoffPolicy {
  baseMs: number;
  maxMs: number;
}

export const defaultBackoff: BackoffPolicy = { baseMs: durations.backoffBaseMs, maxMs: durations.backoffMaxMs };

/** A Retry-After longer than this is treated as this: a broken header must not park an agent for days. */
export const retryAfterCapMs = 15 * 60_000;

/**
 * How long to wait before attempt `attempt + 1` (attempt 0 = the first retry):
 * a uniform draw from [0, min(max, base · 2^attempt)). When the hub sent Retry-After, at
 * least that, plus up to 20 % more, so agents told the same moment do not return together.
 */
export function backoffDelay(
  attempt: number,
  opts: { retryAfterMs?: number | undefined; random?: () => number; policy?: BackoffPolicy } = {},
): number {
  const random = opts.random ?? Math.random;
  const policy = opts.policy ?? defaultBackoff;
  const ceiling = Math.min(policy.maxMs, policy.baseMs * 2 ** Math.max(0, Math.min(attempt, 52)));
  const jittered = random() * ceiling;
  if (opts.retryAfterMs === undefined) return jittered;
  const after = Math.min(Math.max(0, opts.retryAfterMs), retryAfterCapMs);
  return after + random() * after * 0.2;
}

/**
 * The wait after `attempt` + 1 failures in a row of a request the hub answered before. A
 * failure without a Retry-After waits a uniform draw within the hub's reconnect window
 * (SyncResponse.reconnectWindowSeconds, sized to its fleet), so the agents of a hub that was
 * killed come back spread over it instead of within the first second. So does every retry
 * after it (or backoffDelay's wait, when that is longer): agents that tried while the hub
 * was still starting would otherwise retry within a second or two, all together, on top of
 * the window's own arrivals.
 */
export function reconnectDelay(
  attempt: number,
  windowMs: number | undefined,
  opts: { retryAfterMs?: number | undefined; random?: () => number } = {},
): number {
  const backoff = backoffDelay(attempt, opts);
  if (opts.retryAfterMs !== undefined || !windowMs || windowMs <= 0) return backoff;
  const spread = (opts.random ?? Math.random)() * Math.min(windowMs, 600_000);
  return attempt > 0 ? Math.max(backoff, spread) : spread;
}

/** ±`share` around `ms` (the heartbeat's ±20 %). */
export function jitter(ms: number, share: number, random: () => number = Math.random): number {
  return ms * (1 - share + 2 * share * random());
}

/** Parses a Retry-After header: delta seconds or an HTTP date. Undefined when absent or invalid. */
export function parseRetryAfter(value: string | string[] | undefined, now: number = Date.now()): number | undefined {
  const v = Array.isArray(value) ? value[0] : value;
  if (v === undefined || v.trim() === '') return undefined;
  if (/^\s*\d+\s*$/.test(v)) return Number(v) * 1_000;
  const at = Date.parse(v);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}
