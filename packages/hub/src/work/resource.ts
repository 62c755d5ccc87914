// The ManifestWork resource as the API shows it, built from the store's rows. Spec,
// manifests and status go in as the stored JSON text (RawJson): a work may be 16 MiB and
// its status megabytes, and the answer is written in parts (raw-json.ts).
import { workApiVersion } from '@outpost/shared';
import type { WorkRow } from '../store/index.ts';
import { type JsonPart, RawJson, TextRef, withKeys } from './raw-json.ts';

export function workResource(
  w: WorkRow,
  /** How the agent's last status is kept (store.works.statusOf). */
  status: 'inline' | string[] | null,
  /** The hashes of the manifests' texts in order; lists leave them out (a work may be 16 MiB). */
  manifests?: string[],
) {
  const metadata: Record<string, unknown> = {
    name: w.name,
    namespace: w.cluster,
    uid: w.uid,
    generation: w.generation,
    resourceVersion: String(w.resourceVersion),
    labels: w.labels,
    creationTimestamp: w.createdAt,
  };
  if (Object.keys(w.annotations).length) metadata.annotations = w.annotations;
  if (w.deletionAt) metadata.deletionTimestamp = w.deletionAt;
  let spec: JsonPart[] = [w.specText];
  if (manifests) {
    const list: JsonPart[] = ['{"workload":{"manifests":['];
    for (const [i, h] of manifests.entries()) {
      if (i) list.push(',');
      list.push(new TextRef(h));
    }
    list.push(w.specText === '{}' ? ']}}' : `]},${w.specText.slice(1)}`);
    spec = list;
  }
  const { conditions: _conditions, observedGeneration: _observed, ...hubKeys } = w.statusSummary ?? {};
  return {
    apiVersion: workApiVersion,
    kind: 'ManifestWork',
    metadata,
    spec: new RawJson(spec),
    status: new RawJson(
      withKeys(
        { ...hubKeys, manifestCount: w.manifestCount, sizeBytes: w.sizeBytes },
        status === null
          ? ['{"conditions":[]}']
          : status === 'inline'
            ? [new TextRef(w.uid, 0, 'status')]
            : status.map((h) => new TextRef(h)),
      ),
    ),
  };
}
