// Agent certificates: every check a CSR must pass before the hub signs it, and the signing
// itself. The hub decides the subject; the CSR must carry exactly that and nothing else.
import { createPublicKey, type KeyObject, verify, webcrypto } from 'node:crypto';
import { agentCommonName, agentOrganization, apiError, type CryptoKey, signingAlgorithm } from '@outpost/shared';
import { certToPem, x509 } from '@outpost/shared/x509';
import { randomSerial } from './serial.ts';

/** Key types an agent may use. RSA below 2048 bits and other curves are weak or unusual. */
const allowedCurves = new Map([
  ['prime256v1', 'P-256'],
  ['secp384r1', 'P-384'],
]);
const minRsaBits = 2048;

/** Reads one DER header at `at`: the tag, where the content starts and its length. */
function derHeader(der: Uint8Array, at: number): { tag: number; start: number; length: number } {
  const tag = der[at] ?? -1;
  const first = der[at + 1] ?? 0;
  if (first < 0x80) return { tag, start: at + 2, length: first };
  const n = first & 0x7f;
  let length = 0;
  for (let i = 0; i < n; i++) length = length * 256 + (der[at + 2 + i] ?? 0);
  return { tag, start: at + 2 + n, length };
}

/**
 * True when an EC SubjectPublicKeyInfo names its curve by OID. SPKI is
 * SEQUENCE { SEQUENCE { OID id-ecPublicKey, parameters }, BIT STRING }; named curves have
 * an OID (tag 6) as parameters, explicit ones a SEQUENCE (tag 0x30).
 */
function hasNamedCurve(spki: ArrayBuffer): boolean {
  const der = new Uint8Array(spki);
  const outer = derHeader(der, 0);
  const alg = derHeader(der, outer.start);
  const algOid = derHeader(der, alg.start);
  const params = derHeader(der, algOid.start + algOid.length);
  return outer.tag === 0x30 && alg.tag === 0x30 && algOid.tag === 0x06 && params.tag === 0x06;
}

/** Requested extensions the hub tolerates, and only with these values. */
const oid = {
  keyUsage: '2.5.29.15',
  extKeyUsage: '2.5.29.37',
  basicConstraints: '2.5.29.19',
  extensionRequest: '1.2.840.113549.1.9.14',
} as const;

export interface InspectedCsr {
  csr: x509.Pkcs10CertificateRequest;
  /** The requested public key, as the certificate generator takes it (no re-encoding). */
  publicKey: x509.PublicKey;
}

/** Signature hashes a CSR may use, as node:crypto names them. */
const hashes: Record<string, string> = { 'SHA-256': 'sha256', 'SHA-384': 'sha384', 'SHA-512': 'sha512' };

/**
 * Parses and checks a PEM CSR for `cluster`: well-formed, self-signature valid, strong key,
 * subject exactly `CN=outpost:cluster:<cluster>, O=outpost:agents`, and no requested
 * extension beyond client-auth key usages. Throws an OutpostError with a CSR_* code.
 */
export async function inspectCsr(pem: unknown, cluster: string): Promise<InspectedCsr> {
  if (typeof pem !== 'string' || !pem.includes('-----BEGIN CERTIFICATE REQUEST-----')) {
    throw apiError('CSR_MALFORMED', 'csr must be a PEM "CERTIFICATE REQUEST"');
  }
  let csr: x509.Pkcs10CertificateRequest;
  try {
    csr = new x509.Pkcs10CertificateRequest(pem);
  } catch (err) {
    throw apiError('CSR_MALFORMED', `csr could not be parsed: ${(err as Error).message}`);
  }

  // Key checks and the signature check run on node:crypto's native key objects: the
  // JavaScript ASN.1 path is most of a registration's cost (see test/bench/registration).
  let key: KeyObject;
  try {
    key = createPublicKey({ key: Buffer.from(csr.publicKey.rawData), format: 'der', type: 'spki' });
  } catch (err) {
    throw apiError('CSR_MALFORMED', `csr public key could not be read: ${(err as Error).message}`);
  }
  const details = key.asymmetricKeyDetails ?? {};
  if (key.asymmetricKeyType === 'ec') {
    // OpenSSL names a curve given by explicit parameters when they match a known one, but
    // TLS (RFC 8422) allows only named curves: the hub's own handshake would refuse the
    // certificate, and the registration would be spent on a cluster that can never connect.
    if (!hasNamedCurve(csr.publicKey.rawData)) {
      throw apiError('CSR_KEY_WEAK', 'ECDSA keys must name their curve (P-256 or P-384), not give explicit parameters');
    }
    if (!details.namedCurve || !allowedCurves.has(details.namedCurve)) {
      throw apiError(
        'CSR_KEY_WEAK',
        `ECDSA curve ${details.namedCurve ?? 'unknown'} is not accepted; use P-256 or P-384`,
      );
    }
  } else if (key.asymmetricKeyType === 'rsa') {
    if ((details.modulusLength ?? 0) < minRsaBits) {
      throw apiError('CSR_KEY_WEAK', `RSA keys must have at least ${minRsaBits} bits, got ${details.modulusLength}`);
    }
  } else {
    throw apiError('CSR_KEY_WEAK', `key type ${key.asymmetricKeyType ?? 'unknown'} is not accepted; use ECDSA P-256`);
  }

  const sigAlg = csr.signatureAlgorithm as { name?: string; hash?: { name?: string } };
  const hash = hashes[sigAlg.hash?.name ?? ''];
  const expectedAlg = key.asymmetricKeyType === 'ec' ? 'ECDSA' : 'RSASSA-PKCS1-v1_5';
  let valid = false;
  if (hash && sigAlg.name === expectedAlg) {
    try {
      // ECDSA signatures in a CSR are DER, which is what dsaEncoding 'der' reads.
      // `tbs` (the signed CertificationRequestInfo bytes) is public at run time but private
      // in the typings.
      const tbs = (csr as unknown as { tbs: ArrayBuffer }).tbs;
      valid = verify(hash, Buffer.from(tbs), { key, dsaEncoding: 'der' }, Buffer.from(csr.signature));
    } catch {
      valid = false;
    }
  }
  if (!valid) throw apiError('CSR_SIGNATURE_INVALID', 'csr signature does not verify with its own public key');

  const rdns = csr.subjectName.toJSON();
  const attrs = rdns.flatMap((rdn) => Object.entries(rdn).flatMap(([type, values]) => values.map((v) => [type, v])));
  const want = [
    ['CN', agentCommonName(cluster)],
    ['O', agentOrganization],
  ];
  const got = attrs.map(([t, v]) => `${t}=${v}`).sort();
  if (JSON.stringify(got) !== JSON.stringify(want.map(([t, v]) => `${t}=${v}`).sort())) {
    throw apiError(
      'CSR_SUBJECT_MISMATCH',
      `csr subject must be exactly "CN=${agentCommonName(cluster)}, O=${agentOrganization}", got "${csr.subject}"`,
    );
  }

  for (const attr of csr.attributes) {
    if (attr.type !== oid.extensionRequest) {
      throw apiError('CSR_EXTENSIONS_FORBIDDEN', `csr attribute ${attr.type} is not accepted`);
    }
  }
  for (const ext of csr.extensions) checkRequestedExtension(ext);

  return { csr, publicKey: csr.publicKey };
}

