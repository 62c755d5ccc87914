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

describe('Kubernetes edge cases of both forms', () => {
  const req = (matchExpressions: { key: string; operator: string; values?: string[] }[]) =>
    selectorFromObject({ matchExpressions });
  const cases: [string, () => boolean, boolean][] = [
    // object form, one case per operator and the key-absent side of each
    [
      'In matches one of several values',
      () => matchesSelector(req([{ key: 'env', operator: 'In', values: ['dev', 'prod'] }]), labels),
      true,
    ],
    [
      'In fails when the key is absent',
      () => matchesSelector(req([{ key: 'gpu', operator: 'In', values: ['a100'] }]), labels),
      false,
    ],
    [
      'NotIn fails on a listed value',
      () => matchesSelector(req([{ key: 'env', operator: 'NotIn', values: ['prod'] }]), labels),
      false,
    ],
    [
      'NotIn matches when the key is absent',
      () => matchesSelector(req([{ key: 'gpu', operator: 'NotIn', values: ['a100'] }]), labels),
      true,
    ],
    [
      'Exists matches a key with an empty value',
      () => matchesSelector(req([{ key: 'a', operator: 'Exists' }]), { a: '' }),
      true,
    ],
    [
      'DoesNotExist fails on a key with an empty value',
      () => matchesSelector(req([{ key: 'a', operator: 'DoesNotExist' }]), { a: '' }),
      false,
    ],
    [
      'In [""] matches only the empty value',
      () => matchesSelector(req([{ key: 'a', operator: 'In', values: [''] }]), { a: '' }),
      true,
    ],
    [
      'In [""] does not match an absent key',
      () => matchesSelector(req([{ key: 'a', operator: 'In', values: [''] }]), {}),
      false,
    ],
    [
      'matchLabels fails when the key is absent',
      () => matchesSelector(selectorFromObject({ matchLabels: { gpu: 'a100' } }), labels),
      false,
    ],
    [
      'keys are case-sensitive',
      () => matchesSelector(selectorFromObject({ matchLabels: { ENV: 'prod' } }), labels),
      false,
    ],
    [
      'values are case-sensitive',
      () => matchesSelector(selectorFromObject({ matchLabels: { env: 'Prod' } }), labels),
      false,
    ],
    [
      'empty lists match everything',
      () => matchesSelector(selectorFromObject({ matchLabels: {}, matchExpressions: [] }), {}),
      true,
    ],
    // requirements on one key are ANDed
    [
      'In and NotIn on one key: allowed value',
      () => matchesSelector(parseSelector('a in (x,y),a notin (y)'), { a: 'x' }),
      true,
    ],
    [
      'In and NotIn on one key: excluded value',
      () => matchesSelector(parseSelector('a in (x,y),a notin (y)'), { a: 'y' }),
      false,
    ],
    // inherited properties are not labels
    ['a key named like an Object method is absent', () => matchesSelector(parseSelector('toString'), {}), false],
    ['!constructor matches an empty label set', () => matchesSelector(parseSelector('!constructor'), {}), true],
    // Kubernetes' parser reads "()" as the set holding the empty value
    ['"a in ()" matches a=""', () => matchesSelector(parseSelector('a in ()'), { a: '' }), true],
    ['"a in ()" fails a=x', () => matchesSelector(parseSelector('a in ()'), { a: 'x' }), false],
    ['"a notin ()" matches an absent key', () => matchesSelector(parseSelector('a notin ()'), {}), true],
    ['a whitespace-only selector matches everything', () => matchesSelector(parseSelector('   '), {}), true],
  ];
  for (const [name, run, want] of cases) test(name, () => assert.equal(run(), want));

  test('operator value rules, as metav1.LabelSelectorAsSelector', () => {
    for (const bad of [
      { key: 'a', operator: 'NotIn', values: [] },
      { key: 'a', operator: 'NotIn' },
      { key: 'a', operator: 'In' },
      { key: 'a', operator: 'DoesNotExist', values: ['x'] },
      { key: 'a', operator: 'in', values: ['x'] }, // operators are case-sensitive
      { key: 'a', operator: '', values: ['x'] },
    ]) {
      assert.throws(() => req([bad]), SelectorError, JSON.stringify(bad));
    }
    assert.equal(new SelectorError('x').code, 'SELECTOR_INVALID');
  });
  test('the string form refuses malformed requirements', () => {
    for (const bad of ['!a=b', 'a!', 'a in x', 'x,,y', 'a=b=c', ',a', 'a in (x', 'a notin x)']) {
      assert.throws(() => parseSelector(bad), SelectorError, bad);
    }
  });
  test('the string form reads every operator into the object form', () => {
    assert.deepEqual(parseSelector('a=1,b!=2,c in (x,y),d notin (z),e,!f'), [
      { key: 'a', operator: 'In', values: ['1'] },
      { key: 'b', operator: 'NotIn', values: ['2'] },
      { key: 'c', operator: 'In', values: ['x', 'y'] },
      { key: 'd', operator: 'NotIn', values: ['z'] },
      { key: 'e', operator: 'Exists', values: [] },
      { key: 'f', operator: 'DoesNotExist', values: [] },
    ]);
  });
});
