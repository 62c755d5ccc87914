// The running agent's own view, from its local listener (`outpost-agent run --listen`):
// GET /status answers what only the process knows (leading or standing by, connected to the
// hub, the last answered poll, the last error, the outbox depth as it is now). Asked once,
// briefly: a status command must not wait on an agent that is not there.

import type { LiveStatus } from '../observe/index.ts';

export type { LiveStatus };

export type LiveAnswer = { running: true; live: LiveStatus } | { running: false; reason: string };

/** How long the listener may take to answer, connection included. */
export const liveTimeoutMs = 1_000;

/** Larger answers are not a status document (and are not read further). */
const maxAnswerBytes = 1024 * 1024;

const leaderStates = new Set(['leading', 'standby', 'off']);

const isTime = (v: unknown): v is string => typeof v === 'string' && !Number.isNaN(Date.parse(v));

/** The answer checked field by field; undefined when it is not the agent's status document. */
export function parseLiveStatus(value: unknown): LiveStatus | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const v = value as Record<string, unknown>;
  if (typeof v.leader !== 'string' || !leaderStates.has(v.leader)) return undefined;
  if (typeof v.connected !== 'boolean') return undefined;
  if (v.lastPollAt !== null && !isTime(v.lastPollAt)) return undefined;
  const depth = v.outboxDepth;
  if (depth !== null && (typeof depth !== 'number' || !Number.isSafeInteger(depth) || depth < 0)) return undefined;
  for (const k of ['cluster', 'hubUrl', 'serial'] as const) {
    if (v[k] !== null && typeof v[k] !== 'string') return undefined;
  }
  let lastError: LiveStatus['lastError'] = null;
  if (v.lastError !== null) {
    const e = v.lastError as Record<string, unknown> | undefined;
    if (typeof e !== 'object' || typeof e.code !== 'string' || typeof e.message !== 'string' || !isTime(e.at)) {
      return undefined;
    }
    lastError = { code: e.code, message: e.message, at: e.at };
  }
  return {
    leader: v.leader as LiveStatus['leader'],
    cluster: v.cluster as string | null,
    hubUrl: v.hubUrl as string | null,
    serial: v.serial as string | null,
    connected: v.connected,
    lastPollAt: v.lastPollAt,
    lastError,
    outboxDepth: depth as number | null,
  };
}

/** Asks the agent listening at `url` (`http://HOST:PORT`) for its status, within `timeoutMs`. */
export async function fetchLiveStatus(url: string, timeoutMs = liveTimeoutMs): Promise<LiveAnswer> {
  const notHere = (why: string): LiveAnswer => ({ running: false, reason: `no agent answered at ${url} (${why})` });
  let res: Response;
  try {
    res = await fetch(`${url}/status`, {
      headers: { accept: 'application/json' },
      signal: AbortSignal.timeout(timeoutMs),
      redirect: 'error',
    });
  } catch (err) {
    const e = err as Error & { cause?: { code?: string } };
    if (e.name === 'TimeoutError' || e.name === 'AbortError') return notHere(`no answer within ${timeoutMs} ms`);
    return notHere(e.cause?.code ?? e.message);
  }
  try {
    if (res.status !== 200) {
      return { running: false, reason: `${url} answered HTTP ${res.status} to GET /status: not an agent's listener` };
    }
    const length = Number(res.headers.get('content-length') ?? 0);
    if (length > maxAnswerBytes) return { running: false, reason: `${url} answered a document too large for a status` };
    // Read up to the bound, whatever the answer says of its length (a chunked one says none).
    const chunks: Uint8Array[] = [];
    let size = 0;
    for await (const chunk of res.body ?? []) {
      size += chunk.length;
      if (size > maxAnswerBytes) return { running: false, reason: `${url} answered a document too large for a status` };
      chunks.push(chunk);
    }
    const text = Buffer.concat(chunks).toString('utf8');
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      parsed = undefined;
    }
    const live = text.length <= maxAnswerBytes ? parseLiveStatus(parsed) : undefined;
    if (!live)
      return { running: false, reason: `${url} answered GET /status with something other than an agent's status` };
    return { running: true, live };
  } catch (err) {
    return notHere(
      (err as Error).name === 'TimeoutError' ? `no answer within ${timeoutMs} ms` : (err as Error).message,
    );
  } finally {
    // An answer not read to its end still holds the connection.
    await res.body?.cancel().catch(() => {});
  }
}
