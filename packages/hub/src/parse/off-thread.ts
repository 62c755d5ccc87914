// Request bodies the event loop must not read itself (YAML, works, status reports) are read
// on a worker thread (body-worker.ts; the hub runs one for admin bodies and one for agents'
// status batches), one at a time, so a large or hostile body costs the event loop nothing
// but taking the result, one result per turn. JSON bodies up to inlineBytes run the same
// code in-process. Started on first use; a crashed worker fails the jobs it had not
// answered and is replaced on the next one.
import { Worker } from 'node:worker_threads';
import { OutpostError } from '@outpost/shared';
import type { PatchType } from '../patch/index.ts';
import type { ManifestWorkReplicaSet, ManifestWorkReplicaSetSpec } from '../rollout/types.ts';
import type { PreparedWork, StoredText } from '../store/works.ts';
import type { PreparedStatusBatch } from '../sync/status-text.ts';
import type { RenderOutput, RenderTarget } from '../worksets/render.ts';
import { type BodyJob, type BodyResult, runJob, type YamlCheck } from './body-worker.ts';
import { ParseError } from './errors.ts';

/** A body the content-type parser left unread for the route to send to the body thread. */
export class RawBody {
  readonly format: 'json' | 'yaml';
  readonly bytes: Uint8Array;
  constructor(format: 'json' | 'yaml', bytes: Uint8Array = new Uint8Array(0)) {
    this.format = format;
    this.bytes = bytes;
  }

  /** A route's body as the parsers left it; no body at all is an empty JSON one. */
  static of(body: unknown): RawBody {
    return body instanceof RawBody ? body : new RawBody('json');
  }
}

/** Hands `bytes` over without a copy when they are a whole buffer of their own. */
const transferOf = (bytes: Uint8Array): ArrayBuffer[] =>
  bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength && bytes.byteLength > 0
    ? [bytes.buffer as ArrayBuffer]
    : [];

/** JSON bodies up to this size are read in-process: that costs about a millisecond, less
 *  than the trip to the thread and back, and keeps the common small status batch and work
 *  out of the thread's queue. YAML always goes to the thread (half a megabyte a second). */
const inlineBytes = 64 * 1024;

/** Resolves or rejects with what a job's result says. */
function settle(r: BodyResult, p: { resolve: (v: unknown) => void; reject: (e: Error) => void }): void {
  if (!r.ok) {
    p.reject(
      'invalid' in r
        ? new OutpostError(r.invalid.code, r.invalid.message, r.invalid.status, r.invalid.details)
        : 'parse' in r
          ? new ParseError(r.parse.code, r.parse.message)
          : new Error(`the body reader failed: ${r.internal}`),
    );
    return;
  }
  if ('value' in r) {
    p.resolve(r.value);
    return;
  }
  try {
    p.resolve(JSON.parse(r.json));
  } catch (err) {
    p.reject(new ParseError('BODY_MALFORMED', `YAML: ${(err as Error).message}`));
  }
}

/** A ManifestWorkReplicaSet as the body thread reads it (BodyThread.workset). */
export type WorkSetBody = Omit<ManifestWorkReplicaSet, 'spec'> &
  WorkSetSpecText & {
    /** metadata.resourceVersion and uid as the body gave them (api/common.ts checkPreconditions). */
    preconditions: { resourceVersion?: unknown; uid?: unknown };
  };

/** A workset's spec as the store writes it (see store/placements.ts ObjectWrite). */
export interface WorkSetSpecText {
  /** The spec without its template. */
  spec: Omit<ManifestWorkReplicaSetSpec, 'manifestWorkTemplate'>;
  /** Its canonical text in parts, as UTF-8 bytes (store/works.ts splitText). */
  specParts: StoredText[];
  specHash: string;
  specBytes: number;
  /** store/placements.ts workSetRenderHash. */
  renderHash: string;
}

/** Distributes BodyJob without its id over the union's members. */
type Job = BodyJob extends infer J ? (J extends BodyJob ? Omit<J, 'id'> : never) : never;

export class BodyThread {
  #worker: Worker | undefined;
  #next = 1;
  readonly #pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  /** Results not yet taken: each one's JSON.parse (up to tens of ms for a body of 40,000 keys)
   *  gets a turn of the event loop of its own, so two never delay timers and I/O together. */
  readonly #results: BodyResult[] = [];

  #takeResult(): void {
    const r = this.#results.shift();
    if (this.#results.length > 0) setImmediate(() => this.#takeResult());
    const p = r && this.#pending.get(r.id);
    if (!r || !p) return;
    this.#pending.delete(r.id);
    settle(r, p);
  }

