// The node:crypto-only key, pin and CSR helpers, checked against @peculiar/x509 and openssl.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash, webcrypto } from 'node:crypto';
import { describe, test } from 'node:test';
import { agentSubject } from '../protocol/index.ts';
import { caCertHash, createCsr, generateKeyPair, pemDecode, privateKeyFromPem, privateKeyToPem } from './index.ts';
import { certToPem, x509 } from './x509.ts';

describe('crypto without @peculiar/x509', () => {
  test('a CSR that @peculiar/x509 parses and verifies, with the subject in order', async () => {
    const keys = await generateKeyPair();
    const pem = await createCsr(keys, agentSubject('edge-01'));
    assert.match(pem, /^-----BEGIN CERTIFICATE REQUEST-----\n[A-Za-z0-9+/=\n]+\n-----END CERTIFICATE REQUEST-----\n$/);
    const csr = new x509.Pkcs10CertificateRequest(pem);
    assert.equal(csr.subject, 'CN=outpost:cluster:edge-01, O=outpost:agents');
    assert.equal(await csr.verify(), true);
    const spki = Buffer.from(await webcrypto.subtle.exportKey('spki', keys.publicKey));
    assert.deepEqual(Buffer.from(csr.publicKey.rawData), spki);
  });

  test('long subjects use the long DER length form', async () => {
    const keys = await generateKeyPair();
    const long = 'x'.repeat(300);
    const csr = new x509.Pkcs10CertificateRequest(await createCsr(keys, `CN=${long}, O=o, OU=u`));
    assert.equal(csr.subject, `CN=${long}, O=o, OU=u`);
    assert.equal(await csr.verify(), true);
    await assert.rejects(createCsr(keys, 'XX=1'), /unsupported subject attribute XX/);
    await assert.rejects(createCsr(keys, 'garbage'), /KEY=VALUE/);
  });

  test('openssl verifies the CSR signature', async (t) => {
    try {
      execFileSync('openssl', ['version'], { stdio: 'ignore' });
    } catch {
      t.skip('openssl not installed');
      return;
    }
    const pem = await createCsr(await generateKeyPair(), agentSubject('edge-02'));
    const out = execFileSync('openssl', ['req', '-verify', '-noout', '-subject'], {
      input: pem,
      encoding: 'utf8',
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    assert.match(out, /CN\s*=\s*outpost:cluster:edge-02, O\s*=\s*outpost:agents/);
  });

  test('private key PEM round trip; caCertHash is the SHA-256 of the SubjectPublicKeyInfo', async () => {
    const keys = await generateKeyPair();
    const pem = await privateKeyToPem(keys.privateKey);
    assert.match(pem, /^-----BEGIN PRIVATE KEY-----\n/);
    const back = await privateKeyFromPem(pem);
    assert.deepEqual(
      Buffer.from(await webcrypto.subtle.exportKey('pkcs8', back)),
      Buffer.from(await webcrypto.subtle.exportKey('pkcs8', keys.privateKey)),
    );
    const cert = await x509.X509CertificateGenerator.createSelfSigned({
      serialNumber: '01',
      name: 'CN=test-ca',
      notBefore: new Date(Date.now() - 60_000),
      notAfter: new Date(Date.now() + 3_600_000),
      keys,
      signingAlgorithm: { name: 'ECDSA', hash: 'SHA-256' },
    });
    const expected = `sha256:${createHash('sha256').update(Buffer.from(cert.publicKey.rawData)).digest('hex')}`;
    assert.equal(caCertHash(certToPem(cert)), expected);
    assert.deepEqual(pemDecode(certToPem(cert)), Buffer.from(cert.rawData));
  });
});
