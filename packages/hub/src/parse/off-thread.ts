// YAML bodies are parsed on one worker thread, one at a time, so a large or hostile body
// costs the event loop nothing but reading the result (JSON.parse, one result per turn).
// Started on first use; a crashed worker fails the parses it had not answered and is
// replaced on the next one.
import { Worker } from 'node:worker_threads';
import { OutpostError } from '@outpost/shared';
import { ParseError } from './errors.ts';
import type { YamlCheck, YamlJob, YamlResult } from './yaml-worker.ts';

export class YamlThread {
  #worker: Worker | undefined;
  #next = 1;
  readonly #pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  /** Results not yet taken: each one's JSON.parse (up to tens of ms for a body of 40,000 keys)
   *  gets a turn of the event loop of its own, so two never delay timers and I/O together. */
  readonly #results: YamlResult[] = [];

  #takeResult(): void {
    const r = this.#results.shift();
    if (this.#results.length > 0) setImmediate(() => this.#takeResult());
    const p = r && this.#pending.get(r.id);
    if (!r || !p) return;
    this.#pending.delete(r.id);
    if (!r.ok) {
      p.reject(
        'invalid' in r
          ? new OutpostError(r.invalid.code, r.invalid.message, 400, r.invalid.details)
          : new ParseError(r.code, r.message),
      );
      return;
    }
    try {
      p.resolve(JSON.parse(r.json));
    } catch (err) {
      p.reject(new ParseError('BODY_MALFORMED', `YAML: ${(err as Error).message}`));
    }
  }

  #start(): Worker {
    const worker = new Worker(new URL('./yaml-worker.ts', import.meta.url));
    worker.unref();
    worker.on('message', (r: YamlResult) => {
      this.#results.push(r);
      if (this.#results.length === 1) setImmediate(() => this.#takeResult());
    });
    const fail = (err: Error) => {
      if (this.#worker === worker) this.#worker = undefined;
      // What the worker finished before it stopped is still answered (in later turns, as
      // always); only the parses it never answered fail.
      const answered = new Set(this.#results.map((r) => r.id));
      for (const [id, p] of this.#pending) {
        if (answered.has(id)) continue;
        p.reject(new ParseError('BODY_MALFORMED', `YAML: ${err.message}`));
        this.#pending.delete(id);
      }
    };
    worker.on('error', fail);
    worker.on('exit', (code) => fail(new Error(`the parser stopped (exit ${code})`)));
    this.#worker = worker;
    return worker;
  }

  /**
   * The single document of `text`; rejects with ParseError, or with the route's validation
   * error (an OutpostError, 400) when `check` names a validator that refuses the document.
   */
  parse(text: string, maxBytes: number, check?: YamlCheck): Promise<unknown> {
    const worker = this.#worker ?? this.#start();
    const id = this.#next++;
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve, reject });
      const job: YamlJob = { id, text, maxBytes, check };
      worker.postMessage(job);
    });
  }

  async close(): Promise<void> {
    const w = this.#worker;
    this.#worker = undefined;
    if (w) await w.terminate();
  }
}
