// Validation and normalisation of a submitted Placement (JSON or YAML already parsed). Every
// problem is collected, not just the first, so one round trip shows the user all of them:
// `{ code: 'PLACEMENT_INVALID', details: [{ field: 'spec.tolerations[0].operator', … }] }`.
// Anything accepted here compiles and schedules without error, which is why the scheduler's
// PlacementMisconfigured condition is always False in Outpost: misconfiguration is refused at
// the door instead of being reported on a stored object.
import { labelErrors, labelKeyError, labelValueError, limits, OutpostError } from '@outpost/shared';
import {
  builtInPrioritizers,
  type ClusterPredicate,
  type ClusterSelector,
  type DecisionGroupSpec,
  type FieldProblem,
  type IntOrPercent,
  type LabelSelector,
  type Placement,
  type PlacementMetadata,
  type PrioritizerConfig,
  type PrioritizerMode,
  placementApiVersion,
  placementApiVersions,
  prioritizerModes,
  type SelectorRequirement,
  selectorOperators,
  type Toleration,
  taintEffects,
  tolerationOperators,
  type Validated,
} from './types.ts';
import { intOrPercentProblem } from './values.ts';

export const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

const dns1123Label = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const dns1123Subdomain = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

/** Collects problems under a field path. Shared with the rollout validator. */
export class Problems {
  readonly list: FieldProblem[] = [];
  /** Problems beyond limits.validationProblemsMax, counted only: a body of 40,000 unknown
   *  fields must not come back as an error of 40,000 entries. */
  dropped = 0;
  add(field: string, message: string): void {
    if (this.list.length < limits.validationProblemsMax) this.list.push({ field, message });
    else this.dropped++;
  }
  /** Reports fields of `obj` not in `known`: a typo must not be silently ignored. */
  unknownFields(obj: Record<string, unknown>, known: readonly string[], field: string): void {
    for (const k of Object.keys(obj)) {
      if (known.includes(k)) continue;
      // Past the limit only counted: no field path is built for the 40,000th unknown key.
      if (this.list.length >= limits.validationProblemsMax) this.dropped++;
      else this.add(field ? `${field}.${k.slice(0, 64)}` : k.slice(0, 64), 'unknown field');
    }
  }
  get empty(): boolean {
    return this.list.length === 0;
  }
}

/** Builds the failed Validated value: the message names the first problems. */
export function invalid<Code extends string>(code: Code, what: string, problems: Problems) {
  const first = problems.list
    .slice(0, 3)
    .map((p) => `${p.field}: ${p.message}`)
    .join('; ');
  const total = problems.list.length + problems.dropped;
  const more = total > 3 ? ` (and ${total - 3} more)` : '';
  return {
    ok: false as const,
    error: { code, message: `${what} is invalid: ${first}${more}`, details: problems.list },
  };
}

/**
 * The thrown form of a failed validation, for API layers that map OutpostError to HTTP. Every
 * validation code of placement/ and rollout/ is a 400.
 */
export function validationError(error: { code: string; message: string; details: FieldProblem[] }): OutpostError {
  return new OutpostError(error.code, error.message, 400, error.details);
}

function claimNameProblem(name: string): string | undefined {
  if (name.length === 0 || name.length > 253) return 'claim names are 1-253 characters';
  // Claims are free-form, but a control character or space in a claim name is always a typo.
  if (/[\s\p{Cc}]/u.test(name)) return 'claim names contain no spaces or control characters';
  return undefined;
}

type KeySpace = 'label' | 'claim';