function checkRequestedExtension(ext: x509.Extension): void {
  if (ext.type === oid.keyUsage) {
    const ku = new x509.KeyUsagesExtension(ext.rawData);
    const allowed = x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment;
    if ((ku.usages & ~allowed) !== 0) {
      throw apiError('CSR_EXTENSIONS_FORBIDDEN', 'csr asks for key usages beyond digitalSignature and keyEncipherment');
    }
    return;
  }
  if (ext.type === oid.extKeyUsage) {
    const eku = new x509.ExtendedKeyUsageExtension(ext.rawData);
    if (eku.usages.some((u) => u !== x509.ExtendedKeyUsage.clientAuth)) {
      throw apiError('CSR_EXTENSIONS_FORBIDDEN', 'csr asks for extended key usages other than clientAuth');
    }
    return;
  }
  if (ext.type === oid.basicConstraints) {
    const bc = new x509.BasicConstraintsExtension(ext.rawData);
    if (bc.ca) throw apiError('CSR_EXTENSIONS_FORBIDDEN', 'csr asks to be a CA');
    return;
  }
  throw apiError('CSR_EXTENSIONS_FORBIDDEN', `csr asks for extension ${ext.type}, which the hub does not grant`);
}

export interface SigningCa {
  cert: x509.X509Certificate;
  key: CryptoKey;
  hash: string;
}

export interface IssuedCertificate {
  serial: string;
  certPem: string;
  notBefore: Date;
  notAfter: Date;
  caHash: string;
}

const akiCache = new WeakMap<x509.X509Certificate, Promise<x509.AuthorityKeyIdentifierExtension>>();

/** The CA's key identifier is the same for every certificate it signs: compute it once. */
function authorityKeyId(caCert: x509.X509Certificate): Promise<x509.AuthorityKeyIdentifierExtension> {
  let ext = akiCache.get(caCert);
  if (!ext) {
    ext = x509.AuthorityKeyIdentifierExtension.create(caCert, false);
    akiCache.set(caCert, ext);
  }
  return ext;
}

/** Signs a client certificate for `cluster` over the (already inspected) public key. */
export async function signAgentCertificate(
  ca: SigningCa,
  cluster: string,
  publicKey: x509.PublicKey | CryptoKey,
  validityMs: number,
  now = Date.now(),
): Promise<IssuedCertificate> {
  const serial = randomSerial();
  // Backdate a little: spokes' clocks drift, and a certificate "not yet valid" is an outage.
  // At most a tenth of the validity, so the renewal point (20-30 % of the life left) of a
  // short-lived certificate never falls before the moment it was issued.
  const notBefore = new Date(now - Math.min(5 * 60_000, validityMs / 10));
  const notAfter = new Date(Math.min(now + validityMs, ca.cert.notAfter.getTime()));
  const cert = await x509.X509CertificateGenerator.create(
    {
      serialNumber: serial,
      subject: `CN=${agentCommonName(cluster)}, O=${agentOrganization}`,
      issuer: ca.cert.subject,
      notBefore,
      notAfter,
      publicKey,
      signingKey: ca.key,
      signingAlgorithm,
      extensions: [
        new x509.BasicConstraintsExtension(false, undefined, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
        new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.clientAuth], false),
        await authorityKeyId(ca.cert),
      ],
    },
    webcrypto as unknown as Parameters<typeof x509.X509CertificateGenerator.create>[1],
  );
  // Record the validity as encoded (whole seconds), not the requested milliseconds: the hub
  // checks expiry against this record, and it must agree with what TLS sees.
  return { serial, certPem: certToPem(cert), notBefore: cert.notBefore, notAfter: cert.notAfter, caHash: ca.hash };
}
