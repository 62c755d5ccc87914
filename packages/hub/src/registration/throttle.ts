// Slows down a source that keeps presenting wrong bootstrap secrets: after a few failures
// in a window it must wait, doubling each time, before it may try again. In memory: a
// restart forgets, which only ever helps the honest.
import { durations, limits } from '@outpost/shared';

interface Entry {
  failures: number[];
  blockedUntil: number;
  strikes: number;
}

export class FailureThrottle {
  readonly #entries = new Map<string, Entry>();
  readonly #max: number;
  readonly #windowMs: number;

  constructor(max: number = limits.tokenFailuresBeforeThrottle, windowMs: number = durations.tokenFailureWindowMs) {
    this.#max = max;
    this.#windowMs = windowMs;
  }

  /** Milliseconds `source` must still wait, or 0. */
  waitMs(source: string, now: number): number {
    const e = this.#entries.get(source);
    return e && e.blockedUntil > now ? e.blockedUntil - now : 0;
  }

  fail(source: string, now: number): void {
    const e = this.#entries.get(source) ?? { failures: [], blockedUntil: 0, strikes: 0 };
    e.failures = e.failures.filter((t) => now - t < this.#windowMs);
    e.failures.push(now);
    if (e.failures.length >= this.#max) {
      e.strikes += 1;
      e.blockedUntil = now + Math.min(durations.tokenThrottleMaxMs, 1_000 * 2 ** (e.strikes - 1));
      e.failures = [];
    }
    this.#entries.set(source, e);
    if (this.#entries.size > 10_000) this.#prune(now);
  }

  succeed(source: string): void {
    this.#entries.delete(source);
  }

  #prune(now: number): void {
    for (const [k, e] of this.#entries) {
      if (e.blockedUntil < now && e.failures.every((t) => now - t >= this.#windowMs)) this.#entries.delete(k);
    }
  }
}
