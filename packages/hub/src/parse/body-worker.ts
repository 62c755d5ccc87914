// The thread that reads request bodies the event loop must not (see off-thread.ts): the
// yaml package reads about half a megabyte a second, and a work or a status report of
// 16 MiB costs hundreds of milliseconds to parse, validate and serialise on any thread.
//
// - yaml: parses a YAML body; for Placements it also runs the route's validator, so the
//   event loop never reads back, say, a mapping of 40,000 unknown keys only to refuse it.
// - work: a ManifestWork body (JSON or YAML) parsed, validated and made into the canonical
//   texts and hashes the store writes (work/prepare.ts).
// - status: an agent's status batch (JSON) validated and made into text (sync/status-text.ts).
// - workset: a ManifestWorkReplicaSet body (JSON or YAML) parsed, validated and its spec made
//   into the canonical text the store keeps.
// - pause: a stored workset's spec with spec.paused set or removed, as canonical text.
// - patch: a PATCH of a stored work or workset (patch/), then what `work` or `workset` does
//   with the patched object: a patch of one manifest of a 16 MiB work is small, but the work
//   it makes is not.
// - answer-yaml: a large JSON answer of the admin API made YAML (api/answer-format.ts), the
//   one job here that is not a request body: YAML costs as much to write as to read.
// - render: a stored workset's template rendered into works for clusters (worksets/render.ts),
//   on a thread of its own (the workset controller's), never on the admin one.
// - documents: a file of manifests from a Git repository (gitrepos/render.ts), every document
//   with its line, or the line that cannot be read.
// - template-keys: the identities of a stored workset template's manifests (the GitRepo
//   deletion breaker, gitrepos/breaker.ts).
import { parentPort } from 'node:worker_threads';
import { apiError, expandManifestLists, type Manifest, manifestKey, OutpostError } from '@outpost/shared';
import secureJson from 'secure-json-parse';
import { manifestProblem } from '../gitrepos/manifest.ts';
import { applyPatch, type PatchTarget, type PatchType } from '../patch/index.ts';
import type { FieldProblem } from '../placement/types.ts';
import { validatePlacement } from '../placement/validate.ts';
import type { ManifestWorkReplicaSetSpec } from '../rollout/types.ts';
import { validateWorkReplicaSet } from '../rollout/validate.ts';
import { workSetSpecText } from '../store/placements.ts';
import { prepareWork, splitText } from '../store/works.ts';
import { prepareStatusBatch, statusPartBytes } from '../sync/status-text.ts';
import { parseWork } from '../work/validate.ts';
import { type RenderTarget, renderWorks } from '../worksets/render.ts';
import { ParseError } from './errors.ts';
import { checkJsonDepth } from './json.ts';
import { errorLine, parseYaml, parseYamlDocumentsAt, writeYaml } from './yaml.ts';

/** What the worker checks after parsing YAML: the validator of the route's kind. */
export type YamlCheck = 'placement';

export type BodyJob =
  | { id: number; kind: 'yaml'; text: string; maxBytes: number; check?: YamlCheck | undefined }
  | {
      id: number;
      kind: 'work';
      format: 'json' | 'yaml';
      bytes: Uint8Array;
      maxBytes: number;
      cluster: string;
      name: string | undefined;
    }
  | { id: number; kind: 'status'; bytes: Uint8Array }
  | {
      id: number;
      kind: 'workset';
      format: 'json' | 'yaml';
      bytes: Uint8Array;
      maxBytes: number;
      name: string | undefined;
    }
  | {
      id: number;
      kind: 'patch';
      /** What is patched: a work (then `cluster`) or a workset. */
      target: 'work' | 'workset';
      /** The stored object as the API shows it (patch/ PatchTarget), as UTF-8 JSON in parts. */
      current: Uint8Array[];
      format: 'json' | 'yaml';
      type: PatchType;
      bytes: Uint8Array;
      maxBytes: number;
      cluster?: string | undefined;
      name: string;
    }
  | { id: number; kind: 'answer-yaml'; bytes: Uint8Array }
  | { id: number; kind: 'render'; name: string; spec: Uint8Array[]; targets: RenderTarget[] }
  | { id: number; kind: 'pause'; spec: Uint8Array[]; paused: boolean }
  | { id: number; kind: 'documents'; format: 'json' | 'yaml'; bytes: Uint8Array; maxBytes: number; anyObject: boolean }
  | { id: number; kind: 'template-keys'; spec: Uint8Array[] };

export type BodyResult =
  /** YAML as JSON text: the event loop's JSON.parse builds a large object about twice as fast
   *  as structured clone does (a mapping of 40,000 keys: ~40 ms against ~100 ms). */
  | { id: number; ok: true; json: string }
  /** Mostly long strings (canonical texts), which structured clone copies cheaply. */
  | { id: number; ok: true; value: unknown }
  | { id: number; ok: false; parse: { code: ParseError['code']; message: string } }
  | { id: number; ok: false; invalid: { code: string; message: string; status: number; details?: unknown } }
  /** Neither the body's fault nor a refusal: a fault of the hub, answered 500 and logged. */
  | { id: number; ok: false; internal: string };

