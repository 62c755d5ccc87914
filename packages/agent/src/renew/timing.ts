// When to renew a certificate: once a random share in `durations.renewWhenRemaining`
// (20–30 %) of its life remains. The share is drawn once per certificate, so restarts and
// retries do not re-roll it, and a fleet whose certificates were issued together spreads
// its renewals over a tenth of the lifetime.
import { durations } from '@outpost/shared';

export interface RenewalWindow {
  min: number;
  max: number;
}

/**
 * The instant (ms since epoch) to renew a certificate valid from `notBefore` to
 * `notAfter`; `random` is a draw from [0, 1).
 */
export function renewalTime(
  notBefore: number,
  notAfter: number,
  random: number,
  window: RenewalWindow = durations.renewWhenRemaining,
): number {
  const life = Math.max(0, notAfter - notBefore);
  const r = Math.min(Math.max(random, 0), 1);
  const remainingShare = window.min + (window.max - window.min) * r;
  return notAfter - life * remainingShare;
}
