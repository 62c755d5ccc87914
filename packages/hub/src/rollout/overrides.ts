// Rendering one cluster's ManifestWork from a ManifestWorkReplicaSet's template: substitute the
// cluster's values (template.ts), then apply every override whose clusterSelector matches the
// cluster, in list order, each patch an RFC 7386 JSON merge patch on the manifests it names
// (Fleet's targetCustomizations and Karmada's OverridePolicy, with one patch format).
//
// Patches are rendered too, so a patch may say `image: "registry.{{ .labels.region }}/app"`.
// A patch may not change a manifest's identity (apiVersion, kind, name, namespace): the
// work's manifests are keyed by it, and an override must not make two of them collide.
import { limits, type Manifest } from '@outpost/shared';
import { type CompiledSelector, compileSelector, selectorMatches } from '../placement/schedule.ts';
import type { FieldProblem } from '../placement/types.ts';
import { clusterSelector, isObject, type Problems } from '../placement/validate.ts';
import { type RenderProblem, renderValue, setOwn, templateProblems } from './template.ts';
import type { ClusterOverride, ManifestPatch, ManifestSelector, TemplateCluster } from './types.ts';

const dns1123Label = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const identityFields = ['apiVersion', 'kind'] as const;

/** Validates `spec.overrides` of a ManifestWorkReplicaSet, reporting under `field`. */
export function validateOverrides(v: unknown, field: string, p: Problems, templating: boolean): ClusterOverride[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) {
    p.add(field, 'must be a list');
    return [];
  }
  if (v.length > limits.workSetOverridesMax) p.add(field, `at most ${limits.workSetOverridesMax} overrides`);
  const names = new Set<string>();
  const out: ClusterOverride[] = [];
  v.slice(0, limits.workSetOverridesMax).forEach((o, i) => {
    const f = `${field}[${i}]`;
    if (!isObject(o)) {
      p.add(f, 'must be an object');
      return;
    }
    p.unknownFields(o, ['name', 'clusterSelector', 'patches'], f);
    if (typeof o.name !== 'string' || o.name.length > 63 || !dns1123Label.test(o.name)) {
      p.add(`${f}.name`, 'must be a DNS-1123 label (it names the override in status and events)');
    } else if (names.has(o.name)) p.add(`${f}.name`, `duplicates override ${o.name}`);
    names.add(String(o.name));
    const selector = clusterSelector(o.clusterSelector, `${f}.clusterSelector`, p);
    const patches: ManifestPatch[] = [];
    if (!Array.isArray(o.patches) || o.patches.length === 0) p.add(`${f}.patches`, 'must be a non-empty list');
    else {
      if (o.patches.length > limits.workSetPatchesPerOverrideMax) {
        p.add(`${f}.patches`, `at most ${limits.workSetPatchesPerOverrideMax} patches`);
      }
      o.patches.slice(0, limits.workSetPatchesPerOverrideMax).forEach((pa, j) => {
        const pf = `${f}.patches[${j}]`;
        if (!isObject(pa)) {
          p.add(pf, 'must be an object');
          return;
        }
        p.unknownFields(pa, ['manifest', 'patch'], pf);
        const m = pa.manifest;
        let manifest: ManifestSelector | undefined;
        if (!isObject(m)) p.add(`${pf}.manifest`, 'must name a manifest: { kind, name, apiVersion?, namespace? }');
        else {
          p.unknownFields(m, ['apiVersion', 'kind', 'name', 'namespace'], `${pf}.manifest`);
          for (const k of ['kind', 'name'] as const) {
            if (typeof m[k] !== 'string' || m[k] === '') p.add(`${pf}.manifest.${k}`, 'is required');
          }
          for (const k of ['apiVersion', 'namespace'] as const) {
            if (m[k] !== undefined && typeof m[k] !== 'string') p.add(`${pf}.manifest.${k}`, 'must be a string');
          }
          manifest = { kind: String(m.kind), name: String(m.name) };
          if (typeof m.apiVersion === 'string') manifest.apiVersion = m.apiVersion;
          if (typeof m.namespace === 'string') manifest.namespace = m.namespace;
          if (templating) templateProblems(m, `${pf}.manifest`, p);
        }
        const patch = pa.patch;
        if (!isObject(patch)) p.add(`${pf}.patch`, 'must be a JSON merge patch object');
        else {
          for (const k of identityFields)
            if (k in patch) p.add(`${pf}.patch.${k}`, 'a patch cannot change a manifest’s identity');
          if (isObject(patch.metadata)) {
            for (const k of ['name', 'namespace']) {
              if (k in patch.metadata)
                p.add(`${pf}.patch.metadata.${k}`, 'a patch cannot change a manifest’s identity');
            }
          } else if (patch.metadata !== undefined) p.add(`${pf}.patch.metadata`, 'must be an object');
          if (templating) templateProblems(patch, `${pf}.patch`, p);
        }
        if (manifest && isObject(patch)) patches.push({ manifest, patch });
      });
    }
    out.push({ name: String(o.name), clusterSelector: selector, patches });
  });
  return out;
}

