// The thread that parses YAML request bodies (see off-thread.ts): the yaml package reads
// about half a megabyte a second, too slow for the hub's event loop.
//
// For the routes whose objects are small (Placements, ManifestWorkReplicaSets) it also runs
// the route's validator: a document it refuses is answered from here, so the event loop
// never reads back, say, a mapping of 40,000 unknown keys (up to ~100 ms of its time under
// load) only to refuse it. The route validates again what passes (the path's name too).
import { parentPort } from 'node:worker_threads';
import type { FieldProblem } from '../placement/types.ts';
import { validatePlacement } from '../placement/validate.ts';
import { validateWorkReplicaSet } from '../rollout/validate.ts';
import { ParseError } from './errors.ts';
import { parseYaml } from './yaml.ts';

/** What the worker checks after parsing: the validator of the route's kind. */
export type YamlCheck = 'placement' | 'workset';

export interface YamlJob {
  id: number;
  text: string;
  maxBytes: number;
  check?: YamlCheck | undefined;
}

export type YamlResult =
  | { id: number; ok: true; json: string }
  | { id: number; ok: false; code: ParseError['code']; message: string }
  | { id: number; ok: false; invalid: { code: string; message: string; details: FieldProblem[] } };

const validators: Record<YamlCheck, (doc: unknown) => { ok: boolean; error?: unknown }> = {
  placement: (doc) => validatePlacement(doc),
  workset: (doc) => validateWorkReplicaSet(doc),
};

parentPort?.on('message', (job: YamlJob) => {
  let out: YamlResult;
  try {
    const doc = parseYaml(job.text, { maxBytes: job.maxBytes });
    const checked = job.check ? validators[job.check](doc) : { ok: true };
    // As JSON text: the event loop's JSON.parse builds a large object about twice as fast
    // as structured clone does (a mapping of 40,000 keys: ~40 ms against ~100 ms).
    out = checked.ok
      ? { id: job.id, ok: true, json: JSON.stringify(doc) }
      : {
          id: job.id,
          ok: false,
          invalid: checked.error as { code: string; message: string; details: FieldProblem[] },
        };
  } catch (err) {
    const e = err instanceof ParseError ? err : new ParseError('BODY_MALFORMED', (err as Error).message);
    out = { id: job.id, ok: false, code: e.code, message: e.message };
  }
  parentPort?.postMessage(out);
});
