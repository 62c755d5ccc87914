import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { compileClusterSet, type SetRestriction, setRestriction } from './cluster-sets.ts';
import { explainSelection } from './explain.ts';
import { compilePlacement, matchesPredicates, schedulePlacement } from './schedule.ts';
import { type ClusterView, type TaintView, taintKeys } from './types.ts';
import { validatePlacement } from './validate.ts';

const T = Date.parse('2030-01-01T00:00:00Z');

const cluster = (name: string, labels: Record<string, string> = {}, taints: TaintView[] = []): ClusterView => ({
  name,
  labels,
  claims: {},
  taints,
});

const compiled = (spec: Record<string, unknown>) => {
  const r = validatePlacement({ metadata: { name: 'p' }, spec });
  if (!r.ok) assert.fail(JSON.stringify(r.error.details));
  return compilePlacement(r.value);
};

/** The global set bound: every cluster may be selected. */
const everywhere: SetRestriction = setRestriction(
  undefined,
  new Set(['global']),
  new Map([['global', compileClusterSet('global', { clusterSelector: { selectorType: 'LabelSelector' } })]]),
);

const fleet = [
  cluster('a', { env: 'prod', region: 'eu' }),
  cluster('b', { env: 'prod', region: 'us' }),
  cluster('c', { env: 'dev' }),
  cluster('d', { env: 'prod' }, [{ key: taintKeys.unreachable, effect: 'NoSelect', timeAdded: T - 1_000 }]),
  cluster('e', { env: 'prod' }, [{ key: 'gpu', value: 'busy', effect: 'NoSelect', timeAdded: T - 1_000 }]),
];

describe('explainSelection', () => {
  const specs: [string, Record<string, unknown>][] = [
    ['no predicates', {}],
    [
      'one predicate',
      { predicates: [{ requiredClusterSelector: { labelSelector: { matchLabels: { env: 'prod' } } } }] },
    ],
    [
      'two predicates',
      {
        predicates: [
          { requiredClusterSelector: { labelSelector: { matchLabels: { region: 'us' } } } },
          {
            requiredClusterSelector: {
              labelSelector: { matchExpressions: [{ key: 'env', operator: 'In', values: ['qa', 'stage'] }] },
            },
          },
        ],
      },
    ],
    ['a toleration of gpu', { tolerations: [{ key: 'gpu', operator: 'Exists' }] }],
    ['numberOfClusters 1', { numberOfClusters: 1 }],
  ];
  for (const [what, spec] of specs) {
    it(`agrees with the scheduler's decisions: ${what}`, () => {
      const p = compiled(spec);
      const result = schedulePlacement(p, fleet, { now: T });
      for (const c of fleet) {
        const group = result.decisions.find((g) => g.clusterNames.includes(c.name));
        const decided = group && { groupIndex: group.groupIndex, groupName: group.groupName };
        const e = explainSelection(p, everywhere, 'default', c, decided, T);
        assert.equal(e.selected, result.selected.includes(c.name), `${c.name}: ${e.message}`);
        if (e.selected) continue;
        // The decisions are fresh: every cluster left out has a reason other than "not yet".
        assert.notEqual(e.reason, 'NotScheduledYet', `${c.name}: ${e.message}`);
        assert.equal(e.reason === 'NoPredicateMatched', !matchesPredicates(p, c), `${c.name}: ${e.message}`);
      }
    });
  }

  it('says which requirement, which taint and which cluster sets', () => {
    const prod = compiled({
      predicates: [{ requiredClusterSelector: { labelSelector: { matchLabels: { env: 'prod' } } } }],
    });
    assert.deepEqual(explainSelection(prod, everywhere, 'default', fleet[2] as ClusterView, undefined, T), {
      selected: false,
      reason: 'NoPredicateMatched',
      message: 'the predicate needs label env = prod',
    });
    const unreachable = explainSelection(prod, everywhere, 'default', fleet[3] as ClusterView, undefined, T);
    assert.equal(unreachable.reason, 'TaintNotTolerated');
    assert.equal(
      unreachable.message,
      `the taint ${taintKeys.unreachable}:NoSelect is not tolerated (the cluster is unreachable)`,
    );
    assert.equal(
      explainSelection(prod, everywhere, 'default', fleet[4] as ClusterView, undefined, T).message,
      'the taint gpu=busy:NoSelect is not tolerated',
    );
    const edge = compileClusterSet('edge', {
      clusterSelector: { selectorType: 'LabelSelector', labelSelector: { matchLabels: { site: 'edge' } } },
    });
    const onlyEdge = setRestriction(undefined, new Set(['edge']), new Map([['edge', edge]]));
    assert.deepEqual(explainSelection(prod, onlyEdge, 'team', fleet[0] as ClusterView, undefined, T), {
      selected: false,
      reason: 'NotInClusterSets',
      message: 'not a member of the cluster set edge bound to namespace team',
    });
    const unbound = setRestriction(undefined, new Set(), new Map());
    assert.equal(
      explainSelection(prod, unbound, 'team', fleet[0] as ClusterView, undefined, T).message,
      'no cluster set is bound to namespace team (ManagedClusterSetBinding)',
    );
    assert.deepEqual(
      explainSelection(prod, everywhere, 'default', fleet[0] as ClusterView, { groupIndex: 1, groupName: 'canary' }, T),
      {
        selected: true,
        reason: 'Selected',
        message: 'selected, in decision group 1 (canary)',
        groupIndex: 1,
        groupName: 'canary',
      },
    );
    assert.equal(
      explainSelection(prod, everywhere, 'default', fleet[0] as ClusterView, undefined, T).reason,
      'NotScheduledYet',
      'eligible but not in the decisions, without numberOfClusters: the decisions lag',
    );
  });
});
