// The Prometheus text format, as hub and agent write it: label escaping and a histogram. No
// client library: the format is a few lines of text, and each process has few metrics.

/** Latency buckets in seconds, from a fast request to a held long-poll. */
export const latencyBuckets = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

/** A label value escaped for the text format. */
export const escapeLabel = (v: string) => v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');

/** A histogram per label set (`labels`: the text between the braces, escaped already). */
export class Histogram {
  readonly #buckets: readonly number[];
  readonly #series = new Map<string, { counts: number[]; sum: number; count: number }>();

  constructor(buckets: readonly number[] = latencyBuckets) {
    this.#buckets = buckets;
  }

  observe(labels: string, seconds: number): void {
    let s = this.#series.get(labels);
    if (!s) {
      s = { counts: this.#buckets.map(() => 0), sum: 0, count: 0 };
      this.#series.set(labels, s);
    }
    for (const [i, le] of this.#buckets.entries()) if (seconds <= le) s.counts[i] = (s.counts[i] ?? 0) + 1;
    s.sum += seconds;
    s.count += 1;
  }

  render(name: string): string[] {
    const out: string[] = [];
    for (const [labels, s] of this.#series) {
      const prefix = labels ? `${labels},` : '';
      for (const [i, le] of this.#buckets.entries()) out.push(`${name}_bucket{${prefix}le="${le}"} ${s.counts[i]}`);
      out.push(`${name}_bucket{${prefix}le="+Inf"} ${s.count}`);
      out.push(`${name}_sum${labels ? `{${labels}}` : ''} ${s.sum}`);
      out.push(`${name}_count${labels ? `{${labels}}` : ''} ${s.count}`);
    }
    return out;
  }
}

/** One metric's HELP and TYPE lines and its samples (`[labels, value]`, labels escaped). */
export function metricLines(
  name: string,
  type: 'counter' | 'gauge',
  help: string,
  samples: readonly (readonly [string, number])[],
): string[] {
  return [
    `# HELP ${name} ${help}`,
    `# TYPE ${name} ${type}`,
    ...samples.map(([labels, v]) => `${name}${labels ? `{${labels}}` : ''} ${v}`),
  ];
}
