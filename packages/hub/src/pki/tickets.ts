// TLS session tickets that outlive a restart. A hub restart brings its whole fleet back at
// once; with the ticket key kept in the data dir, agents resume their TLS sessions instead of
// making full handshakes (no certificate signature or chain verification on either side:
// about half the CPU of a handshake, measured). Agent identity does not rest on the resumed
// handshake alone: every request is checked against the hub's records (certificate known,
// not revoked, not expired), as for any connection.
//
// The key lives in pki/tls-tickets.key (0600, beside the CA keys it is no more sensitive
// than) and is replaced after ticketKeyLifetimeMs, and whenever the CAs change (it names the
// CAs it was made under), so that a session from before a CA rotation is never resumed past it.
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { durations } from '@outpost/shared';
import { writeAtomic } from './index.ts';

export interface TicketKeys {
  /** The 48 bytes Node's TLS server takes as `ticketKeys`. */
  keys: Buffer;
  createdAt: number;
  /** The CAs trusted when it was made (their hashes): a key made under other CAs is not used. */
  cas: string;
}

const fileOf = (dataDir: string) => join(dataDir, 'pki', 'tls-tickets.key');

/** A new key for the CAs `cas`, in memory (saveTicketKeys stores it). */
export function newTicketKeys(cas: string, now = Date.now()): TicketKeys {
  return { keys: randomBytes(48), createdAt: now, cas };
}

export async function saveTicketKeys(dataDir: string, t: TicketKeys): Promise<void> {
  await writeAtomic(
    fileOf(dataDir),
    `${JSON.stringify({ createdAt: t.createdAt, cas: t.cas, keys: t.keys.toString('base64') })}\n`,
    0o600,
  );
}

/**
 * The ticket key to serve with: the stored one while younger than its lifetime and made under
 * the same CAs (a hub stopped between a CA change and storing the new key must not resume
 * sessions from before it), else a new one, stored first.
 */
export async function ticketKeys(dataDir: string, cas: string, opts: { now?: number } = {}): Promise<TicketKeys> {
  const now = opts.now ?? Date.now();
  try {
    const stored = JSON.parse(await readFile(fileOf(dataDir), 'utf8')) as {
      createdAt?: unknown;
      cas?: unknown;
      keys?: unknown;
    };
    const keys = typeof stored.keys === 'string' ? Buffer.from(stored.keys, 'base64') : undefined;
    if (
      keys?.length === 48 &&
      stored.cas === cas &&
      typeof stored.createdAt === 'number' &&
      stored.createdAt <= now &&
      now - stored.createdAt < durations.ticketKeyLifetimeMs
    ) {
      return { keys, createdAt: stored.createdAt, cas };
    }
  } catch {
    // Missing or damaged: a new key (sessions resume from the next handshake on).
  }
  const fresh = newTicketKeys(cas, now);
  await saveTicketKeys(dataDir, fresh);
  return fresh;
}

/**
 * Replaces the served key once it reaches its lifetime (`serve` calls this hourly): reads or
 * makes the key `ticketKeys` gives and hands it to `use` (the listener's setTicketKeys).
 * Resolves whether it did.
 */
export async function renewIfOld(o: {
  dataDir: string;
  current: TicketKeys;
  cas: string;
  use: (t: TicketKeys) => void;
  now?: number;
}): Promise<boolean> {
  const now = o.now ?? Date.now();
  if (now - o.current.createdAt < durations.ticketKeyLifetimeMs) return false;
  o.use(await ticketKeys(o.dataDir, o.cas, { now }));
  return true;
}
