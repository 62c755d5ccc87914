// Batch windows that grow with the work a batch costs. The placement service and the workset
// controller each re-read every cluster (or every target) per pass: cheap at hundreds, about a
// tenth of a second at 10,000. When triggers keep coming (a fleet reconnecting after a restart,
// status reports of a rollout), a fixed 50 ms window would run those passes back to back and
// starve the polls and handshakes that produce the triggers. The next window is at least
// `costFactor` times the last pass, so the passes take at most a quarter of the event loop
// however large the fleet, and a small fleet keeps its 50 ms.

/** The next window is at least this many times the last pass. */
const costFactor = 3;
/** …and at most this long, so a change is never held back for long. */
const maxWindowMs = 5_000;

export class Pace {
  readonly #baseMs: number;
  #lastMs = 0;

  constructor(baseMs: number) {
    this.#baseMs = baseMs;
  }

  /** How long to collect triggers before the next pass. */
  get windowMs(): number {
    return Math.min(maxWindowMs, Math.max(this.#baseMs, this.#lastMs * costFactor));
  }

  /** Runs one pass, timing it; a pass that returns a promise is timed until it settles. */
  run<T>(pass: () => T): T {
    const t0 = performance.now();
    const timed = () => {
      this.#lastMs = performance.now() - t0;
    };
    let out: T;
    try {
      out = pass();
    } catch (err) {
      timed();
      throw err;
    }
    if (out instanceof Promise) return out.finally(timed) as T;
    timed();
    return out;
  }
}
