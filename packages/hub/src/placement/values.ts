// Small value grammars shared by placement and rollout: Kubernetes' IntOrString "count or
// percent" and resource quantities (for numeric claims such as `16Gi`).
import type { IntOrPercent } from './types.ts';

const percent = /^(100|[1-9]?[0-9])%$/;

/**
 * Why `v` is not a count or percent, or undefined when it is. OCM's patterns: a non-negative
 * integer or "0%".."100%" with no decimals; `min` is the smallest count allowed (1 where zero
 * would mean nothing, e.g. clustersPerDecisionGroup), and a percent below `min` is refused too.
 */
export function intOrPercentProblem(v: unknown, min: 0 | 1): string | undefined {
  if (typeof v === 'number') {
    if (!Number.isSafeInteger(v) || v < min) return `must be an integer ≥ ${min} or a percentage like "25%"`;
    return undefined;
  }
  if (typeof v === 'string') {
    const m = percent.exec(v);
    if (!m) return `must be an integer or a percentage from ${min}% to 100% (got ${JSON.stringify(v.slice(0, 20))})`;
    if (Number(m[1]) < min) return `must be at least ${min}%`;
    return undefined;
  }
  return 'must be an integer or a percentage string';
}

/**
 * The count `v` stands for out of `total`. Percentages round up, as OCM's calculateLength and
 * sdk-go's calculateRolloutSize do, so "10%" of 5 clusters is 1, never 0.
 */
export function resolveIntOrPercent(v: IntOrPercent, total: number): number {
  if (typeof v === 'number') return v;
  const p = Number(v.slice(0, -1));
  return Math.ceil((p * total) / 100);
}

const binary: Record<string, number> = { Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40, Pi: 2 ** 50, Ei: 2 ** 60 };
/** Decimal suffixes as powers of ten; dividing for the small ones keeps 3800m exactly 3.8. */
const decimal: Record<string, number> = { n: -9, u: -6, m: -3, '': 0, k: 3, M: 6, G: 9, T: 12, P: 15, E: 18 };
const quantity = /^([+-]?(?:\d+(?:\.\d*)?|\.\d+))(?:[eE]([+-]?\d+)|(Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE]))?$/;

/**
 * A claim value as a number: plain numbers (`42`, `-1.5`, `1e3`) and Kubernetes quantities
 * (`3800m`, `16Gi`, `2k`). Undefined when the text is neither, e.g. `v1.30.2`.
 */
export function parseQuantity(text: string): number | undefined {
  const m = quantity.exec(text.trim());
  if (!m) return undefined;
  const base = Number(m[1]);
  const suffix = m[3] ?? '';
  const binaryFactor = binary[suffix];
  const exp = m[2] !== undefined ? Number(m[2]) : (decimal[suffix] ?? 0);
  const v = binaryFactor !== undefined ? base * binaryFactor : exp < 0 ? base / 10 ** -exp : base * 10 ** exp;
  return Number.isFinite(v) ? v : undefined;
}