const validators: Record<YamlCheck, (doc: unknown) => { ok: boolean; error?: unknown }> = {
  placement: (doc) => validatePlacement(doc),
};

/**
 * A workset's spec as the store keeps it: its canonical text in parts (as UTF-8 bytes,
 * handed over without a copy), the text's hash and size, and the spec without its template
 * (`spec`), which is all the event loop reads of it.
 */
function specOut(spec: ManifestWorkReplicaSetSpec, transfer: ArrayBuffer[]) {
  const { specHead, ...text } = workSetSpecText(
    spec as unknown as Record<string, unknown>,
    (t) => bytes([t], transfer)[0] as Uint8Array,
  );
  return { spec: specHead, ...text };
}

/** Parts of one UTF-8 text, as text. */
const joined = (parts: Uint8Array[]) => Buffer.concat(parts).toString('utf8');

/** As fastify reads JSON for every other route: a BOM is dropped, `__proto__` and
 *  `constructor.prototype` keys are refused. */
function json(text: string): unknown {
  if (text === '') return undefined;
  checkJsonDepth(text);
  try {
    return secureJson.parse(text, undefined, { protoAction: 'error', constructorAction: 'error' });
  } catch (err) {
    throw new ParseError('BODY_MALFORMED', (err as Error).message);
  }
}

function yaml(text: string, maxBytes: number): unknown {
  try {
    return parseYaml(text, { maxBytes });
  } catch (err) {
    // The reader's contract: whatever it throws is about the text.
    throw err instanceof ParseError ? err : new ParseError('BODY_MALFORMED', (err as Error).message);
  }
}

const encoder = new TextEncoder();
const textOf = (b: Uint8Array) => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('utf8');

/** The texts as UTF-8 bytes in one buffer (handed over without a copy), a view each. */
function bytes(texts: string[], transfer: ArrayBuffer[]): Uint8Array[] {
  const all = new Uint8Array(texts.reduce((n, t) => n + Buffer.byteLength(t), 0));
  transfer.push(all.buffer);
  let at = 0;
  return texts.map((t) => {
    const { written } = encoder.encodeInto(t, all.subarray(at));
    const view = all.subarray(at, at + written);
    at += written;
    return view;
  });
}

/** A ManifestWork (parsed) validated and made into the store's texts. */
function workOut(doc: unknown, cluster: string, name: string | undefined, transfer: ArrayBuffer[]) {
  const input = parseWork(doc, cluster, name);
  const work = prepareWork(input);
  const texts = bytes(
    work.manifests.map((m) => m.content as string),
    transfer,
  );
  for (const [i, m] of work.manifests.entries()) m.content = texts[i] as Uint8Array;
  return { work, resourceVersion: input.resourceVersion };
}

/** A ManifestWorkReplicaSet (parsed) validated; everything but the spec is small: the
 *  route reads it as objects, the spec as text. */
function workSetOut(
  doc: unknown,
  name: string | undefined,
  preconditions: { resourceVersion?: unknown; uid?: unknown },
  transfer: ArrayBuffer[],
) {
  const v = validateWorkReplicaSet(doc, name);
  if (!v.ok) throw new OutpostError(v.error.code, v.error.message, 400, v.error.details);
  const { spec, ...rest } = v.value;
  return { ...rest, ...specOut(spec, transfer), preconditions };
}

