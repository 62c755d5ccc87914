// Retrying transient hub failures until a deadline, with full-jitter backoff and the hub's
// Retry-After. Terminal failures (a 4xx, an untrusted certificate) go straight back to the
// caller. The clock is injected so tests need no real waiting.
import { setTimeout as delay } from 'node:timers/promises';
import { backoffDelay } from './backoff.ts';
import { type HubError, isHubError } from './errors.ts';

export interface Clock {
  now(): number;
  /** Rejects with the signal's reason when aborted. */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
  random(): number;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  sleep: async (ms, signal) => {
    await delay(Math.max(0, ms), undefined, { signal });
  },
  random: () => Math.random(),
};

/** The deadline passed while the hub kept failing transiently; `last` is its latest failure. */
export class DeadlineError extends Error {
  readonly last: HubError;
  constructor(last: HubError) {
    super(`gave up: ${last.message}`);
    this.name = 'DeadlineError';
    this.last = last;
  }
}

export interface RetryOptions {
  clock: Clock;
  /** Epoch ms after which no new attempt starts. */
  deadline: number;
  signal?: AbortSignal | undefined;
  /** Called before each wait, for progress lines and logs. */
  onRetry?: (err: HubError, delayMs: number, attempt: number) => void;
}

export async function retryTransient<T>(fn: () => Promise<T>, opts: RetryOptions): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await fn();
    } catch (err) {
      if (!isHubError(err) || !err.transient || opts.signal?.aborted) throw err;
      const wait = backoffDelay(attempt, { retryAfterMs: err.retryAfterMs, random: () => opts.clock.random() });
      const remaining = opts.deadline - opts.clock.now();
      if (remaining <= 0) throw new DeadlineError(err);
      opts.onRetry?.(err, Math.min(wait, remaining), attempt);
      // Wake at the deadline at the latest, for one last attempt.
      await opts.clock.sleep(Math.min(wait, remaining), opts.signal);
    }
  }
}
