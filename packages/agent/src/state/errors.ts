// Failures of the durable agent state, with stable codes (callers match `code`) and a
// classification: transient failures (the API server unreachable, 5xx, 429, a lost race)
// are retried by the caller with backoff; terminal ones (forbidden, too large, corrupt)
// are reported.
import { OutpostError } from '@outpost/shared';

export const stateErrorCodes = {
  /** Reading or writing the store failed (file system or Kubernetes API). */
  AGENT_STATE_STORE_FAILED: 'AGENT_STATE_STORE_FAILED',
  /** Another writer kept changing the index or outbox underneath (optimistic concurrency). */
  AGENT_STATE_CONFLICT: 'AGENT_STATE_CONFLICT',
  /** The index would exceed one object even with every blob moved out of it. */
  AGENT_STATE_TOO_LARGE: 'AGENT_STATE_TOO_LARGE',
  /** A stored document does not decode (gzip, JSON or checksum). */
  AGENT_STATE_CORRUPT: 'AGENT_STATE_CORRUPT',
} as const;

export type StateErrorCode = keyof typeof stateErrorCodes;

export class StateError extends OutpostError {
  /** Worth retrying later with backoff. */
  readonly transient: boolean;

  constructor(code: StateErrorCode, message: string, opts: { transient?: boolean; cause?: unknown } = {}) {
    super(code, message, 0);
    this.name = 'StateError';
    this.transient = opts.transient ?? false;
    if (opts.cause !== undefined) this.cause = opts.cause;
  }
}

export function isStateError(err: unknown, code?: StateErrorCode): err is StateError {
  return err instanceof StateError && (code === undefined || err.code === code);
}
