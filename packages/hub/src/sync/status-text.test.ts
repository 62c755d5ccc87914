import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { test } from 'node:test';
import type { Condition, OutpostError } from '@outpost/shared';
import { prepareStatusBatch, splitText, storedStatus } from './status-text.ts';

const encode = (s: string) => new TextEncoder().encode(s);
const hashOf = (b: Uint8Array) => createHash('sha256').update(b).digest('hex').slice(0, 32);

/** Checks what splitText promises of `text` split at `size`, and returns the parts' lengths. */
function checkSplit(text: string, size: number): number[] {
  const bytes = encode(text);
  const parts = splitText(bytes, size);
  const strict = new TextDecoder('utf-8', { fatal: true });
  let joined = '';
  for (const [i, p] of parts.entries()) {
    const content = p.content as Uint8Array;
    assert.ok(content.length > 0, `part ${i} is empty`);
    assert.ok(content.length <= size, `part ${i} has ${content.length} bytes`);
    // A part ends on a whole character: it decodes alone.
    joined += strict.decode(content);
    assert.equal(p.hash, hashOf(content));
    assert.match(p.hash, /^[0-9a-f]{32}$/);
  }
  assert.equal(joined, text);
  assert.deepEqual(Buffer.concat(parts.map((p) => p.content as Uint8Array)), Buffer.from(bytes));
  return parts.map((p) => (p.content as Uint8Array).length);
}

const conditions: Condition[] = [
  { type: 'Applied', status: 'True', reason: 'AppliedManifestWorkComplete', message: 'applied' },
];
const status = {
  conditions,
  resourceStatus: { manifests: [] },
  observedGeneration: 2,
};
const report = { seq: 7, work: 'w', uid: 'u-1', generation: 2, observedAt: '2026-01-01T00:00:00.000Z' };

test('splitText cuts ASCII at the size exactly', () => {
  assert.deepEqual(checkSplit('abcdefghij', 4), [4, 4, 2]);
  assert.deepEqual(checkSplit('abcdefgh', 4), [4, 4]);
  assert.deepEqual(checkSplit('abc', 4), [3]);
  assert.deepEqual(splitText(new Uint8Array(0), 4), []);
});

test('splitText never cuts inside a 2-, 3- or 4-byte character, wherever it falls', () => {
  const size = 16;
  for (const char of ['é', '€', '😀']) {
    const width = encode(char).length;
    // The character at every byte position across the first two boundaries.
    for (let before = 0; before <= 2 * size + 1; before++) {
      const lengths = checkSplit(`${'a'.repeat(before)}${char}${'b'.repeat(size)}${char}`, size);
      // About the size: only what would cut a character moves to the next part.
      for (const n of lengths.slice(0, -1)) assert.ok(n > size - width, `${char}: a part of ${n} bytes`);
    }
    // Nothing but that character, so that every boundary falls on or in one.
    checkSplit(char.repeat(3 * size), size);
    checkSplit(char.repeat(3 * size), size + 1);
  }
  checkSplit('aé€😀'.repeat(50), 7);
});

test('splitText gives equal parts the same hash', () => {
  const parts = splitText(encode('€'.repeat(30)), 9);
  assert.equal(parts.length, 10);
  assert.equal(new Set(parts.map((p) => p.hash)).size, 1);
});

test('prepareStatusBatch drops the keys the hub sets itself and keeps the others', () => {
  const body = {
    reports: [
      {
        ...report,
        deleted: false,
        status: {
          ...status,
          corrections: 1,
          extra: { kept: ['é'] },
          observedAt: '1999-01-01T00:00:00.000Z',
          reportedGeneration: 99,
          completedAt: '1999-01-01T00:00:00.000Z',
          manifestCount: 5,
          sizeBytes: 5,
        },
      },
    ],
  };
  const [r] = prepareStatusBatch(body).reports;
  assert.ok(r);
  assert.deepEqual(JSON.parse(String(r.statusText)), { ...status, corrections: 1, extra: { kept: ['é'] } });
  assert.deepEqual(
    [r.seq, r.work, r.uid, r.generation, r.observedAt, r.deleted],
    [7, 'w', 'u-1', 2, '2026-01-01T00:00:00.000Z', false],
  );
  assert.deepEqual(r.conditions, status.conditions);
  assert.equal(r.observedGeneration, 2);
  assert.equal('status' in r, false);
  assert.equal(body.reports[0]?.status.observedAt, '1999-01-01T00:00:00.000Z', 'the body is not changed');
});

test('prepareStatusBatch refuses an invalid batch with STATUS_REPORT_INVALID', () => {
  const refused = (body: unknown, field: RegExp) =>
    assert.throws(
      () => prepareStatusBatch(body),
      (err: OutpostError) => err.code === 'STATUS_REPORT_INVALID' && field.test(err.message),
    );
  refused('not an object', /body/);
  refused({ reports: {} }, /reports/);
  refused({ reports: [{ ...report, seq: -1, status }] }, /reports\[0\]\.seq/);
  refused({ reports: [{ ...report, status: { ...status, observedGeneration: 'two' } }] }, /observedGeneration/);
  refused(
    { reports: [{ ...report, status: { ...status, conditions: [{ type: 'A', status: 'Maybe' }] } }] },
    /conditions\[0\]\.status/,
  );
});

test('storedStatus puts the hub’s keys in the summary and keeps the text or parts as they are', () => {
  const r = { ...status, observedAt: report.observedAt, generation: 3, statusText: '{"conditions":[]}' };
  assert.deepEqual(storedStatus(r, undefined), {
    text: '{"conditions":[]}',
    summary: {
      conditions: status.conditions,
      observedGeneration: 2,
      observedAt: report.observedAt,
      reportedGeneration: 3,
    },
  });
  assert.equal(storedStatus(r, 't9').summary.completedAt, 't9');
  assert.equal((storedStatus({ ...r, statusText: undefined }, undefined) as { text: string }).text, '{}');
  const parts = splitText(encode('{"conditions":[]}'), 4);
  assert.deepEqual(storedStatus({ ...r, statusText: undefined, statusParts: parts }, undefined), {
    parts,
    summary: storedStatus(r, undefined).summary,
  });
});

test('splitText with a size smaller than a character keeps each character whole', () => {
  const bytes = new TextEncoder().encode('😀é😀');
  const parts = splitText(bytes, 2);
  const strict = new TextDecoder('utf-8', { fatal: true });
  assert.deepEqual(
    parts.map((p) => strict.decode(p.content as Uint8Array)),
    ['😀', 'é', '😀'],
  );
});