function requirementList(v: unknown, field: string, space: KeySpace, p: Problems): SelectorRequirement[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) {
    p.add(field, 'must be a list');
    return [];
  }
  const out: SelectorRequirement[] = [];
  v.forEach((e, i) => {
    const f = `${field}[${i}]`;
    if (!isObject(e)) {
      p.add(f, 'must be an object');
      return;
    }
    p.unknownFields(e, ['key', 'operator', 'values'], f);
    const key = e.key;
    if (typeof key !== 'string') {
      p.add(`${f}.key`, 'must be a string');
      return;
    }
    const keyProblem = space === 'label' ? labelKeyError(key) : claimNameProblem(key);
    if (keyProblem) p.add(`${f}.key`, keyProblem);
    const op = e.operator;
    if (!selectorOperators.includes(op as SelectorRequirement['operator'])) {
      p.add(`${f}.operator`, `must be one of ${selectorOperators.join(', ')}`);
      return;
    }
    const operator = op as SelectorRequirement['operator'];
    const values = e.values ?? [];
    if (!Array.isArray(values) || values.some((x) => typeof x !== 'string')) {
      p.add(`${f}.values`, 'must be a list of strings');
      return;
    }
    const strings = values as string[];
    if ((operator === 'In' || operator === 'NotIn') && strings.length === 0) {
      p.add(`${f}.values`, `${operator} needs at least one value`);
    }
    if ((operator === 'Exists' || operator === 'DoesNotExist') && strings.length > 0) {
      p.add(`${f}.values`, `${operator} takes no values`);
    }
    strings.forEach((s, j) => {
      const problem =
        space === 'label'
          ? labelValueError(s)
          : s.length > limits.claimValueMax
            ? `at most ${limits.claimValueMax} characters`
            : undefined;
      if (problem) p.add(`${f}.values[${j}]`, problem);
    });
    out.push(
      operator === 'Exists' || operator === 'DoesNotExist' ? { key, operator } : { key, operator, values: strings },
    );
  });
  return out;
}

export function labelSelector(v: unknown, field: string, p: Problems): LabelSelector {
  if (v === undefined || v === null) return {};
  if (!isObject(v)) {
    p.add(field, 'must be an object');
    return {};
  }
  p.unknownFields(v, ['matchLabels', 'matchExpressions'], field);
  const out: LabelSelector = {};
  if (v.matchLabels !== undefined && v.matchLabels !== null) {
    for (const problem of labelErrors(v.matchLabels, limits.labelsPerObject)) p.add(`${field}.matchLabels`, problem);
    if (isObject(v.matchLabels)) out.matchLabels = { ...(v.matchLabels as Record<string, string>) };
  }
  const exprs = requirementList(v.matchExpressions, `${field}.matchExpressions`, 'label', p);
  if (exprs.length) out.matchExpressions = exprs;
  return out;
}

/** Validates OCM's ClusterSelector (label + claim; CEL is refused). */
export function clusterSelector(v: unknown, field: string, p: Problems): ClusterSelector {
  if (v === undefined || v === null) return {};
  if (!isObject(v)) {
    p.add(field, 'must be an object');
    return {};
  }
  p.unknownFields(v, ['labelSelector', 'claimSelector', 'celSelector'], field);
  if (isObject(v.celSelector) && Array.isArray(v.celSelector.celExpressions) && v.celSelector.celExpressions.length) {
    p.add(`${field}.celSelector`, 'CEL selectors are not supported by Outpost; use labelSelector or claimSelector');
  }
  const out: ClusterSelector = {};
  const ls = labelSelector(v.labelSelector, `${field}.labelSelector`, p);
  if (ls.matchLabels || ls.matchExpressions) out.labelSelector = ls;
  if (v.claimSelector !== undefined && v.claimSelector !== null) {
    if (!isObject(v.claimSelector)) p.add(`${field}.claimSelector`, 'must be an object');
    else {
      p.unknownFields(v.claimSelector, ['matchExpressions'], `${field}.claimSelector`);
      const exprs = requirementList(
        v.claimSelector.matchExpressions,
        `${field}.claimSelector.matchExpressions`,
        'claim',
        p,
      );
      if (exprs.length) out.claimSelector = { matchExpressions: exprs };
    }
  }
  return out;
}

