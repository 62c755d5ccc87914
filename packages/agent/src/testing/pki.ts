// Certificates made at test time for the agent's tests: CAs, serving certificates for
// loopback hubs, client certificates. Only tests import this folder.
import { randomBytes, type webcrypto } from 'node:crypto';
import { agentSubject, generateKeyPair, privateKeyToPem, signingAlgorithm } from '@outpost/shared';
import { x509 } from '@outpost/shared/x509';
import type { Credentials } from '../credentials/index.ts';

export interface TestCa {
  certPem: string;
  keyPem: string;
  cert: x509.X509Certificate;
  keys: webcrypto.CryptoKeyPair;
}

function serial(): string {
  // Positive, non-zero leading byte.
  return `01${randomBytes(15).toString('hex')}`;
}

const hour = 3_600_000;

export async function createTestCa(name = 'Test CA'): Promise<TestCa> {
  const keys = await generateKeyPair();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serial(),
    name: `CN=${name}`,
    notBefore: new Date(Date.now() - hour),
    notAfter: new Date(Date.now() + 24 * hour),
    keys,
    signingAlgorithm,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return { cert, certPem: `${cert.toString('pem')}\n`, keyPem: await privateKeyToPem(keys.privateKey), keys };
}

export interface Leaf {
  certPem: string;
  keyPem: string;
}

async function issue(
  ca: TestCa,
  subject: string,
  extensions: x509.Extension[],
  validity: { notBefore?: Date; notAfter?: Date } = {},
): Promise<Leaf> {
  const keys = await generateKeyPair();
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: serial(),
    subject,
    issuer: ca.cert.subject,
    notBefore: validity.notBefore ?? new Date(Date.now() - hour),
    notAfter: validity.notAfter ?? new Date(Date.now() + 24 * hour),
    publicKey: keys.publicKey,
    signingKey: ca.keys.privateKey,
    signingAlgorithm,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      await x509.AuthorityKeyIdentifierExtension.create(ca.cert),
      ...extensions,
    ],
  });
  return { certPem: `${cert.toString('pem')}\n`, keyPem: await privateKeyToPem(keys.privateKey) };
}

/** A serving certificate, by default for 127.0.0.1 and localhost. */
export function issueServingCert(
  ca: TestCa,
  names: { type: 'ip' | 'dns'; value: string }[] = [
    { type: 'ip', value: '127.0.0.1' },
    { type: 'dns', value: 'localhost' },
  ],
): Promise<Leaf> {
  return issue(ca, 'CN=hub', [
    new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
    new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
    new x509.SubjectAlternativeNameExtension(names),
  ]);
}

/** An agent client certificate for `cluster`. */
export function issueAgentCert(
  ca: TestCa,
  cluster: string,
  validity: { notBefore?: Date; notAfter?: Date } = {},
): Promise<Leaf> {
  return issue(
    ca,
    agentSubject(cluster),
    [
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.clientAuth]),
    ],
    validity,
  );
}

/** A self-signed certificate with a chosen validity (for timing tests). */
export async function selfSignedCert(validity: { notBefore: Date; notAfter: Date }): Promise<Leaf> {
  const keys = await generateKeyPair();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serial(),
    name: 'CN=timing',
    notBefore: validity.notBefore,
    notAfter: validity.notAfter,
    keys,
    signingAlgorithm,
  });
  return { certPem: `${cert.toString('pem')}\n`, keyPem: await privateKeyToPem(keys.privateKey) };
}

/** Stored credentials for `leaf` under a CA bundle, as join would store them (test data). */
export function sampleCredentials(leaf: Leaf, caBundlePem: string): Credentials {
  return {
    keyPem: leaf.keyPem,
    certPem: leaf.certPem,
    caBundlePem,
    hub: {
      hubUrl: 'https://hub:8443',
      clusterName: 'store-1',
      caCertHash: `sha256:${'a'.repeat(64)}`,
      caCertHashes: [`sha256:${'a'.repeat(64)}`],
      joinedAt: '2026-01-01T00:00:00.000Z',
    },
  };
}
