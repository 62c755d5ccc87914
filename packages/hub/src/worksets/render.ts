// Rendering a workset's template into per-cluster works, once per distinct outcome. Without
// templating a cluster's work depends only on which overrides select it, so a workset of
// 2,000 manifests on 1,000 clusters with no overrides is rendered, validated, hashed and
// turned into texts once, not a thousand times; with templating the cluster's name, labels
// and claims all count. renderWorks is pure: the controller runs it in the reconcile for a
// small workset and on the render thread (parse/body-worker.ts) for a large one.
import { canonicalJson, contentHash, OutpostError } from '@outpost/shared';
import { selectorMatches } from '../placement/schedule.ts';
import {
  type CompiledOverride,
  compileOverrides,
  type ManifestWorkReplicaSetSpec,
  renderWork,
  type TemplateCluster,
} from '../rollout/index.ts';
import { type PreparedWork, prepareWork, type StoredText } from '../store/works.ts';
import { parseWork } from '../work/validate.ts';

/** A cluster to render for, under the key of what its work depends on (renderKey). */
export interface RenderTarget extends TemplateCluster {
  key: string;
}

/** A rendered work without its cluster, and its manifests by hash only (their texts are stored). */
export interface TemplateWork extends Omit<PreparedWork, 'cluster' | 'manifests'> {
  manifests: { key: string; ordinal: number; hash: string }[];
}

/** One render's outcome: the hash of the rendered spec (the work's spec-hash annotation) and
 *  the work, or why no work can be made for such a cluster. */
export type Rendered = { hash: string; work: TemplateWork } | { error: string };

export interface RenderOutput {
  renders: [key: string, rendered: Rendered][];
  /** Every manifest text the renders name, once per hash. */
  texts: StoredText[];
}

/**
 * What a cluster's work depends on: with templating its name, labels and claims; without,
 * only which overrides select it ('o:' and their indexes, 'o:' alone for none).
 */
export function renderKey(templating: boolean, overrides: readonly CompiledOverride[], c: TemplateCluster): string {
  if (templating) return `t:${canonicalJson({ name: c.name, labels: c.labels, claims: c.claims })}`;
  const hits: number[] = [];
  overrides.forEach((o, i) => {
    if (selectorMatches(o.selector, c)) hits.push(i);
  });
  return `o:${hits.join(',')}`;
}

/** Renders `spec`'s template for each target (one per key), as the works API would take it. */
export function renderWorks(name: string, spec: ManifestWorkReplicaSetSpec, targets: RenderTarget[]): RenderOutput {
  const compiled = compileOverrides(spec.overrides);
  const texts = new Map<string, StoredText>();
  const renders: RenderOutput['renders'] = [];
  for (const t of targets) {
    const r = renderWork(spec.manifestWorkTemplate, t, compiled, spec.templating === true);
    if (!r.ok) {
      // Without templating the outcome stands for every cluster of its key: name none.
      const message =
        spec.templating === true ? r.error.message : r.error.message.replace(` for cluster ${t.name}`, '');
      renders.push([t.key, { error: `${r.error.code}: ${message}` }]);
      continue;
    }
    let work: PreparedWork;
    try {
      // The same validation as the works API, so a rendered work is never one the API refuses.
      const input = parseWork({ metadata: { name }, spec: r.value }, t.name);
      work = prepareWork(input);
    } catch (err) {
      if (err instanceof OutpostError) {
        renders.push([t.key, { error: `${err.code}: ${err.message}` }]);
        continue;
      }
      throw err;
    }
    for (const m of work.manifests) if (!texts.has(m.hash)) texts.set(m.hash, { hash: m.hash, content: m.content });
    const { cluster: _, manifests, ...rest } = work;
    renders.push([
      t.key,
      {
        hash: contentHash(r.value),
        work: { ...rest, manifests: manifests.map(({ key, ordinal, hash }) => ({ key, ordinal, hash })) },
      },
    ]);
  }
  return { renders, texts: [...texts.values()] };
}