export interface CompiledOverride {
  override: ClusterOverride;
  selector: CompiledSelector;
}

/** Compiles validated overrides once per ManifestWorkReplicaSet, not once per cluster. */
export function compileOverrides(overrides: readonly ClusterOverride[] | undefined): CompiledOverride[] {
  return (overrides ?? []).map((override) => ({ override, selector: compileSelector(override.clusterSelector) }));
}

/** RFC 7386: objects merge key by key, null deletes, anything else replaces (arrays whole). */
export function mergePatch(target: unknown, patch: unknown): unknown {
  if (!isObject(patch)) return patch === null || typeof patch !== 'object' ? patch : structuredClone(patch);
  const out: Record<string, unknown> = {};
  if (isObject(target)) for (const [k, v] of Object.entries(target)) setOwn(out, k, v);
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else setOwn(out, k, mergePatch(Object.hasOwn(out, k) ? out[k] : undefined, v));
  }
  return out;
}

function selects(sel: ManifestSelector, m: Manifest): boolean {
  return (
    m.kind === sel.kind &&
    m.metadata?.name === sel.name &&
    (sel.apiVersion === undefined || m.apiVersion === sel.apiVersion) &&
    (sel.namespace === undefined || (m.metadata?.namespace ?? '') === sel.namespace)
  );
}

export type RenderErrorCode = RenderProblem['code'] | 'OVERRIDE_PATCH_UNMATCHED';

export type RenderResult<T> =
  | { ok: true; value: T; appliedOverrides: string[] }
  | { ok: false; error: { code: RenderErrorCode; message: string; details: FieldProblem[] } };

/**
 * The ManifestWork spec for one cluster: `template` (a ManifestWorkSpec: workload.manifests,
 * manifestConfigs, deleteOption …) with, when the workset asks for `templating`, the cluster's
 * values substituted in every string (else every string goes out verbatim, as OCM sends it),
 * then the matching overrides applied. Returns, never throws: a cluster missing a label is an
 * expected outcome the caller reports on the ManifestWorkReplicaSet and that cluster only.
 */
export function renderWork<T extends { workload: { manifests: Manifest[] } }>(
  template: T,
  cluster: TemplateCluster,
  overrides: readonly CompiledOverride[],
  templating: boolean,
): RenderResult<T> {
  const problems: RenderProblem[] = [];
  const render = (v: unknown, field: string) =>
    templating ? renderValue(v, cluster, field, problems) : structuredClone(v);
  const rendered = render(template, 'spec.manifestWorkTemplate') as T;
  const manifests = rendered.workload.manifests;
  const applied: string[] = [];
  const unmatched: FieldProblem[] = [];
  for (const [i, { override, selector }] of overrides.entries()) {
    if (!selectorMatches(selector, cluster)) continue;
    applied.push(override.name);
    for (const [j, p] of override.patches.entries()) {
      const field = `spec.overrides[${i}].patches[${j}]`;
      const sel = render(p.manifest, `${field}.manifest`) as ManifestSelector;
      const patch = render(p.patch, `${field}.patch`);
      let hit = false;
      manifests.forEach((m, k) => {
        if (!selects(sel, m)) return;
        hit = true;
        manifests[k] = mergePatch(m, patch) as Manifest;
      });
      if (!hit) {
        unmatched.push({
          field: `${field}.manifest`,
          message: `override ${override.name} patches ${sel.kind} ${sel.namespace ? `${sel.namespace}/` : ''}${sel.name}, which the template does not contain`,
        });
      }
    }
  }
  if (problems.length) {
    const first = problems[0] as RenderProblem;
    return {
      ok: false,
      error: {
        code: first.code,
        message: `cannot render the work for cluster ${cluster.name}: ${first.field}: ${first.message}`,
        details: problems.map(({ field, message }) => ({ field, message })),
      },
    };
  }
  if (unmatched.length) {
    return {
      ok: false,
      error: {
        code: 'OVERRIDE_PATCH_UNMATCHED',
        message: `cannot render the work for cluster ${cluster.name}: ${(unmatched[0] as FieldProblem).message}`,
        details: unmatched,
      },
    };
  }
  return { ok: true, value: rendered, appliedOverrides: applied };
}