function run(job: BodyJob, transfer: ArrayBuffer[]): BodyResult {
  const { id } = job;
  switch (job.kind) {
    case 'yaml': {
      const doc = yaml(job.text, job.maxBytes);
      const checked = job.check ? validators[job.check](doc) : { ok: true };
      if (checked.ok) return { id, ok: true, json: JSON.stringify(doc) };
      const e = checked.error as { code: string; message: string; details: FieldProblem[] };
      return { id, ok: false, invalid: { code: e.code, message: e.message, status: 400, details: e.details } };
    }
    case 'work': {
      const text = textOf(job.bytes);
      const doc = job.format === 'yaml' ? yaml(text, job.maxBytes) : json(text);
      return { id, ok: true, value: workOut(doc, job.cluster, job.name, transfer) };
    }
    case 'workset': {
      const text = textOf(job.bytes);
      const doc = job.format === 'yaml' ? yaml(text, job.maxBytes) : json(text);
      // The metadata's resourceVersion and uid as sent: preconditions (api/common.ts).
      const meta = (doc as { metadata?: { resourceVersion?: unknown; uid?: unknown } } | undefined)?.metadata;
      return {
        id,
        ok: true,
        value: workSetOut(doc, job.name, { resourceVersion: meta?.resourceVersion, uid: meta?.uid }, transfer),
      };
    }
    case 'patch': {
      const text = textOf(job.bytes);
      const patch = job.format === 'yaml' ? yaml(text, job.maxBytes) : json(text);
      const current = JSON.parse(joined(job.current)) as PatchTarget;
      const { object, preconditions } = applyPatch(current, patch, job.type);
      if (job.target === 'workset')
        return { id, ok: true, value: workSetOut(object, job.name, preconditions, transfer) };
      const out = workOut(object, job.cluster as string, job.name, transfer);
      // The limit a PUT body of the work has.
      if (out.work.sizeBytes > job.maxBytes) {
        throw apiError(
          'BODY_TOO_LARGE',
          `the patched work (${out.work.sizeBytes} bytes) is over the limit of ${job.maxBytes} bytes`,
        );
      }
      return { id, ok: true, value: { ...out, preconditions } };
    }
    case 'pause': {
      const spec = JSON.parse(joined(job.spec)) as ManifestWorkReplicaSetSpec;
      if (job.paused) spec.paused = true;
      else delete spec.paused;
      return { id, ok: true, value: specOut(spec, transfer) };
    }
    case 'documents': {
      const text = textOf(job.bytes);
      let docs: { value: unknown; line: number }[];
      try {
        docs =
          job.format === 'json'
            ? [{ value: json(text), line: 1 }]
            : parseYamlDocumentsAt(text, { maxBytes: job.maxBytes });
      } catch (err) {
        // A bad file is an outcome (reported with its line), not a failure of the job.
        if (err instanceof ParseError) {
          let line = errorLine(text, err.message);
          if (line === undefined && job.format === 'json') {
            // JSON's own errors name no line: the YAML reader (JSON is flow YAML) finds it.
            try {
              parseYamlDocumentsAt(text, { maxBytes: job.maxBytes });
            } catch (again) {
              if (again instanceof ParseError) line = errorLine(text, again.message);
            }
          }
          return { id, ok: true, value: { error: { message: err.message, ...(line ? { line } : {}) } } };
        }
        throw err;
      }
      // Each manifest as JSON text: the event loop joins them into a workset, never parses them.
      const out: { line: number; json: string }[] = [];
      for (const { value, line } of docs) {
        if (value === null || value === undefined) continue;
        const problem = job.anyObject ? undefined : manifestProblem(value);
        if (problem) return { id, ok: true, value: { error: { message: problem, line } } };
        out.push({ line, json: JSON.stringify(value) });
      }
      return { id, ok: true, value: { docs: out } };
    }
    case 'template-keys': {
      // The identities of a workset template's manifests (gitrepos/ deletion breaker).
      const spec = JSON.parse(joined(job.spec)) as ManifestWorkReplicaSetSpec;
      // Lists expanded as the agent expands them (each item is an object on the cluster); a
      // manifest without what a key needs is keyed by its place (the workset's validation
      // refuses those anyway).
      const manifests = spec.manifestWorkTemplate?.workload?.manifests ?? [];
      const keys = expandManifestLists(manifests).map(({ manifest, path }) => {
        const m = manifest as Partial<Manifest> | null;
        return m && typeof m.apiVersion === 'string' && typeof m.kind === 'string' && m.metadata
          ? manifestKey(m as Manifest)
          : `?${path}`;
      });
      return { id, ok: true, value: keys };
    }
    case 'answer-yaml': {
      const [text] = bytes([writeYaml(JSON.parse(textOf(job.bytes)))], transfer);
      return { id, ok: true, value: text };
    }
    case 'render': {
      const out = renderWorks(job.name, JSON.parse(joined(job.spec)) as ManifestWorkReplicaSetSpec, job.targets);
      const texts = bytes(
        out.texts.map((t) => t.content as string),
        transfer,
      );
      for (const [i, t] of out.texts.entries()) t.content = texts[i] as Uint8Array;
      return { id, ok: true, value: out };
    }
    case 'status': {
      const batch = prepareStatusBatch(json(textOf(job.bytes)));
      const texts = bytes(
        batch.reports.map((r) => r.statusText as string),
        transfer,
      );
      for (const [i, r] of batch.reports.entries()) {
        const text = texts[i] as Uint8Array;
        if (text.length > statusPartBytes) {
          r.statusParts = splitText(text);
          delete r.statusText;
        } else r.statusText = text;
      }
      return { id, ok: true, value: batch };
    }
  }
}

/** Runs one job and says how it ended: here on the body thread, or in-process for a small
 *  body (off-thread.ts), with the same answers. */
export function runJob(job: BodyJob, transfer: ArrayBuffer[]): BodyResult {
  try {
    return run(job, transfer);
  } catch (err) {
    if (err instanceof OutpostError) {
      return {
        id: job.id,
        ok: false,
        invalid: { code: err.code, message: err.message, status: err.statusCode, details: err.details },
      };
    }
    if (err instanceof ParseError) return { id: job.id, ok: false, parse: { code: err.code, message: err.message } };
    return { id: job.id, ok: false, internal: (err as Error).stack ?? String(err) };
  }
}

parentPort?.on('message', (job: BodyJob) => {
  const transfer: ArrayBuffer[] = [];
  const out = runJob(job, transfer);
  parentPort?.postMessage(out, out.ok ? transfer : []);
});
