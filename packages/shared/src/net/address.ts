// Listen addresses as both binaries take them on the command line.
import { isIP } from 'node:net';

/**
 * Parses `HOST:PORT`, `[V6]:PORT` or `:PORT` (all interfaces): the address, or why it is not
 * one (for the caller's error, which names its flag).
 */
export function parseHostPort(value: string): { host: string; port: number } | { error: string } {
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d{1,5})$/.exec(value.trim());
  const port = m ? Number(m[3]) : Number.NaN;
  if (!m || !Number.isInteger(port) || port > 65535) return { error: 'must be HOST:PORT' };
  if (m[1] && isIP(m[1]) !== 6) return { error: `${m[1]} is not an IPv6 address` };
  return { host: m[1] ?? (m[2] || '0.0.0.0'), port };
}
