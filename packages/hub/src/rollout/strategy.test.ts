import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseRolloutStrategy } from './strategy.ts';
import type { RolloutPolicy } from './types.ts';

const defaults: RolloutPolicy = {
  type: 'All',
  minSuccessTimeMs: 0,
  progressDeadlineMs: undefined,
  maxFailures: 0,
  maxConcurrency: undefined,
  mandatoryDecisionGroups: [],
  offline: { policy: 'Wait', timeoutMs: 0 },
};

describe('parseRolloutStrategy normalises OCM rollout strategies', () => {
  const cases: [string, unknown, Partial<RolloutPolicy>][] = [
    ['absent: All', undefined, {}],
    ['empty: All', {}, {}],
    [
      "OCM's default {type: All, all: {progressDeadline: None}}",
      { type: 'All', all: { progressDeadline: 'None' } },
      {},
    ],
    ['All with a deadline', { type: 'All', all: { progressDeadline: '90s' } }, { progressDeadlineMs: 90_000 }],
    [
      'Progressive with every field',
      {
        type: 'Progressive',
        progressive: {
          minSuccessTime: '5m',
          progressDeadline: '1h30m0s',
          maxFailures: '10%',
          maxConcurrency: 3,
          mandatoryDecisionGroups: [{ groupName: 'canary' }, { groupIndex: 2 }],
        },
      },
      {
        type: 'Progressive',
        minSuccessTimeMs: 300_000,
        progressDeadlineMs: 5_400_000,
        maxFailures: '10%',
        maxConcurrency: 3,
        mandatoryDecisionGroups: [{ groupName: 'canary' }, { groupIndex: 2 }],
      },
    ],
    ['Progressive without its block', { type: 'Progressive' }, { type: 'Progressive' }],
    [
      'ProgressivePerGroup',
      { type: 'ProgressivePerGroup', progressivePerGroup: { maxFailures: 2, minSuccessTime: '0' } },
      { type: 'ProgressivePerGroup', maxFailures: 2 },
    ],
    [
      'groupName wins over groupIndex, as in sdk-go',
      {
        type: 'ProgressivePerGroup',
        progressivePerGroup: { mandatoryDecisionGroups: [{ groupName: 'a', groupIndex: 3 }] },
      },
      { type: 'ProgressivePerGroup', mandatoryDecisionGroups: [{ groupName: 'a' }] },
    ],
    [
      'groupIndex 0 is a group',
      { type: 'Progressive', progressive: { mandatoryDecisionGroups: [{ groupIndex: 0 }] } },
      { type: 'Progressive', mandatoryDecisionGroups: [{ groupIndex: 0 }] },
    ],
    [
      'offlineClusters Skip with a timeout',
      { offlineClusters: { policy: 'Skip', timeout: '15m' } },
      { offline: { policy: 'Skip', timeoutMs: 900_000 } },
    ],
    [
      'offlineClusters Fail at once',
      { offlineClusters: { policy: 'Fail' } },
      { offline: { policy: 'Fail', timeoutMs: 0 } },
    ],
    [
      'maxFailures 0%',
      { type: 'Progressive', progressive: { maxFailures: '0%' } },
      { type: 'Progressive', maxFailures: '0%' },
    ],
  ];
  for (const [name, input, want] of cases) {
    it(name, () => {
      const r = parseRolloutStrategy(input);
      if (!r.ok) assert.fail(JSON.stringify(r.error.details));
      assert.deepEqual(r.value, { ...defaults, ...want });
    });
  }
});

describe('parseRolloutStrategy refuses with ROLLOUT_STRATEGY_INVALID', () => {
  const cases: [string, unknown, string[]][] = [
    ['not an object', 'All', ['rolloutStrategy']],
    ['unknown type', { type: 'Canary' }, ['rolloutStrategy.type']],
    ['a block of another type', { type: 'All', progressive: {} }, ['rolloutStrategy.progressive']],
    ['soak time under All', { type: 'All', all: { minSuccessTime: '5m' } }, ['rolloutStrategy.all.minSuccessTime']],
    ['maxFailures under All', { type: 'All', all: { maxFailures: 1 } }, ['rolloutStrategy.all.maxFailures']],
    [
      'maxConcurrency under ProgressivePerGroup',
      { type: 'ProgressivePerGroup', progressivePerGroup: { maxConcurrency: 1 } },
      ['rolloutStrategy.progressivePerGroup.maxConcurrency'],
    ],
    [
      'a bad duration',
      { type: 'Progressive', progressive: { minSuccessTime: 'five minutes' } },
      ['rolloutStrategy.progressive.minSuccessTime'],
    ],
    [
      'days are not Go durations',
      { type: 'Progressive', progressive: { progressDeadline: '1d' } },
      ['rolloutStrategy.progressive.progressDeadline'],
    ],
    [
      'maxConcurrency 0',
      { type: 'Progressive', progressive: { maxConcurrency: 0 } },
      ['rolloutStrategy.progressive.maxConcurrency'],
    ],
    [
      'maxConcurrency 0%',
      { type: 'Progressive', progressive: { maxConcurrency: '0%' } },
      ['rolloutStrategy.progressive.maxConcurrency'],
    ],
    [
      'maxConcurrency 12.5%',
      { type: 'Progressive', progressive: { maxConcurrency: '12.5%' } },
      ['rolloutStrategy.progressive.maxConcurrency'],
    ],
    [
      'maxFailures -1',
      { type: 'Progressive', progressive: { maxFailures: -1 } },
      ['rolloutStrategy.progressive.maxFailures'],
    ],
    [
      'maxFailures 101%',
      { type: 'Progressive', progressive: { maxFailures: '101%' } },
      ['rolloutStrategy.progressive.maxFailures'],
    ],
    [
      'an empty mandatory group',
      { type: 'Progressive', progressive: { mandatoryDecisionGroups: [{}] } },
      ['rolloutStrategy.progressive.mandatoryDecisionGroups[0]'],
    ],
    [
      'a negative group index',
      { type: 'Progressive', progressive: { mandatoryDecisionGroups: [{ groupIndex: -1 }] } },
      ['rolloutStrategy.progressive.mandatoryDecisionGroups[0].groupIndex'],
    ],
    [
      'an unknown offline policy',
      { offlineClusters: { policy: 'Ignore' } },
      ['rolloutStrategy.offlineClusters.policy'],
    ],
    [
      'a timeout with Wait',
      { offlineClusters: { policy: 'Wait', timeout: '5m' } },
      ['rolloutStrategy.offlineClusters.timeout'],
    ],
    ['an unknown field', { type: 'All', maxSurge: 1 }, ['rolloutStrategy.maxSurge']],
  ];
  for (const [name, input, want] of cases) {
    it(name, () => {
      const r = parseRolloutStrategy(input);
      if (r.ok) assert.fail('expected an error');
      assert.equal(r.error.code, 'ROLLOUT_STRATEGY_INVALID');
      assert.deepEqual(
        r.error.details.map((d) => d.field),
        want,
      );
    });
  }
});
