// Listen addresses as both binaries take them on the command line.
import { isIP } from 'node:net';

/**
 * Parses `HOST:PORT`, `[V6]:PORT` or `:PORT` (host '': every address, the caller decides
 * what that binds): the address, or why it is not one, as a code for the caller's error,
 * which names its flag.
 */
export function parseHostPort(
  value: string,
): { host: string; port: number } | { error: 'NOT_HOST_PORT' } | { error: 'NOT_IPV6'; host: string } {
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d{1,5})$/.exec(value.trim());
  const port = m ? Number(m[3]) : Number.NaN;
  if (!m || !Number.isInteger(port) || port > 65535) return { error: 'NOT_HOST_PORT' };
  if (m[1] && isIP(m[1]) !== 6) return { error: 'NOT_IPV6', host: m[1] };
  return { host: m[1] ?? m[2] ?? '', port };
}
