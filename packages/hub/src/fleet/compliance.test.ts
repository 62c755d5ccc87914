import assert from 'node:assert/strict';
import { test } from 'node:test';
import { addWork, noWorks, olderVersion, problemsOf, worstFirst } from './compliance.ts';

const now = Date.parse('2026-01-10T00:00:00Z');
const ctx = { now, certificateWarningMs: 2 * 86_400_000, hubVersion: '0.3.0' };
const ok = [
  { type: 'Applied', status: 'True' },
  { type: 'Available', status: 'True' },
];

test('a cluster whose works are applied and available, with a fresh certificate, is compliant', () => {
  const w = noWorks();
  addWork(w, 'app', ok);
  const c = {
    name: 'a',
    state: 'Available' as const,
    agentVersion: '0.3.0',
    certificateNotAfter: '2026-01-20T00:00:00Z',
  };
  assert.deepEqual(problemsOf(c, w, ctx), []);
});

test('every kind of trouble is named, worst first, in one line each', () => {
  const w = noWorks();
  addWork(w, 'fresh', []);
  addWork(w, 'slow', [{ type: 'Applied', status: 'True' }]);
  addWork(w, 'broken', [...ok, { type: 'Degraded', status: 'True' }]);
  addWork(w, 'held', [...ok, { type: 'DeletionsHeld', status: 'True' }]);
  const c = {
    name: 'b',
    state: 'Unreachable' as const,
    lastSeen: '2026-01-09T00:00:00Z',
    agentVersion: '0.2.9',
    certificateNotAfter: '2026-01-11T00:00:00Z',
  };
  assert.deepEqual(
    problemsOf(c, w, ctx).map((p) => `${p.kind}: ${p.message}`),
    [
      'WorkDegraded: 1 work degraded: broken',
      'AgentSilent: agent silent since 2026-01-09T00:00:00Z',
      'DeletionsHeld: deletions held in held',
      'WorkNotApplied: 1 work not applied: fresh',
      'WorkNotAvailable: 1 work not available: slow',
      'CertificateExpiring: certificate expires in 1d',
      'AgentOutdated: agent 0.2.9 is older than the hub (0.3.0)',
    ],
  );
});

test('clusters not expected to deliver (pending, removing) are not judged', () => {
  const w = noWorks();
  addWork(w, 'fresh', []);
  assert.deepEqual(problemsOf({ name: 'p', state: 'Pending' }, w, ctx), []);
  assert.deepEqual(problemsOf({ name: 'r', state: 'Removing' }, w, ctx), []);
});

test('versions: releases compare by number, a pre-release before its release, builds are not judged', () => {
  assert.equal(olderVersion('0.9.0', '0.10.0'), true);
  assert.equal(olderVersion('1.0.0-rc.1', '1.0.0'), true);
  assert.equal(olderVersion('1.0.0', '1.0.0'), false);
  assert.equal(olderVersion('1.2.0', '1.1.9'), false);
  assert.equal(olderVersion('dev', '1.0.0'), undefined);
});

test('worst first: by the worst problem, then by failing works, then by name', () => {
  const p = (kind: 'WorkDegraded' | 'AgentOutdated') => [{ kind, message: '' }];
  const rows = [
    { name: 'z', problems: p('AgentOutdated'), failingWorks: 0 },
    { name: 'b', problems: p('WorkDegraded'), failingWorks: 1 },
    { name: 'a', problems: p('WorkDegraded'), failingWorks: 1 },
    { name: 'c', problems: p('WorkDegraded'), failingWorks: 5 },
  ];
  assert.deepEqual(
    rows.sort(worstFirst).map((r) => r.name),
    ['c', 'a', 'b', 'z'],
  );
});
