// The hub's PKI on disk: the CAs that sign agent certificates (one signing CA, plus the
// previous one while a rotation is under way) and the serving certificate agents verify.
//
// Layout under the data dir:
//   pki/cas/<id>/ca.crt, ca.key (0600)   one folder per CA, never rewritten
//   pki/state.json                       { signing, previous } — switched by one atomic rename
//   pki/serving.crt, pki/serving.key     the hub's TLS certificate
//   pki/tls-tickets.key                  the TLS session-ticket key (tickets.ts)
//   ca.crt                               the trust bundle, for `curl --cacert` and humans
import { randomBytes } from 'node:crypto';
import { chmod, mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { isIP } from 'node:net';
import { join } from 'node:path';
import {
  apiError,
  type CryptoKey,
  caCertHash,
  durations,
  generateKeyPair,
  privateKeyFromPem,
  privateKeyToPem,
  signingAlgorithm,
} from '@outpost/shared';
import { certToPem, x509 } from '@outpost/shared/x509';
import type { SigningCa } from './agent-certs.ts';
import { randomSerial } from './serial.ts';

export * from './agent-certs.ts';
export { randomSerial } from './serial.ts';

export interface CaEntry extends SigningCa {
  id: string;
  certPem: string;
}

export interface HubPki {
  /** Signs every new agent certificate. */
  signing: CaEntry;
  /** The CA being retired during a rotation; still trusted, still signs the serving cert. */
  previous: CaEntry | undefined;
  /** PEM of every trusted CA, signing first: what agents trust and what verifies them. */
  caBundlePem: string;
  servingCertPem: string;
  servingKeyPem: string;
  /** `sha256:HEX` of the signing CA, the value new agents pass as `--ca-cert-hash`. */
  caHash: string;
  /** True when this call created the first CA (first start). */
  created: boolean;
}

export interface PkiOptions {
  advertiseUrl?: string | undefined;
  sans: readonly string[];
}

interface PkiState {
  signing: string;
  previous: string | null;
}

const DAY_MS = 86_400_000;

async function readIfExists(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

/** Writes atomically (temp file + rename) so a crash never leaves half a file. */
export async function writeAtomic(path: string, data: string, mode: number): Promise<void> {
  const tmp = `${path}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
  await writeFile(tmp, data, { mode });
  await chmod(tmp, mode);
  await rename(tmp, path);
}

async function createCa(dir: string): Promise<string> {
  const keys = await generateKeyPair();
  const now = Date.now();
  const id = `${new Date(now).toISOString().slice(0, 10).replaceAll('-', '')}-${randomBytes(4).toString('hex')}`;
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: randomSerial(),
    name: `CN=outpost-hub-ca-${id}`,
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
  const caDir = join(dir, id);
  await mkdir(caDir, { recursive: true, mode: 0o700 });
  // Key first: a crash between the two writes leaves no certificate without its key.
  await writeAtomic(join(caDir, 'ca.key'), await privateKeyToPem(keys.privateKey), 0o600);
  // Certificates are public, but everything in the data directory is 0600 (store/data-dir.ts).
  await writeAtomic(join(caDir, 'ca.crt'), certToPem(cert), 0o600);
  return id;
}

async function loadCa(casDir: string, id: string): Promise<CaEntry> {
  const certPem = await readIfExists(join(casDir, id, 'ca.crt'));
  const keyPem = await readIfExists(join(casDir, id, 'ca.key'));
  if (!certPem || !keyPem) {
    throw new Error(
      `hub CA ${id} in ${join(casDir, id)} is incomplete (ca.crt or ca.key missing); restore it from backup. ` +
        'Creating a new CA would cut off every agent.',
    );
  }
  const key: CryptoKey = await privateKeyFromPem(keyPem);
  return { id, certPem, key, cert: new x509.X509Certificate(certPem), hash: caCertHash(certPem) };
}

/** The subject alternative names a serving certificate must carry. */
export function servingNames(advertiseUrl: string | undefined, sans: readonly string[]): string[] {
  const names = new Set<string>(['localhost', '127.0.0.1', '::1']);
  if (advertiseUrl) names.add(new URL(advertiseUrl).hostname.replace(/^\[|\]$/g, ''));
  for (const san of sans) if (san) names.add(san);
  return [...names];
}

function servingCertFits(certPem: string, issuer: CaEntry, names: readonly string[], now: number): boolean {
  const cert = new x509.X509Certificate(certPem);
  // Reissue a month before expiry so a long-running hub never serves an expired cert.
  if (cert.notAfter.getTime() - now < 30 * DAY_MS) return false;
  if (cert.issuer !== issuer.cert.subject) return false;
  const ext = cert.getExtension(x509.SubjectAlternativeNameExtension);
  const have = new Set(ext?.names.items.map((n) => n.value) ?? []);
  return names.every((n) => have.has(n));
}

async function issueServingCert(ca: CaEntry, names: readonly string[]): Promise<{ certPem: string; keyPem: string }> {
  const keys = await generateKeyPair();
  const now = Date.now();
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: randomSerial(),
    subject: 'CN=outpost-hub',
    issuer: ca.cert.subject,
    notBefore: new Date(now - 5 * 60_000),
    notAfter: new Date(Math.min(now + durations.servingCertValidityDays * DAY_MS, ca.cert.notAfter.getTime())),
    publicKey: keys.publicKey,
    signingKey: ca.key,
    signingAlgorithm,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth], false),
      new x509.SubjectAlternativeNameExtension(
        names.map((n) => (isIP(n) ? { type: 'ip', value: n } : { type: 'dns', value: n })),
      ),
      await x509.AuthorityKeyIdentifierExtension.create(ca.cert, false),
    ],
  });
  return { certPem: certToPem(cert), keyPem: await privateKeyToPem(keys.privateKey) };
}

function paths(dataDir: string) {
  const pki = join(dataDir, 'pki');
  return {
    pki,
    cas: join(pki, 'cas'),
    state: join(pki, 'state.json'),
    servingCert: join(pki, 'serving.crt'),
    servingKey: join(pki, 'serving.key'),
    bundle: join(dataDir, 'ca.crt'),
  };
}

async function readState(file: string): Promise<PkiState | undefined> {
  const text = await readIfExists(file);
  return text === undefined ? undefined : (JSON.parse(text) as PkiState);
}

/**
 * Loads the hub PKI from `dataDir`, creating the first CA on first start, and (re)issuing
 * the serving certificate when it is missing, near expiry, lacks a requested name, or is
 * not signed by the CA that should sign it (the previous CA during a rotation, else the
 * signing CA).
 */
export async function ensureHubPki(dataDir: string, opts: PkiOptions): Promise<HubPki> {
  const p = paths(dataDir);
  await mkdir(dataDir, { recursive: true, mode: 0o700 });
  await mkdir(p.cas, { recursive: true, mode: 0o700 });
  let state = await readState(p.state);
  let created = false;
  if (!state) {
    state = { signing: await createCa(p.cas), previous: null };
    await writeAtomic(p.state, `${JSON.stringify(state)}\n`, 0o600);
    created = true;
  }
  const signing = await loadCa(p.cas, state.signing);
  const previous = state.previous ? await loadCa(p.cas, state.previous) : undefined;
  const servingIssuer = previous ?? signing;

  const names = servingNames(opts.advertiseUrl, opts.sans);
  let servingCertPem = await readIfExists(p.servingCert);
  let servingKeyPem = await readIfExists(p.servingKey);
  if (!servingCertPem || !servingKeyPem || !servingCertFits(servingCertPem, servingIssuer, names, Date.now())) {
    const serving = await issueServingCert(servingIssuer, names);
    await writeAtomic(p.servingKey, serving.keyPem, 0o600);
    await writeAtomic(p.servingCert, serving.certPem, 0o600);
    servingCertPem = serving.certPem;
    servingKeyPem = serving.keyPem;
  }
  const caBundlePem = previous ? `${signing.certPem}${previous.certPem}` : signing.certPem;
  if ((await readIfExists(p.bundle)) !== caBundlePem) await writeAtomic(p.bundle, caBundlePem, 0o600);
  return { signing, previous, caBundlePem, servingCertPem, servingKeyPem, caHash: signing.hash, created };
}

/**
 * Starts a CA rotation: a new CA signs every certificate from now on; the old one stays
 * trusted (and keeps signing the serving certificate) until `finishCaRotation`.
 */
export async function startCaRotation(dataDir: string, opts: PkiOptions): Promise<HubPki> {
  const p = paths(dataDir);
  const state = await readState(p.state);
  if (!state) throw new Error('hub PKI is not initialised');
  if (state.previous) {
    throw apiError('CONFLICT', `a CA rotation is already under way (retiring CA ${state.previous})`, {
      reason: 'CA_ROTATION_IN_PROGRESS',
    });
  }
  const next = await createCa(p.cas);
  await writeAtomic(p.state, `${JSON.stringify({ signing: next, previous: state.signing })}\n`, 0o600);
  return ensureHubPki(dataDir, opts);
}

/**
 * Retires the previous CA: no longer trusted, its key destroyed, and the serving
 * certificate reissued under the signing CA. Callers check first that every cluster holds
 * a certificate of the signing CA.
 */
export async function finishCaRotation(dataDir: string, opts: PkiOptions): Promise<HubPki> {
  const p = paths(dataDir);
  const state = await readState(p.state);
  if (!state?.previous) return ensureHubPki(dataDir, opts);
  await writeAtomic(p.state, `${JSON.stringify({ signing: state.signing, previous: null })}\n`, 0o600);
  // The retired key can sign nothing any more; its certificate stays for the record.
  await rm(join(p.cas, state.previous, 'ca.key'), { force: true });
  return ensureHubPki(dataDir, opts);
}
