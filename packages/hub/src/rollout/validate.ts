// Validation and normalisation of a submitted ManifestWorkReplicaSet. The template's
// manifests get a shape check and a template-syntax check here; the full ManifestWork rules
// (manifestConfigs, delete options, duplicates) run on each rendered work through
// work/validate.ts's parseWork, since names may contain {{ .clusterName }}.
import { expandManifestLists, limits, type Manifest } from '@outpost/shared';
import type { Validated } from '../placement/types.ts';
import { invalid, isObject, metadata, Problems } from '../placement/validate.ts';
import { fieldProblem, workSpecFields } from '../work/fields.ts';
import { executorProblem } from '../work/validate.ts';
import { validateOverrides } from './overrides.ts';
import { rolloutPolicy } from './strategy.ts';
import { templateProblems } from './template.ts';
import {
  type LocalPlacementReference,
  type ManifestWorkReplicaSet,
  type ManifestWorkReplicaSetSpec,
  type RolloutStrategySpec,
  workSetApiVersion,
  workSetApiVersions,
} from './types.ts';

const dns1123Subdomain = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

/**
 * Validates a ManifestWorkReplicaSet: OCM's fields plus Outpost's `overrides` and `paused`.
 * The normalised value has apiVersion set to Outpost's, cascadeDeletionPolicy and each
 * rolloutStrategy.type defaulted, and no status.
 */
