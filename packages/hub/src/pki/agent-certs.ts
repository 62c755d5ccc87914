// Agent certificates: every check a CSR must pass before the hub signs it, and the signing
// itself. The hub decides the subject; the CSR must carry exactly that and nothing else.
import { webcrypto } from 'node:crypto';
import {
  agentCommonName,
  agentOrganization,
  apiError,
  type CryptoKey,
  certToPem,
  signingAlgorithm,
  x509,
} from '@outpost/shared';
import { randomSerial } from './serial.ts';

/** Key types an agent may use. RSA below 2048 bits and other curves are weak or unusual. */
const allowedCurves = new Set(['P-256', 'P-384']);
const minRsaBits = 2048;

/** Requested extensions the hub tolerates, and only with these values. */
const oid = {
  keyUsage: '2.5.29.15',
  extKeyUsage: '2.5.29.37',
  basicConstraints: '2.5.29.19',
  extensionRequest: '1.2.840.113549.1.9.14',
} as const;

export interface InspectedCsr {
  csr: x509.Pkcs10CertificateRequest;
  publicKey: CryptoKey;
}

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

  const alg = csr.publicKey.algorithm as { name: string; namedCurve?: string; modulusLength?: number };
  if (alg.name === 'ECDSA') {
    if (!alg.namedCurve || !allowedCurves.has(alg.namedCurve)) {
      throw apiError('CSR_KEY_WEAK', `ECDSA curve ${alg.namedCurve ?? 'unknown'} is not accepted; use P-256 or P-384`);
    }
  } else if (alg.name === 'RSASSA-PKCS1-v1_5' || alg.name === 'RSA-PSS') {
    if ((alg.modulusLength ?? 0) < minRsaBits) {
      throw apiError('CSR_KEY_WEAK', `RSA keys must have at least ${minRsaBits} bits, got ${alg.modulusLength}`);
    }
  } else {
    throw apiError('CSR_KEY_WEAK', `key type ${alg.name} is not accepted; use ECDSA P-256`);
  }

  let valid = false;
  try {
    valid = await csr.verify();
  } catch {
    valid = false;
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

  const publicKey = (await csr.publicKey.export()) as CryptoKey;
  return { csr, publicKey };
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

/** Signs a client certificate for `cluster` over the (already inspected) public key. */
export async function signAgentCertificate(
  ca: SigningCa,
  cluster: string,
  publicKey: CryptoKey,
  validityMs: number,
  now = Date.now(),
): Promise<IssuedCertificate> {
  const serial = randomSerial();
  // Backdate a little: spokes' clocks drift, and a certificate "not yet valid" is an outage.
  const notBefore = new Date(now - 5 * 60_000);
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
        await x509.AuthorityKeyIdentifierExtension.create(ca.cert, false),
      ],
    },
    webcrypto as unknown as Parameters<typeof x509.X509CertificateGenerator.create>[1],
  );
  return { serial, certPem: certToPem(cert), notBefore, notAfter, caHash: ca.hash };
}
