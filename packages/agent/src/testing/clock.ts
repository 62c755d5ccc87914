// A clock for the agent's tests: time moves only when a test says so. Only tests import this folder.
import type { Clock } from '../transport/retry.ts';

/** Time moves only by advance(); due sleeps resolve in order. */
export class ManualClock implements Clock {
  t = 0;
  /** Timers end this much early (never before 1 ms), as real ones do against Date.now(). */
  early = 0;
  #timers: { at: number; resolve: () => void }[] = [];
  now = () => this.t;
  random = () => 0.5;
  sleep = (ms: number, signal?: AbortSignal) =>
    new Promise<void>((resolve, reject) => {
      const timer = { at: this.t + Math.max(Math.min(ms, 1), ms - this.early), resolve };
      this.#timers.push(timer);
      signal?.addEventListener(
        'abort',
        () => {
          this.#timers = this.#timers.filter((x) => x !== timer);
          reject(signal.reason);
        },
        { once: true },
      );
    });
  async advance(ms: number): Promise<void> {
    const end = this.t + ms;
    for (;;) {
      const next = this.#timers.filter((x) => x.at <= end).sort((a, b) => a.at - b.at)[0];
      if (!next) break;
      this.#timers = this.#timers.filter((x) => x !== next);
      this.t = next.at;
      next.resolve();
      await new Promise((r) => setImmediate(r));
    }
    this.t = end;
  }
}