export function validateWorkReplicaSet(
  input: unknown,
  pathName?: string,
): Validated<ManifestWorkReplicaSet, 'WORKSET_INVALID'> {
  const p = new Problems();
  if (!isObject(input)) {
    p.add('', 'must be a ManifestWorkReplicaSet object');
    return invalid('WORKSET_INVALID', 'ManifestWorkReplicaSet', p);
  }
  if (input.apiVersion !== undefined && !workSetApiVersions.includes(input.apiVersion as never)) {
    p.add('apiVersion', `must be ${workSetApiVersions.join(' or ')}`);
  }
  if (input.kind !== undefined && input.kind !== 'ManifestWorkReplicaSet')
    p.add('kind', 'must be ManifestWorkReplicaSet');
  p.unknownFields(input, ['apiVersion', 'kind', 'metadata', 'spec', 'status'], '');
  const meta = metadata(input.metadata, p, pathName);
  const spec = input.spec;
  if (!isObject(spec)) {
    p.add('spec', 'must be an object');
    return invalid('WORKSET_INVALID', 'ManifestWorkReplicaSet', p);
  }
  p.unknownFields(
    spec,
    ['manifestWorkTemplate', 'placementRefs', 'cascadeDeletionPolicy', 'overrides', 'paused', 'templating'],
    'spec',
  );

  // Outpost's per-cluster `{{ … }}` values only when asked for: OCM renders nothing, so an
  // OCM workset whose manifests hold Helm or Alertmanager templates is sent as written.
  if (spec.templating !== undefined && typeof spec.templating !== 'boolean') {
    p.add('spec.templating', 'must be true or false');
  }
  const templating = spec.templating === true;
  const template = spec.manifestWorkTemplate;
  if (!isObject(template)) p.add('spec.manifestWorkTemplate', 'must be an object');
  else {
    // The ManifestWork field rules: an OCM field Outpost does not honour is refused here, at
    // apply time, not only when a rendered work reaches parseWork.
    const field = fieldProblem(template, workSpecFields, 'spec.manifestWorkTemplate');
    if (field?.problem === 'unknown') p.add(field.path, 'unknown field');
    else if (field) {
      p.add(
        field.path,
        `UNSUPPORTED_FIELD: not supported${field.alternative ? `; instead: ${field.alternative}` : ''}`,
      );
    }
    // The executor goes into every rendered work as written (validated again there, after
    // templating): checked here too, so a bad one is refused when the workset is applied.
    const executor = templating ? undefined : executorProblem(template.executor, 'spec.manifestWorkTemplate.executor');
    if (executor) {
      p.add(
        executor.field,
        `${executor.code === 'UNSUPPORTED_FIELD' ? 'UNSUPPORTED_FIELD: ' : ''}${executor.message.slice(executor.field.length + 1)}`,
      );
    }
    const workload = template.workload;
    if (!isObject(workload) || !Array.isArray(workload.manifests)) {
      p.add('spec.manifestWorkTemplate.workload.manifests', 'must be a list');
    } else {
      expandManifestLists(workload.manifests).forEach(({ manifest: m, path }) => {
        const f = `spec.manifestWorkTemplate.workload.manifests${path}`;
        if (!isObject(m)) {
          p.add(f, 'must be an object');
          return;
        }
        if (typeof m.apiVersion !== 'string' || m.apiVersion === '') p.add(`${f}.apiVersion`, 'is required');
        if (typeof m.kind !== 'string' || m.kind === '') p.add(`${f}.kind`, 'is required');
        const generated =
          isObject(m.metadata) &&
          m.metadata.name === undefined &&
          typeof m.metadata.generateName === 'string' &&
          m.metadata.generateName !== '';
        if (!generated && (!isObject(m.metadata) || typeof m.metadata.name !== 'string' || m.metadata.name === '')) {
          p.add(`${f}.metadata.name`, 'is required');
        }
      });
    }
    if (templating) templateProblems(template, 'spec.manifestWorkTemplate', p);
  }

  const refs: LocalPlacementReference[] = [];
  if (!Array.isArray(spec.placementRefs) || spec.placementRefs.length === 0) {
    p.add('spec.placementRefs', 'must name at least one Placement');
  } else {
    if (spec.placementRefs.length > limits.workSetPlacementRefsMax) {
      p.add('spec.placementRefs', `at most ${limits.workSetPlacementRefsMax} placements`);
    }
    const names = new Set<string>();
    spec.placementRefs.slice(0, limits.workSetPlacementRefsMax).forEach((r, i) => {
      const f = `spec.placementRefs[${i}]`;
      if (!isObject(r)) {
        p.add(f, 'must be an object');
        return;
      }
      p.unknownFields(r, ['name', 'rolloutStrategy'], f);
      if (typeof r.name !== 'string' || r.name.length > 253 || !dns1123Subdomain.test(r.name)) {
        p.add(`${f}.name`, 'must be the name of a Placement');
      } else if (names.has(r.name)) p.add(`${f}.name`, `names placement ${r.name} twice`);
      names.add(String(r.name));
      const policy = rolloutPolicy(r.rolloutStrategy, `${f}.rolloutStrategy`, p);
      const strategy = isObject(r.rolloutStrategy) ? { ...r.rolloutStrategy } : {};
      refs.push({ name: String(r.name), rolloutStrategy: { ...strategy, type: policy.type } as RolloutStrategySpec });
    });
  }

  const cascade = spec.cascadeDeletionPolicy ?? 'Background';
  if (cascade !== 'Background' && cascade !== 'Foreground') {
    p.add('spec.cascadeDeletionPolicy', 'must be Background or Foreground');
  }
  const overrides = validateOverrides(spec.overrides, 'spec.overrides', p, templating);
  if (spec.paused !== undefined && typeof spec.paused !== 'boolean') p.add('spec.paused', 'must be true or false');

  if (!p.empty) return invalid('WORKSET_INVALID', 'ManifestWorkReplicaSet', p);
  const out: ManifestWorkReplicaSetSpec = {
    manifestWorkTemplate: template as ManifestWorkReplicaSetSpec['manifestWorkTemplate'] & {
      workload: { manifests: Manifest[] };
    },
    placementRefs: refs,
    cascadeDeletionPolicy: cascade as ManifestWorkReplicaSetSpec['cascadeDeletionPolicy'],
  };
  if (overrides.length) out.overrides = overrides;
  if (spec.paused === true) out.paused = true;
  if (templating) out.templating = true;
  return {
    ok: true,
    value: { apiVersion: workSetApiVersion, kind: 'ManifestWorkReplicaSet', metadata: meta, spec: out },
  };
}
