// `status --check-hub`: one bounded HTTPS request to the hub's /readyz, trusting the stored CA
// bundle the way the running agent does. /readyz needs no client certificate, so the check
// says whether the hub answers and is ready, not whether it accepts this agent.
import type { Credentials } from '../credentials/index.ts';
import { HubClient } from '../transport/client.ts';
import { isHubError } from '../transport/errors.ts';

export interface HubCheck {
  /** The hub answered (any HTTP status). */
  reachable: boolean;
  /** It answered 200 to /readyz; null when it did not answer. */
  ready: boolean | null;
  /** The hub's database identity from /readyz (what polls call hubEpoch). */
  epoch: string | null;
  /** Why it is unreachable or not ready: a stable code and a message. */
  code: string | null;
  message: string | null;
}

export const hubCheckTimeoutMs = 5_000;

export async function checkHub(creds: Credentials, timeoutMs = hubCheckTimeoutMs): Promise<HubCheck> {
  const client = new HubClient(creds.hub.hubUrl, { ca: creds.caBundlePem }, { connectTimeoutMs: timeoutMs });
  try {
    const res = await client.get<{ epoch?: unknown }>('/readyz', {
      signal: AbortSignal.timeout(timeoutMs),
      maxBytes: 64 * 1024,
    });
    const epoch = typeof res.body?.epoch === 'string' ? res.body.epoch : null;
    return { reachable: true, ready: true, epoch, code: null, message: null };
  } catch (err) {
    if (isHubError(err)) {
      return {
        reachable: err.status > 0,
        ready: err.status > 0 ? false : null,
        epoch: null,
        code: err.code,
        message: err.message,
      };
    }
    const timedOut = (err as Error).name === 'TimeoutError' || (err as Error).name === 'AbortError';
    return {
      reachable: false,
      ready: null,
      epoch: null,
      code: 'AGENT_HUB_UNREACHABLE',
      message: timedOut
        ? `the hub at ${creds.hub.hubUrl} did not answer within ${timeoutMs} ms`
        : `cannot reach the hub at ${creds.hub.hubUrl}: ${(err as Error).message}`,
    };
  } finally {
    await client.close().catch(() => {});
  }
}