  #start(): Worker {
    const worker = new Worker(new URL('./body-worker.ts', import.meta.url));
    worker.unref();
    worker.on('message', (r: BodyResult) => {
      this.#results.push(r);
      if (this.#results.length === 1) setImmediate(() => this.#takeResult());
    });
    const fail = (err: Error) => {
      if (this.#worker === worker) this.#worker = undefined;
      // What the worker finished before it stopped is still answered (in later turns, as
      // always); only the jobs it never answered fail.
      const answered = new Set(this.#results.map((r) => r.id));
      for (const [id, p] of this.#pending) {
        if (answered.has(id)) continue;
        p.reject(new ParseError('BODY_MALFORMED', `the body reader stopped: ${err.message}`));
        this.#pending.delete(id);
      }
    };
    worker.on('error', fail);
    worker.on('exit', (code) => fail(new Error(`exit ${code}`)));
    this.#worker = worker;
    return worker;
  }

  #run<T>(job: Job, transfer: ArrayBuffer[] = []): Promise<T> {
    const json =
      job.kind === 'status' ||
      job.kind === 'pause' ||
      job.kind === 'template-keys' ||
      ((job.kind === 'work' || job.kind === 'workset' || job.kind === 'patch') && job.format === 'json');
    const size =
      job.kind === 'pause' || job.kind === 'template-keys'
        ? job.spec.reduce((n, b) => n + b.byteLength, 0)
        : job.kind === 'patch'
          ? job.current.reduce((n, b) => n + b.byteLength, job.bytes.byteLength)
          : 'bytes' in job
            ? job.bytes.byteLength
            : 0;
    if (json && size <= inlineBytes) {
      return new Promise<T>((resolve, reject) =>
        settle(runJob({ ...job, id: 0 } as BodyJob, []), { resolve: resolve as (v: unknown) => void, reject }),
      );
    }
    const worker = this.#worker ?? this.#start();
    const id = this.#next++;
    return new Promise<T>((resolve, reject) => {
      this.#pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      worker.postMessage({ ...job, id } as BodyJob, transfer);
    });
  }

  /**
   * The single document of a YAML `text`; rejects with ParseError, or with the route's
   * validation error (an OutpostError, 400) when `check` names a validator that refuses it.
   */
  yaml(text: string, maxBytes: number, check?: YamlCheck): Promise<unknown> {
    return this.#run({ kind: 'yaml', text, maxBytes, check });
  }

  /** A ManifestWork body for `cluster` (and the name in the path), validated and prepared for the store. */
  work(
    body: RawBody,
    cluster: string,
    name: string | undefined,
    maxBytes: number,
  ): Promise<{ work: PreparedWork; resourceVersion: string | undefined }> {
    return this.#run(
      { kind: 'work', format: body.format, bytes: body.bytes, maxBytes, cluster, name },
      transferOf(body.bytes),
    );
  }

  /**
   * A ManifestWorkReplicaSet body (and the name in the path), validated (WORKSET_INVALID):
   * everything but the spec as objects, the spec as canonical JSON text (`specText`) and
   * without its template (`spec`, for the checks a route makes).
   */
  workset(body: RawBody, name: string | undefined, maxBytes: number): Promise<WorkSetBody> {
    return this.#run(
      { kind: 'workset', format: body.format, bytes: body.bytes, maxBytes, name },
      transferOf(body.bytes),
    );
  }

  /**
   * A PATCH (`body`, of patch type `type`) of the stored work or workset `current` (UTF-8
   * JSON of patch/ PatchTarget, in parts): the patched object validated and prepared as `work` and
   * `workset` prepare a PUT body, with the preconditions the patch stated.
   */
  patchWork(
    body: RawBody,
    type: PatchType,
    current: Uint8Array[],
    cluster: string,
    name: string,
    maxBytes: number,
  ): Promise<{ work: PreparedWork; preconditions: { resourceVersion?: unknown; uid?: unknown } }> {
    return this.#run(
      { kind: 'patch', target: 'work', format: body.format, type, bytes: body.bytes, current, cluster, name, maxBytes },
      [...transferOf(body.bytes), ...current.flatMap(transferOf)],
    );
  }

  patchWorkSet(
    body: RawBody,
    type: PatchType,
    current: Uint8Array[],
    name: string,
    maxBytes: number,
  ): Promise<WorkSetBody> {
    return this.#run(
      { kind: 'patch', target: 'workset', format: body.format, type, bytes: body.bytes, current, name, maxBytes },
      [...transferOf(body.bytes), ...current.flatMap(transferOf)],
    );
  }

  /** A workset's stored spec (UTF-8 JSON, in parts) paused or resumed, as the store writes it. */
  pause(spec: Uint8Array[], paused: boolean): Promise<WorkSetSpecText> {
    return this.#run({ kind: 'pause', spec, paused }, spec.flatMap(transferOf));
  }

  /** A workset's template (its stored spec, UTF-8 JSON) rendered for clusters: see worksets/render.ts. */
  render(name: string, spec: Uint8Array[], targets: RenderTarget[]): Promise<RenderOutput> {
    return this.#run({ kind: 'render', name, spec, targets }, spec.flatMap(transferOf));
  }

  /**
   * Every manifest of a file (YAML documents, or one JSON value; empty documents left out) as
   * JSON text with the line it starts on, or why the file cannot be read, or which document
   * is no manifest, and at which line (gitrepos/render.ts). `anyObject`: documents are not
   * checked to be manifests (a kustomization file, read before kustomize runs).
   */
  documents(
    format: 'json' | 'yaml',
    bytes: Uint8Array,
    maxBytes: number,
    anyObject = false,
  ): Promise<{ docs: { line: number; json: string }[] } | { error: { message: string; line?: number } }> {
    return this.#run({ kind: 'documents', format, bytes, maxBytes, anyObject }, transferOf(bytes));
  }

  /**
   * The identities (manifestKey) of a workset template's manifests, in order, from a spec as
   * the store keeps it (UTF-8 JSON in parts). The parts are copied, not handed over.
   */
  templateKeys(spec: Uint8Array[]): Promise<string[]> {
    return this.#run({ kind: 'template-keys', spec }, []);
  }

  /** A JSON answer (UTF-8) as YAML text (UTF-8): api/answer-format.ts. */
  answerYaml(json: Uint8Array): Promise<Uint8Array> {
    return this.#run({ kind: 'answer-yaml', bytes: json }, transferOf(json));
  }

  /** An agent's status batch, validated (STATUS_REPORT_INVALID) and made text. */
  status(body: RawBody): Promise<PreparedStatusBatch> {
    return this.#run({ kind: 'status', bytes: body.bytes }, transferOf(body.bytes));
  }

  async close(): Promise<void> {
    const w = this.#worker;
    this.#worker = undefined;
    if (w) await w.terminate();
  }
}