function list(v: unknown, field: string, max: number, p: Problems): unknown[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) {
    p.add(field, 'must be a list');
    return [];
  }
  if (v.length > max) p.add(field, `at most ${max} entries`);
  return v.slice(0, max);
}

function stringMap(v: unknown, field: string, p: Problems): Record<string, string> | undefined {
  if (v === undefined || v === null) return undefined;
  if (!isObject(v) || Object.values(v).some((x) => typeof x !== 'string')) {
    p.add(field, 'must map strings to strings');
    return undefined;
  }
  return { ...(v as Record<string, string>) };
}

/** metadata of any Outpost resource: name (DNS-1123 subdomain), labels, annotations. */
export function metadata(v: unknown, p: Problems, pathName?: string): PlacementMetadata {
  const meta = isObject(v) ? v : {};
  if (v !== undefined && !isObject(v)) p.add('metadata', 'must be an object');
  const name = pathName ?? meta.name;
  if (typeof name !== 'string' || name.length > 253 || !dns1123Subdomain.test(name)) {
    p.add('metadata.name', 'must be a DNS-1123 subdomain (a-z, 0-9, "-", "."; at most 253)');
  }
  if (pathName !== undefined && meta.name !== undefined && meta.name !== pathName) {
    p.add('metadata.name', `${JSON.stringify(meta.name)} differs from the name in the path`);
  }
  const out: PlacementMetadata = { name: typeof name === 'string' ? name : '' };
  // OCM's objects are namespaced: left out when the object does not say it (the API takes the
  // path's, or "default").
  if (meta.namespace === undefined || meta.namespace === '') {
    // no namespace given
  } else if (typeof meta.namespace !== 'string' || meta.namespace.length > 63 || !dns1123Label.test(meta.namespace)) {
    p.add('metadata.namespace', 'must be a DNS-1123 label (a-z, 0-9, "-"; at most 63)');
  } else out.namespace = meta.namespace;
  const labels = stringMap(meta.labels, 'metadata.labels', p);
  if (labels) {
    for (const problem of labelErrors(labels, limits.labelsPerObject)) p.add('metadata.labels', problem);
    out.labels = labels;
  }
  const annotations = stringMap(meta.annotations, 'metadata.annotations', p);
  if (annotations) out.annotations = annotations;
  if (meta.resourceVersion !== undefined) out.resourceVersion = String(meta.resourceVersion);
  return out;
}

