// Secrets: generation, hashing and constant-time comparison of API and bootstrap tokens.
// Secrets are 80+ bits of randomness, so one SHA-256 is the right hash: a slow KDF would
// only slow the hub, not an attacker who cannot guess the secret anyway.
import { createHash, randomBytes, randomInt, timingSafeEqual } from 'node:crypto';

const alphabet = 'abcdefghijklmnopqrstuvwxyz0123456789';

export function randomToken(length: number): string {
  let out = '';
  for (let i = 0; i < length; i++) out += alphabet[randomInt(alphabet.length)];
  return out;
}

export function hashSecret(secret: string): Buffer {
  return createHash('sha256').update(secret, 'utf8').digest();
}

/** Constant-time check of `secret` against a stored hash (also when `stored` is missing). */
export function secretMatches(secret: string, stored: Buffer | undefined): boolean {
  const got = hashSecret(secret);
  const want = stored && stored.length === got.length ? stored : Buffer.alloc(got.length);
  return timingSafeEqual(got, want) && stored !== undefined;
}

/** API token text: `oph_<id: 16 hex>_<secret: 43 base64url>`. */
const apiTokenPattern = /^oph_([0-9a-f]{16})_([A-Za-z0-9_-]{43})$/;

export function newApiToken(): { id: string; secret: string; text: string } {
  const id = randomBytes(8).toString('hex');
  const secret = randomBytes(32).toString('base64url');
  return { id, secret, text: `oph_${id}_${secret}` };
}

export function parseApiToken(text: string): { id: string; secret: string } | undefined {
  const m = apiTokenPattern.exec(text);
  return m ? { id: m[1] as string, secret: m[2] as string } : undefined;
}
