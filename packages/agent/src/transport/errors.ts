// What went wrong talking to the hub, classified the way every caller needs it: transient
// (retry with backoff: the network, 5xx, 429) or terminal (a 4xx from the hub, an untrusted
// certificate). The hub's own code travels unchanged, so callers match HUB_TOKEN_EXPIRED
// and friends exactly as the hub wrote them.
import { OutpostError } from '@outpost/shared';

/** Node's TLS verification failures (OpenSSL's X509_V_ERR names and the hostname check). */
const tlsVerifyCodes = new Set([
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'CERT_SIGNATURE_FAILURE',
  'CERT_NOT_YET_VALID',
  'CERT_HAS_EXPIRED',
  'CERT_UNTRUSTED',
  'CERT_REJECTED',
  'CERT_CHAIN_TOO_LONG',
  'INVALID_CA',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);

/** The stable code of a failure (an AgentError's or HubError's), else INTERNAL. */
export const errorCode = (err: unknown) =>
  err instanceof Error && 'code' in err && typeof err.code === 'string' ? err.code : 'INTERNAL';

export function isTlsVerifyError(err: unknown): boolean {
  const code = (err as { code?: unknown }).code;
  return typeof code === 'string' && tlsVerifyCodes.has(code);
}

export class HubError extends OutpostError {
  /** HTTP status, or 0 when no answer arrived. */
  readonly status: number;
  /** From Retry-After (or the body's details.retryAfterSeconds), in ms. */
  readonly retryAfterMs: number | undefined;
  /** Retrying later may succeed: network failures, 5xx, 429. */
  readonly transient: boolean;

  constructor(
    code: string,
    message: string,
    opts: { status: number; transient: boolean; retryAfterMs?: number | undefined; details?: unknown; cause?: unknown },
  ) {
    super(code, message, opts.status, opts.details);
    this.name = 'HubError';
    this.status = opts.status;
    this.transient = opts.transient;
    this.retryAfterMs = opts.retryAfterMs;
    if (opts.cause !== undefined) this.cause = opts.cause;
  }
}

export function isHubError(err: unknown): err is HubError {
  return err instanceof HubError;
}

/** A failure with no HTTP answer: a TLS verification error is terminal, anything else transient. */
export function networkError(url: string, err: unknown): HubError {
  const code = (err as { code?: string }).code;
  const message = (err as Error).message ?? String(err);
  if (isTlsVerifyError(err)) {
    return new HubError('AGENT_HUB_UNTRUSTED', `the hub at ${url} is not trusted: ${message} (${code})`, {
      status: 0,
      transient: false,
      cause: err,
    });
  }
  return new HubError(
    'AGENT_HUB_UNREACHABLE',
    `cannot reach the hub at ${url}: ${message}${code ? ` (${code})` : ''}`,
    {
      status: 0,
      transient: true,
      cause: err,
    },
  );
}

/** An error answer: `{code, message, details?}` from the hub, or whatever a proxy sent. */
export function responseError(status: number, body: string, retryAfterMs: number | undefined): HubError {
  let code = status >= 500 ? 'AGENT_HUB_UNAVAILABLE' : 'AGENT_HUB_BAD_RESPONSE';
  let message = `the hub answered HTTP ${status}`;
  let details: unknown;
  try {
    const parsed = JSON.parse(body) as { code?: unknown; message?: unknown; details?: unknown };
    if (typeof parsed.code === 'string' && typeof parsed.message === 'string') {
      code = parsed.code;
      message = parsed.message;
      details = parsed.details;
    }
  } catch {
    if (body.trim()) message += `: ${body.trim().slice(0, 200)}`;
  }
  const detailWait = (details as { retryAfterSeconds?: unknown } | undefined)?.retryAfterSeconds;
  const retryAfter = retryAfterMs ?? (typeof detailWait === 'number' ? detailWait * 1_000 : undefined);
  return new HubError(code, message, {
    status,
    transient: status >= 500 || status === 429 || status === 408,
    retryAfterMs: retryAfter,
    details,
  });
}
