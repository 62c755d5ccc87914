// Which key type should Outpost's PKI use? RSA-2048 against ECDSA P-256, measured on what
// the hub pays: TLS handshakes with client certificates, CSR verification and certificate
// signing; and on what a spoke pays: key generation.
import { spawn } from 'node:child_process';
import { webcrypto } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from 'node:tls';
import type { CryptoKey, CryptoKeyPair } from '../../packages/shared/src/crypto/index.ts';
import { x509 } from '../../packages/shared/src/crypto/x509.ts';
import { type Metric, report, throughput } from './lib.ts';

const kinds = {
  'ecdsa-p256': {
    gen: { name: 'ECDSA', namedCurve: 'P-256' },
    sign: { name: 'ECDSA', hash: 'SHA-256' },
  },
  'rsa-2048': {
    gen: { name: 'RSASSA-PKCS1-v1_5', modulusLength: 2048, publicExponent: new Uint8Array([1, 0, 1]), hash: 'SHA-256' },
    sign: { name: 'RSASSA-PKCS1-v1_5' },
  },
} as const;
type Kind = keyof typeof kinds;

const subtle = webcrypto.subtle;
const genKeys = (k: Kind) => subtle.generateKey(kinds[k].gen, true, ['sign', 'verify']) as Promise<CryptoKeyPair>;
const pem = async (key: CryptoKey) => x509.PemConverter.encode(await subtle.exportKey('pkcs8', key), 'PRIVATE KEY');

async function issue(
  k: Kind,
  ca: { cert: x509.X509Certificate; key: CryptoKey },
  subject: string,
  pub: CryptoKey,
  server: boolean,
) {
  return x509.X509CertificateGenerator.create({
    subject,
    issuer: ca.cert.subject,
    publicKey: pub,
    signingKey: ca.key,
    signingAlgorithm: kinds[k].sign,
    notAfter: new Date(Date.now() + 86_400_000),
    extensions: [
      new x509.ExtendedKeyUsageExtension([
        server ? x509.ExtendedKeyUsage.serverAuth : x509.ExtendedKeyUsage.clientAuth,
      ]),
      ...(server ? [new x509.SubjectAlternativeNameExtension([{ type: 'dns', value: 'localhost' }])] : []),
    ],
  });
}

async function measure(k: Kind): Promise<Record<string, Metric>> {
  // Key generation (the spoke's cost at join and at every renewal).
  const genStart = performance.now();
  const genRounds = k === 'rsa-2048' ? 20 : 200;
  for (let i = 0; i < genRounds; i++) await genKeys(k);
  const keygenMs = (performance.now() - genStart) / genRounds;

  const caKeys = await genKeys(k);
  const caCert = await x509.X509CertificateGenerator.createSelfSigned({
    name: 'CN=bench-ca',
    keys: caKeys,
    signingAlgorithm: kinds[k].sign,
    extensions: [new x509.BasicConstraintsExtension(true, 0, true)],
  });
  const ca = { cert: caCert, key: caKeys.privateKey };
  const leafKeys = await genKeys(k);

  // CSR verification and certificate signing (the hub's cost per registration/renewal).
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({
    name: 'CN=bench',
    keys: leafKeys,
    signingAlgorithm: kinds[k].sign,
  });
  const csrPem = csr.toString('pem');
  const verifyPerSec = await throughput(
    async () => {
      const parsed = new x509.Pkcs10CertificateRequest(csrPem);
      if (!(await parsed.verify())) throw new Error('verify failed');
    },
    { ms: 2000, concurrency: 1, warmupMs: 300 },
  );
  const signPerSec = await throughput(
    async () => {
      await issue(k, ca, 'CN=bench', leafKeys.publicKey, false);
    },
    { ms: 2000, concurrency: 1, warmupMs: 300 },
  );

  // Full mTLS handshakes against a server process (no session resumption).
  const dir = mkdtempSync(join(tmpdir(), `outpost-bench-${k}-`));
  const serverKeys = await genKeys(k);
  writeFileSync(join(dir, 'server.key'), await pem(serverKeys.privateKey));
  writeFileSync(
    join(dir, 'server.crt'),
    (await issue(k, ca, 'CN=localhost', serverKeys.publicKey, true)).toString('pem'),
  );
  writeFileSync(join(dir, 'ca.crt'), caCert.toString('pem'));
  const clientCert = (await issue(k, ca, 'CN=client', leafKeys.publicKey, false)).toString('pem');
  const clientKey = await pem(leafKeys.privateKey);
  const server = spawn(process.execPath, [join(import.meta.dirname, 'tls-server.ts'), dir], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const port = await new Promise<number>((resolve, reject) => {
    server.stdout.once('data', (d: Buffer) => resolve(Number(d.toString().trim())));
    server.once('exit', (code) => reject(new Error(`tls server exited ${code}`)));
  });
  const handshake = () =>
    new Promise<void>((resolve, reject) => {
      const s = connect({
        host: '127.0.0.1',
        port,
        servername: 'localhost',
        ca: caCert.toString('pem'),
        cert: clientCert,
        key: clientKey,
      });
      s.once('data', () => {
        s.destroy();
        resolve();
      });
      s.once('error', reject);
    });
  const handshakesPerSec = await throughput(handshake, { ms: 4000, concurrency: 8, warmupMs: 500 });
  server.kill('SIGTERM');
  rmSync(dir, { recursive: true, force: true });

  return {
    [`${k}.keygen`]: { value: keygenMs, unit: 'ms/key' },
    [`${k}.csr_verify`]: { value: verifyPerSec, unit: 'ops/s' },
    [`${k}.cert_sign`]: { value: signPerSec, unit: 'ops/s' },
    [`${k}.mtls_handshakes`]: { value: handshakesPerSec, unit: 'handshakes/s' },
  };
}

const metrics: Record<string, Metric> = {};
for (const k of Object.keys(kinds) as Kind[]) Object.assign(metrics, await measure(k));
const ratio = (m: string) => (metrics[`ecdsa-p256.${m}`]?.value ?? 0) / (metrics[`rsa-2048.${m}`]?.value ?? 1);
metrics['ecdsa_over_rsa.mtls_handshakes'] = { value: ratio('mtls_handshakes'), unit: 'x' };
metrics['ecdsa_over_rsa.cert_sign'] = { value: ratio('cert_sign'), unit: 'x' };
metrics['rsa_over_ecdsa.keygen_time'] = {
  value: (metrics['rsa-2048.keygen']?.value ?? 0) / (metrics['ecdsa-p256.keygen']?.value ?? 1),
  unit: 'x',
};
report('keytype', metrics, {
  method: 'TLS 1.3 mTLS handshakes, client and server in separate processes, 8 in flight, no resumption',
});