function prioritizer(v: unknown, field: string, p: Problems): PrioritizerConfig | undefined {
  if (!isObject(v)) {
    p.add(field, 'must be an object');
    return undefined;
  }
  p.unknownFields(v, ['scoreCoordinate', 'weight', 'name'], field);
  // OCM v1alpha1 spelled the prioritizer as `name`; v1beta1 moved it into scoreCoordinate.
  const sc = isObject(v.scoreCoordinate)
    ? v.scoreCoordinate
    : typeof v.name === 'string'
      ? { type: 'BuiltIn', builtIn: v.name }
      : undefined;
  if (!sc) {
    p.add(`${field}.scoreCoordinate`, 'is required');
    return undefined;
  }
  p.unknownFields(sc, ['type', 'builtIn', 'addOn', 'claim'], `${field}.scoreCoordinate`);
  const type = sc.type ?? 'BuiltIn';
  if (type === 'AddOn') {
    p.add(
      `${field}.scoreCoordinate.type`,
      'AddOn scores are not supported by Outpost: have agents report the number as a claim and use builtIn ClaimValue',
    );
    return undefined;
  }
  if (type !== 'BuiltIn') {
    p.add(`${field}.scoreCoordinate.type`, 'must be BuiltIn');
    return undefined;
  }
  const builtIn = sc.builtIn;
  if (builtIn === 'ResourceAllocatableCPU' || builtIn === 'ResourceAllocatableMemory' || builtIn === 'Spread') {
    p.add(
      `${field}.scoreCoordinate.builtIn`,
      `${builtIn} is not supported by Outpost (the hub holds no resource figures); use builtIn ClaimValue with a claim your agents report`,
    );
    return undefined;
  }
  if (!builtInPrioritizers.includes(builtIn as PrioritizerConfig['scoreCoordinate']['builtIn'])) {
    p.add(`${field}.scoreCoordinate.builtIn`, `must be one of ${builtInPrioritizers.join(', ')}`);
    return undefined;
  }
  const weight = v.weight ?? 1;
  if (typeof weight !== 'number' || !Number.isInteger(weight) || Math.abs(weight) > limits.prioritizerWeightMax) {
    p.add(
      `${field}.weight`,
      `must be an integer from -${limits.prioritizerWeightMax} to ${limits.prioritizerWeightMax}`,
    );
  }
  const coordinate: PrioritizerConfig['scoreCoordinate'] = {
    type: 'BuiltIn',
    builtIn: builtIn as PrioritizerConfig['scoreCoordinate']['builtIn'],
  };
  if (builtIn === 'ClaimValue') {
    if (typeof sc.claim !== 'string') p.add(`${field}.scoreCoordinate.claim`, 'ClaimValue needs the claim name');
    else {
      const problem = claimNameProblem(sc.claim);
      if (problem) p.add(`${field}.scoreCoordinate.claim`, problem);
      coordinate.claim = sc.claim;
    }
  } else if (sc.claim !== undefined) {
    p.add(`${field}.scoreCoordinate.claim`, 'only ClaimValue takes a claim');
  }
  return { scoreCoordinate: coordinate, weight: typeof weight === 'number' ? weight : 1 };
}

function toleration(v: unknown, field: string, p: Problems): Toleration | undefined {
  if (!isObject(v)) {
    p.add(field, 'must be an object');
    return undefined;
  }
  p.unknownFields(v, ['key', 'operator', 'value', 'effect', 'tolerationSeconds'], field);
  const out: Toleration = { operator: 'Equal' };
  if (v.key !== undefined && v.key !== '') {
    if (typeof v.key !== 'string') p.add(`${field}.key`, 'must be a string');
    else {
      const problem = labelKeyError(v.key);
      if (problem) p.add(`${field}.key`, problem);
      out.key = v.key;
    }
  }
  if (v.operator !== undefined && v.operator !== '') {
    if (!tolerationOperators.includes(v.operator as Toleration['operator'])) {
      p.add(`${field}.operator`, `must be one of ${tolerationOperators.join(', ')}`);
    } else out.operator = v.operator as Toleration['operator'];
  }
  if (v.value !== undefined && v.value !== '') {
    if (typeof v.value !== 'string' || v.value.length > 1024)
      p.add(`${field}.value`, 'must be a string of at most 1024');
    else out.value = v.value;
  }
  if (out.key === undefined && out.operator !== 'Exists') {
    p.add(`${field}.operator`, 'must be Exists when key is empty (that tolerates every taint)');
  }
  if (out.operator === 'Exists' && out.value !== undefined) p.add(`${field}.value`, 'must be empty with Exists');
  if (v.effect !== undefined && v.effect !== '') {
    if (!taintEffects.includes(v.effect as Toleration['effect'] & string)) {
      p.add(`${field}.effect`, `must be one of ${taintEffects.join(', ')}`);
    } else out.effect = v.effect as Toleration['effect'];
  }
  if (v.tolerationSeconds !== undefined && v.tolerationSeconds !== null) {
    const s = v.tolerationSeconds;
    if (typeof s !== 'number' || !Number.isSafeInteger(s) || s < 0) {
      p.add(`${field}.tolerationSeconds`, 'must be a non-negative integer');
    } else out.tolerationSeconds = s;
  }
  return out;
}

