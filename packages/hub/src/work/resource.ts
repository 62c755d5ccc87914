// The ManifestWork resource as the API shows it, built from the store's rows. Spec,
// manifests and status go in as the stored JSON text (RawJson): a work may be 16 MiB and
// its status megabytes, and the answer is written in parts (raw-json.ts).
import { workApiVersion } from '@outpost/shared';
import type { KeptStatus, StatusSummary, WorkRow } from '../store/index.ts';
import { type JsonPart, RawJson, TextRef, withKeys } from './raw-json.ts';

export function workResource(
  w: WorkRow,
  /** How the agent's last status is kept (store.works.statusOf). */
  status: KeptStatus | null,
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
  // The hub's keys of a status (observedAt, …) come from the same report as its text: the
  // reader adds them to a status kept in the row (statusRead reads both at once), and the
  // parts of a large one came with their summary. The row's own summary may be of an older
  // report by the time its status is read.
  const counts = { manifestCount: w.manifestCount, sizeBytes: w.sizeBytes };
  return {
    apiVersion: workApiVersion,
    kind: 'ManifestWork',
    metadata,
    spec: new RawJson(spec),
    status: new RawJson(
      status === null
        ? withKeys(counts, ['{"conditions":[]}'])
        : status === 'inline'
          ? withKeys(counts, [new TextRef(w.uid, 0, 'status')])
          : withKeys(
              { ...hubKeysOf(status.summary), ...counts },
              status.hashes.map((h) => new TextRef(h)),
            ),
    ),
  };
}

/** The keys of a status that the hub sets (observedAt, reportedGeneration, completedAt). */
export function hubKeysOf(summary: StatusSummary | null | undefined): Record<string, unknown> {
  const { conditions: _conditions, observedGeneration: _observed, ...keys } = summary ?? {};
  return keys;
}

/** A status's JSON text (UTF-8) with the hub's keys of the same report first. */
export function withHubKeys(summary: StatusSummary | null | undefined, text: Buffer): Buffer {
  const head = JSON.stringify(hubKeysOf(summary));
  // Stored statuses are JSON.stringify's text: an empty object is exactly "{}". The answer
  // puts keys before it (withKeys), so the object shown always has one of its own.
  const empty = text.length === 2;
  if (head === '{}') return empty ? emptyStatus : text;
  return empty ? Buffer.from(head) : Buffer.concat([Buffer.from(`${head.slice(0, -1)},`), text.subarray(1)]);
}

/** A status with nothing in it, as the API shows one before the first report. */
export const emptyStatus = Buffer.from('{"conditions":[]}');
