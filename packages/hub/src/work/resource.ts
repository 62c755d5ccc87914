// The ManifestWork resource as the API shows it, built from the store's rows.
import { workApiVersion } from '@outpost/shared';
import type { ManifestRow, WorkRow } from '../store/index.ts';

export function workResource(w: WorkRow, manifests: ManifestRow[] | undefined) {
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
  return {
    apiVersion: workApiVersion,
    kind: 'ManifestWork',
    metadata,
    spec: {
      ...w.spec,
      // Lists leave the manifests out (a work may be 16 MiB); GET of one work has them.
      ...(manifests
        ? { workload: { manifests: manifests.map((m) => JSON.parse(m.content as string) as unknown) } }
        : {}),
    },
    status: {
      ...(w.status ?? { conditions: [] }),
      manifestCount: w.manifestCount,
      sizeBytes: w.sizeBytes,
    },
  };
}