/**
 * Validates and normalises a Placement: defaults filled in (Additive mode, weight 1, operator
 * Equal, clustersPerDecisionGroup "100%"), apiVersion set to Outpost's, status dropped (the
 * scheduler owns it). `pathName` is the name from the URL for PUT.
 */
export function validatePlacement(input: unknown, pathName?: string): Validated<Placement, 'PLACEMENT_INVALID'> {
  const p = new Problems();
  if (!isObject(input)) {
    p.add('', 'must be a Placement object');
    return invalid('PLACEMENT_INVALID', 'Placement', p);
  }
  if (input.apiVersion !== undefined && !placementApiVersions.includes(input.apiVersion as never)) {
    p.add('apiVersion', `must be ${placementApiVersions.join(' or ')}`);
  }
  if (input.kind !== undefined && input.kind !== 'Placement') p.add('kind', 'must be Placement');
  p.unknownFields(input, ['apiVersion', 'kind', 'metadata', 'spec', 'status'], '');
  const meta = metadata(input.metadata, p, pathName);

  const spec = input.spec ?? {};
  if (!isObject(spec)) {
    p.add('spec', 'must be an object');
    return invalid('PLACEMENT_INVALID', 'Placement', p);
  }
  p.unknownFields(
    spec,
    [
      'clusterSets',
      'numberOfClusters',
      'predicates',
      'prioritizerPolicy',
      'tolerations',
      'decisionStrategy',
      'spreadPolicy',
    ],
    'spec',
  );

  let clusterSets: string[] | undefined;
  if (spec.clusterSets !== undefined && spec.clusterSets !== null) {
    // ManagedClusterSets the placement selects from (cluster-sets.ts); a set that does not
    // exist (yet) holds no cluster, as in OCM.
    const sets = list(spec.clusterSets, 'spec.clusterSets', limits.placementClusterSetsMax, p);
    sets.forEach((name, i) => {
      if (typeof name !== 'string' || name.length > 253 || !dns1123Subdomain.test(name)) {
        p.add(`spec.clusterSets[${i}]`, 'must be the name of a ManagedClusterSet (a DNS-1123 subdomain)');
      }
    });
    if (sets.length) clusterSets = sets as string[];
  }
  if (isObject(spec.spreadPolicy) && Array.isArray(spec.spreadPolicy.spreadConstraints)) {
    if (spec.spreadPolicy.spreadConstraints.length) p.add('spec.spreadPolicy', 'spread constraints are not supported');
  }

  let numberOfClusters: number | undefined;
  if (spec.numberOfClusters !== undefined && spec.numberOfClusters !== null) {
    const n = spec.numberOfClusters;
    if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < 0 || n > 2 ** 31 - 1) {
      p.add('spec.numberOfClusters', 'must be a non-negative integer');
    } else numberOfClusters = n;
  }

  const predicates: ClusterPredicate[] = list(spec.predicates, 'spec.predicates', limits.placementPredicatesMax, p).map(
    (pr, i) => {
      const f = `spec.predicates[${i}]`;
      if (!isObject(pr)) {
        p.add(f, 'must be an object');
        return { requiredClusterSelector: {} };
      }
      p.unknownFields(pr, ['requiredClusterSelector'], f);
      return {
        requiredClusterSelector: clusterSelector(pr.requiredClusterSelector, `${f}.requiredClusterSelector`, p),
      };
    },
  );

  let mode: PrioritizerMode = 'Additive';
  const configurations: PrioritizerConfig[] = [];
  const pp = spec.prioritizerPolicy;
  if (pp !== undefined && pp !== null) {
    if (!isObject(pp)) p.add('spec.prioritizerPolicy', 'must be an object');
    else {
      p.unknownFields(pp, ['mode', 'configurations'], 'spec.prioritizerPolicy');
      if (pp.mode !== undefined && pp.mode !== '') {
        if (!prioritizerModes.includes(pp.mode as PrioritizerMode)) {
          p.add('spec.prioritizerPolicy.mode', `must be one of ${prioritizerModes.join(', ')}`);
        } else mode = pp.mode as PrioritizerMode;
      }
      const seen = new Set<string>();
      list(pp.configurations, 'spec.prioritizerPolicy.configurations', limits.placementPrioritizersMax, p).forEach(
        (c, i) => {
          const f = `spec.prioritizerPolicy.configurations[${i}]`;
          const cfg = prioritizer(c, f, p);
          if (!cfg) return;
          // OCM keys weights by score coordinate: a repeat would silently override the first.
          const key = `${cfg.scoreCoordinate.builtIn}/${cfg.scoreCoordinate.claim ?? ''}`;
          if (seen.has(key)) p.add(f, 'duplicates an earlier prioritizer');
          seen.add(key);
          configurations.push(cfg);
        },
      );
    }
  }

  const tolerations = list(spec.tolerations, 'spec.tolerations', limits.placementTolerationsMax, p)
    .map((t, i) => toleration(t, `spec.tolerations[${i}]`, p))
    .filter((t): t is Toleration => t !== undefined);

  let clustersPerDecisionGroup: IntOrPercent = '100%';
  const decisionGroups: DecisionGroupSpec[] = [];
  const ds = spec.decisionStrategy;
  if (ds !== undefined && ds !== null) {
    if (!isObject(ds)) p.add('spec.decisionStrategy', 'must be an object');
    else {
      p.unknownFields(ds, ['groupStrategy'], 'spec.decisionStrategy');
      const gs = ds.groupStrategy;
      if (gs !== undefined && gs !== null) {
        const f = 'spec.decisionStrategy.groupStrategy';
        if (!isObject(gs)) p.add(f, 'must be an object');
        else {
          p.unknownFields(gs, ['decisionGroups', 'clustersPerDecisionGroup'], f);
          if (gs.clustersPerDecisionGroup !== undefined && gs.clustersPerDecisionGroup !== '') {
            const problem = intOrPercentProblem(gs.clustersPerDecisionGroup, 1);
            if (problem) p.add(`${f}.clustersPerDecisionGroup`, problem);
            else clustersPerDecisionGroup = gs.clustersPerDecisionGroup as IntOrPercent;
          }
          const names = new Set<string>();
          list(gs.decisionGroups, `${f}.decisionGroups`, limits.placementDecisionGroupsMax, p).forEach((g, i) => {
            const gf = `${f}.decisionGroups[${i}]`;
            if (!isObject(g)) {
              p.add(gf, 'must be an object');
              return;
            }
            p.unknownFields(g, ['groupName', 'groupClusterSelector'], gf);
            const name = g.groupName;
            // Group names become label values in OCM (decision-group-name); keep them so.
            if (typeof name !== 'string' || name === '' || labelValueError(name)) {
              p.add(`${gf}.groupName`, 'must be a non-empty label value (at most 63 of [A-Za-z0-9-_.])');
            } else if (names.has(name)) p.add(`${gf}.groupName`, `duplicates group ${name}`);
            names.add(String(name));
            decisionGroups.push({
              groupName: String(name ?? ''),
              groupClusterSelector: clusterSelector(g.groupClusterSelector, `${gf}.groupClusterSelector`, p),
            });
          });
        }
      }
    }
  }

  if (!p.empty) return invalid('PLACEMENT_INVALID', 'Placement', p);
  const placement: Placement = {
    apiVersion: placementApiVersion,
    kind: 'Placement',
    metadata: meta,
    spec: {
      ...(clusterSets ? { clusterSets } : {}),
      ...(numberOfClusters !== undefined ? { numberOfClusters } : {}),
      predicates,
      prioritizerPolicy: { mode, configurations },
      tolerations,
      decisionStrategy: { groupStrategy: { decisionGroups, clustersPerDecisionGroup } },
    },
  };
  return { ok: true, value: placement };
}
