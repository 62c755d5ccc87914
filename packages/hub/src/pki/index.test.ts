import assert from 'node:assert/strict';
import { createHash, X509Certificate } from 'node:crypto';
import { mkdtemp, readFile, rm, stat, unlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { ensureHubPki, finishCaRotation, servingNames, startCaRotation } from './index.ts';

describe('ensureHubPki', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'outpost-pki-'));
  after(() => rm(dir, { recursive: true, force: true }));

  test('first start creates a CA and a serving certificate it signed, keys mode 0600', async () => {
    const pki = await ensureHubPki(dir, { advertiseUrl: 'https://hub.example.com:8443', sans: ['10.1.2.3'] });
    assert.equal(pki.created, true);
    for (const key of [`pki/cas/${pki.signing.id}/ca.key`, 'pki/serving.key', 'pki/state.json']) {
      assert.equal((await stat(join(dir, key))).mode & 0o777, 0o600, key);
    }
    assert.equal((await stat(dir)).mode & 0o777, 0o700);
    assert.equal(await readFile(join(dir, 'ca.crt'), 'utf8'), pki.caBundlePem, 'ca.crt holds the trust bundle');

    const ca = new X509Certificate(pki.signing.certPem);
    const serving = new X509Certificate(pki.servingCertPem);
    assert.equal(ca.ca, true);
    assert.equal(serving.ca, false);
    assert.ok(serving.verify(ca.publicKey), 'serving certificate is signed by the CA');
    assert.ok(serving.checkHost('hub.example.com'));
    assert.ok(serving.checkIP('10.1.2.3'));
    assert.ok(serving.checkIP('127.0.0.1'));
    assert.equal(ca.publicKey.asymmetricKeyType, 'ec');

    // kubeadm's pin: SHA-256 over the DER SubjectPublicKeyInfo.
    const spki = ca.publicKey.export({ type: 'spki', format: 'der' });
    assert.equal(pki.caHash, `sha256:${createHash('sha256').update(spki).digest('hex')}`);
  });

  test('a restart reuses the CA and serving certificate', async () => {
    const before = await readFile(join(dir, 'pki/serving.crt'), 'utf8');
    const pki = await ensureHubPki(dir, { advertiseUrl: 'https://hub.example.com:8443', sans: ['10.1.2.3'] });
    assert.equal(pki.created, false);
    assert.equal(pki.servingCertPem, before);
  });

  test('a new --san reissues the serving certificate under the same CA', async () => {
    const first = await ensureHubPki(dir, { advertiseUrl: undefined, sans: [] });
    const pki = await ensureHubPki(dir, { advertiseUrl: undefined, sans: ['hub2.example.com'] });
    assert.equal(pki.signing.certPem, first.signing.certPem);
    assert.notEqual(pki.servingCertPem, first.servingCertPem);
    assert.ok(new X509Certificate(pki.servingCertPem).checkHost('hub2.example.com'));
  });

  test('a rotation adds a signing CA, keeps the old one trusted and serving until it is retired', async () => {
    const opts = { advertiseUrl: undefined, sans: ['hub2.example.com'] };
    const before = await ensureHubPki(dir, opts);
    const rotating = await startCaRotation(dir, opts);
    assert.notEqual(rotating.signing.hash, before.signing.hash);
    assert.equal(rotating.previous?.hash, before.signing.hash);
    assert.equal(rotating.caBundlePem, rotating.signing.certPem + before.signing.certPem);
    const oldCa = new X509Certificate(before.signing.certPem);
    const newCa = new X509Certificate(rotating.signing.certPem);
    assert.ok(new X509Certificate(rotating.servingCertPem).verify(oldCa.publicKey), 'old CA still signs serving');
    await assert.rejects(startCaRotation(dir, opts), /already under way/);
    // A restart in the middle of a rotation comes back in the same state.
    assert.equal((await ensureHubPki(dir, opts)).previous?.hash, before.signing.hash);

    const { pki: done, retired } = await finishCaRotation(dir, opts, before.signing.id);
    assert.equal(retired, true);
    assert.equal(done.previous, undefined);
    assert.equal(done.caBundlePem, rotating.signing.certPem);
    assert.ok(new X509Certificate(done.servingCertPem).verify(newCa.publicKey), 'new CA signs serving');
    await assert.rejects(stat(join(dir, `pki/cas/${before.signing.id}/ca.key`)), /ENOENT/, 'retired key destroyed');
    // A second retirement of the same CA (another replica's) changes nothing.
    assert.equal((await finishCaRotation(dir, opts, before.signing.id)).retired, false);
  });

  test('a CA near its end: the hub starts and rotates, the serving certificate lasting as long as the CA', async (t) => {
    const near = await mkdtemp(join(tmpdir(), 'outpost-pki-near-'));
    t.after(() => rm(near, { recursive: true, force: true }));
    const opts = { advertiseUrl: undefined, sans: [] };
    const first = await ensureHubPki(near, opts);
    // 20 days before the CA expires: a serving certificate cannot last a month any more.
    const at = first.signing.cert.notAfter.getTime() - 20 * 86_400_000;
    t.mock.method(Date, 'now', () => at);
    const again = await ensureHubPki(near, opts);
    const serving = new X509Certificate(again.servingCertPem);
    assert.equal(Date.parse(serving.validTo), first.signing.cert.notAfter.getTime(), 'as long as the CA');
    const third = await ensureHubPki(near, opts);
    assert.equal(third.servingCertPem, again.servingCertPem, 'not issued again at every start');
    const rotating = await startCaRotation(near, opts);
    assert.equal(rotating.previous?.id, first.signing.id);
    assert.equal((await ensureHubPki(near, opts)).servingCertPem, rotating.servingCertPem);
  });

  test('half a CA is refused rather than silently replaced', async () => {
    const pki = await ensureHubPki(dir, { advertiseUrl: undefined, sans: [] });
    await unlink(join(dir, `pki/cas/${pki.signing.id}/ca.key`));
    await assert.rejects(ensureHubPki(dir, { advertiseUrl: undefined, sans: [] }), /incomplete/);
  });
});

test('servingNames always covers loopback and strips IPv6 brackets', () => {
  assert.deepEqual(servingNames('https://[fd00::1]:8443', ['a.example']), [
    'localhost',
    '127.0.0.1',
    '::1',
    'fd00::1',
    'a.example',
  ]);
});
