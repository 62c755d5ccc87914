// Certificate serial numbers.
import { randomBytes } from 'node:crypto';

/** A random positive 128-bit serial (RFC 5280 asks for unpredictable serials), lower-case hex. */
export function randomSerial(): string {
  const bytes = randomBytes(16);
  bytes[0] = ((bytes[0] ?? 0) & 0x7f) | 0x10; // positive, and no leading zero byte to strip
  return bytes.toString('hex');
}
