// Every interval and time limit of Outpost, in one place (milliseconds unless named).

export const durations = {
  /** How long `outpost-hub serve` waits for in-flight requests on SIGTERM. */
  shutdownGraceMs: 10_000,
  /** Validity of the hub CA created on first start. */
  caValidityDays: 3650,
  /** Validity of the hub's serving certificate. */
  servingCertValidityDays: 365,
} as const;
