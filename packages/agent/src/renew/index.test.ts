import assert from 'node:assert/strict';
import { test } from 'node:test';
import { selfSignedCert } from '../testing/pki.ts';
import { renewalTimeFor, serialFraction } from './index.ts';

test('serialFraction is stable per serial and spread over [0, 1)', () => {
  assert.equal(serialFraction('0a1b'), serialFraction('0a1b'));
  const draws = Array.from({ length: 2000 }, (_, i) => serialFraction(i.toString(16)));
  assert.ok(draws.every((d) => d >= 0 && d < 1));
  const low = draws.filter((d) => d < 0.5).length;
  assert.ok(low > 800 && low < 1200, `${low} of 2000 below 0.5`);
});

test('a backdated notBefore does not pull the renewal point before receipt', async () => {
  const now = Date.UTC(2026, 0, 1, 12);
  // Issued "now" for 12 s, notBefore backdated 5 minutes, as the hub does.
  const { certPem } = await selfSignedCert({ notBefore: new Date(now - 300_000), notAfter: new Date(now + 12_000) });
  const naive = renewalTimeFor(certPem, { draw: () => 0.5 });
  assert.ok(naive < now, 'without receipt time the backdated life makes it due at once');
  const at = renewalTimeFor(certPem, { draw: () => 0.5, receivedAt: now });
  const remaining = (now + 12_000 - at) / 12_000;
  assert.ok(remaining >= 0.2 && remaining <= 0.3, `remaining share ${remaining}`);
});

test('never sooner than a tenth of the remaining life after receipt', async () => {
  const now = Date.UTC(2026, 0, 1, 12);
  const { certPem } = await selfSignedCert({ notBefore: new Date(now - 3_600_000), notAfter: new Date(now + 10_000) });
  // Received when 10 s of a 1 h certificate remain: already past any 20-30 % point.
  assert.equal(renewalTimeFor(certPem, { draw: () => 0, receivedAt: now + 0 }) >= now + 1_000, true);
});
