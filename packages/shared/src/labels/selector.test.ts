import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { matchesSelector, parseSelector, SelectorError, selectorFromObject } from './selector.ts';

const labels = { env: 'prod', tier: 'edge', 'topology.outpost.dev/region': 'eu-west' };

describe('parseSelector matches as kubectl -l does', () => {
  const cases: [string, boolean][] = [
    ['', true],
    ['env=prod', true],
    ['env==prod', true],
    ['env=dev', false],
    ['env!=dev', true],
    ['env!=prod', false],
    ['missing!=x', true], // != matches when the key is absent, as in Kubernetes
    ['env in (prod,dev)', true],
    ['env in (dev, qa)', false],
    ['env notin (dev,qa)', true],
    ['missing notin (a)', true],
    ['env notin (prod)', false],
    ['tier', true],
    ['missing', false],
    ['!missing', true],
    ['!env', false],
    ['env=prod,tier=edge', true],
    ['env=prod,tier=core', false],
    ['topology.outpost.dev/region=eu-west', true],
    [' env = prod , tier ', true],
    ['env=', false], // empty value: only matches an empty label
  ];
  for (const [sel, want] of cases) {
    test(`${JSON.stringify(sel)} → ${want}`, () => assert.equal(matchesSelector(parseSelector(sel), labels), want));
  }
  test('an empty label value matches "key="', () =>
    assert.equal(matchesSelector(parseSelector('a='), { a: '' }), true));
  for (const bad of ['env in (prod', '=prod', 'env=prod,', 'env=pr od', 'env ~ prod', 'env in (a b)']) {
    test(`refuses ${JSON.stringify(bad)}`, () => assert.throws(() => parseSelector(bad), SelectorError));
  }
});

describe('selectorFromObject follows metav1.LabelSelector', () => {
  test('matchLabels and matchExpressions are ANDed', () => {
    const req = selectorFromObject({
      matchLabels: { env: 'prod' },
      matchExpressions: [
        { key: 'tier', operator: 'In', values: ['edge', 'core'] },
        { key: 'gpu', operator: 'DoesNotExist' },
        { key: 'topology.outpost.dev/region', operator: 'Exists' },
        { key: 'env', operator: 'NotIn', values: ['dev'] },
      ],
    });
    assert.equal(matchesSelector(req, labels), true);
    assert.equal(matchesSelector(req, { ...labels, gpu: 'a100' }), false);
  });
  test('an empty selector matches everything', () => assert.equal(matchesSelector(selectorFromObject({}), {}), true));
  test('operator rules are enforced', () => {
    assert.throws(
      () => selectorFromObject({ matchExpressions: [{ key: 'a', operator: 'In', values: [] }] }),
      SelectorError,
    );
    assert.throws(
      () => selectorFromObject({ matchExpressions: [{ key: 'a', operator: 'Exists', values: ['x'] }] }),
      SelectorError,
    );
    assert.throws(
      () => selectorFromObject({ matchExpressions: [{ key: 'a', operator: 'Gt', values: ['1'] }] }),
      SelectorError,
    );
  });
});
