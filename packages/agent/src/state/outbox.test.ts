// Outbox compaction as a pure function.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { StatusReport } from '@outpost/shared';
import { status } from './contract.ts';
import { compactReports, oldestHistory, transitionKey } from './outbox.ts';

let seq = 0;
const r = (work: string, applied: boolean, extra: Partial<StatusReport> = {}): StatusReport => ({
  seq: ++seq,
  work,
  uid: `uid-${work}`,
  generation: 1,
  observedAt: '2026-01-01T00:00:00.000Z',
  status: status(applied),
  ...extra,
});

describe('outbox compaction', () => {
  test('runs of equal states keep their last report; the latest of every work stays', () => {
    const a1 = r('a', true);
    const a2 = r('a', true);
    const b1 = r('b', false);
    const a3 = r('a', false);
    const a4 = r('a', false);
    const b2 = r('b', false);
    assert.deepEqual(compactReports([a1, a2, b1, a3, a4, b2], 20), [a2, a4, b2]);
  });

  test('history is bounded overall, the newest transitions kept; latest reports do not count', () => {
    const reports = [
      ...Array.from({ length: 10 }, (_, i) => r('x', i % 2 === 0)),
      ...Array.from({ length: 10 }, (_, i) => r('y', i % 2 === 0)),
    ];
    // y's four newest transitions use up the history; x keeps only its latest.
    assert.deepEqual(compactReports(reports, 4), [reports[9], ...reports.slice(15)]);
    assert.deepEqual(compactReports(reports, 0), [reports[9], reports[19]]);
  });

  test('a recreated work (same name, new uid) keeps the old uid latest, e.g. its deletion', () => {
    const gone = r('w', true, { deleted: true });
    const fresh = r('w', true, { uid: 'uid-w-2' });
    assert.deepEqual(compactReports([gone, fresh], 0), [gone, fresh]);
  });

  test('what counts as a transition: conditions and generation, not messages or manifest detail', () => {
    const base = r('t', true);
    const otherMessage: StatusReport = {
      ...base,
      status: {
        ...base.status,
        conditions: base.status.conditions.map((c) => ({ ...c, message: 'other' })),
        resourceStatus: status(true, 5).resourceStatus,
      },
    };
    assert.equal(transitionKey(base), transitionKey(otherMessage));
    assert.notEqual(transitionKey(base), transitionKey({ ...base, generation: 2 }));
    assert.notEqual(transitionKey(base), transitionKey({ ...base, deleted: true }));
    assert.notEqual(transitionKey(base), transitionKey(r('t', false)));
  });

  test('oldestHistory finds the first report that is not its work latest', () => {
    const a1 = r('a', true);
    const b1 = r('b', true);
    const a2 = r('a', false);
    assert.equal(oldestHistory([a1, b1, a2]), 0);
    assert.equal(oldestHistory([b1, a2]), -1);
  });
});
