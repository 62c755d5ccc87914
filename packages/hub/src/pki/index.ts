// The hub's PKI on disk: the CA that signs agent certificates and the serving
// certificate agents pin through it. Created on first start, reused afterwards.
import { randomBytes } from 'node:crypto';
import { chmod, mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { isIP } from 'node:net';
import { join } from 'node:path';
import {
  type CryptoKey,
  caCertHash,
  certToPem,
  durations,
  generateKeyPair,
  privateKeyFromPem,
  privateKeyToPem,
  signingAlgorithm,
  x509,
} from '@outpost/shared';

export interface HubPki {
  caCertPem: string;
  caKey: CryptoKey;
  servingCertPem: string;
  servingKeyPem: string;
  /** `sha256:HEX` of the CA public key, the value agents pass as `--ca-cert-hash`. */
  caHash: string;
  /** True when this call created the CA (first start). */
  created: boolean;
}

const DAY_MS = 86_400_000;
const files = {
  caCert: 'ca.crt',
  caKey: 'ca.key',
  servingCert: 'serving.crt',
  servingKey: 'serving.key',
} as const;

/** A random positive 128-bit serial, as RFC 5280 asks for unpredictable serials. */
export function randomSerial(): string {
  const bytes = randomBytes(16);
  bytes[0] = (bytes[0] ?? 0) & 0x7f;
  return bytes.toString('hex');
}

async function readIfExists(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

/** Writes atomically (temp file + rename) so a crash never leaves half a key. */
async function writeSecretFile(path: string, data: string, mode: number): Promise<void> {
  const tmp = `${path}.tmp-${process.pid}`;
  await writeFile(tmp, data, { mode });
  await chmod(tmp, mode);
  await rename(tmp, path);
}

async function createCa(): Promise<{ certPem: string; keyPem: string }> {
  const keys = await generateKeyPair();
  const now = Date.now();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: randomSerial(),
    name: `CN=outpost-hub-ca-${randomBytes(4).toString('hex')}`,
    notBefore: new Date(now - 5 * 60_000),
    notAfter: new Date(now + durations.caValidityDays * DAY_MS),
    keys,
    signingAlgorithm,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return { certPem: certToPem(cert), keyPem: await privateKeyToPem(keys.privateKey) };
}

/** The subject alternative names a serving certificate must carry. */
export function servingNames(advertiseUrl: string | undefined, sans: readonly string[]): string[] {
  const names = new Set<string>(['localhost', '127.0.0.1', '::1']);
  if (advertiseUrl) names.add(new URL(advertiseUrl).hostname.replace(/^\[|\]$/g, ''));
  for (const san of sans) if (san) names.add(san);
  return [...names];
}

function certCovers(certPem: string, names: readonly string[], now: number): boolean {
  const cert = new x509.X509Certificate(certPem);
  // Reissue a month before expiry so a long-running hub never serves an expired cert.
  if (cert.notAfter.getTime() - now < 30 * DAY_MS) return false;
  const ext = cert.getExtension(x509.SubjectAlternativeNameExtension);
  const have = new Set(ext?.names.items.map((n) => n.value) ?? []);
  return names.every((n) => have.has(n));
}

async function issueServingCert(
  caCertPem: string,
  caKey: CryptoKey,
  names: readonly string[],
): Promise<{ certPem: string; keyPem: string }> {
  const keys = await generateKeyPair();
  const ca = new x509.X509Certificate(caCertPem);
  const now = Date.now();
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: randomSerial(),
    subject: 'CN=outpost-hub',
    issuer: ca.subject,
    notBefore: new Date(now - 5 * 60_000),
    notAfter: new Date(now + durations.servingCertValidityDays * DAY_MS),
    publicKey: keys.publicKey,
    signingKey: caKey,
    signingAlgorithm,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth], false),
      new x509.SubjectAlternativeNameExtension(
        names.map((n) => (isIP(n) ? { type: 'ip', value: n } : { type: 'dns', value: n })),
      ),
      await x509.AuthorityKeyIdentifierExtension.create(ca, false),
    ],
  });
  return { certPem: certToPem(cert), keyPem: await privateKeyToPem(keys.privateKey) };
}

/**
 * Loads the hub PKI from `dataDir`, creating the CA on first start and (re)issuing the
 * serving certificate when it is missing, near expiry, or lacks a requested name.
 */
export async function ensureHubPki(
  dataDir: string,
  opts: { advertiseUrl?: string | undefined; sans: readonly string[] },
): Promise<HubPki> {
  await mkdir(dataDir, { recursive: true, mode: 0o700 });
  const path = (name: keyof typeof files) => join(dataDir, files[name]);

  let caCertPem = await readIfExists(path('caCert'));
  let caKeyPem = await readIfExists(path('caKey'));
  let created = false;
  if (!caCertPem || !caKeyPem) {
    if (caCertPem || caKeyPem) {
      throw new Error(
        `hub CA in ${dataDir} is incomplete (one of ${files.caCert}, ${files.caKey} is missing); ` +
          'restore both files from backup, or remove both to create a new CA (every agent must then rejoin)',
      );
    }
    const ca = await createCa();
    // Key first: a crash between the two writes leaves no certificate without its key.
    await writeSecretFile(path('caKey'), ca.keyPem, 0o600);
    await writeSecretFile(path('caCert'), ca.certPem, 0o644);
    caCertPem = ca.certPem;
    caKeyPem = ca.keyPem;
    created = true;
  }
  const caKey = await privateKeyFromPem(caKeyPem);

  const names = servingNames(opts.advertiseUrl, opts.sans);
  let servingCertPem = await readIfExists(path('servingCert'));
  let servingKeyPem = await readIfExists(path('servingKey'));
  if (!servingCertPem || !servingKeyPem || !certCovers(servingCertPem, names, Date.now())) {
    const serving = await issueServingCert(caCertPem, caKey, names);
    await writeSecretFile(path('servingKey'), serving.keyPem, 0o600);
    await writeSecretFile(path('servingCert'), serving.certPem, 0o644);
    servingCertPem = serving.certPem;
    servingKeyPem = serving.keyPem;
  }
  return { caCertPem, caKey, servingCertPem, servingKeyPem, caHash: caCertHash(caCertPem), created };
}
