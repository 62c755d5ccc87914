// YAML bodies are parsed on one worker thread, one at a time, so a large or hostile body
// costs the event loop nothing but the copy of the result. Started on first use; a crashed
// worker fails its pending parses and is replaced on the next one.
import { Worker } from 'node:worker_threads';
import { ParseError } from './errors.ts';
import type { YamlJob, YamlResult } from './yaml-worker.ts';

export class YamlThread {
  #worker: Worker | undefined;
  #next = 1;
  readonly #pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();

  #start(): Worker {
    const worker = new Worker(new URL('./yaml-worker.ts', import.meta.url));
    worker.unref();
    worker.on('message', (r: YamlResult) => {
      const p = this.#pending.get(r.id);
      if (!p) return;
      this.#pending.delete(r.id);
      if (r.ok) p.resolve(JSON.parse(r.json));
      else p.reject(new ParseError(r.code, r.message));
    });
    const fail = (err: Error) => {
      if (this.#worker === worker) this.#worker = undefined;
      for (const p of this.#pending.values()) p.reject(new ParseError('BODY_MALFORMED', `YAML: ${err.message}`));
      this.#pending.clear();
    };
    worker.on('error', fail);
    worker.on('exit', (code) => fail(new Error(`the parser stopped (exit ${code})`)));
    this.#worker = worker;
    return worker;
  }

  /** The single document of `text`; rejects with ParseError only. */
  parse(text: string, maxBytes: number): Promise<unknown> {
    const worker = this.#worker ?? this.#start();
    const id = this.#next++;
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve, reject });
      const job: YamlJob = { id, text, maxBytes };
      worker.postMessage(job);
    });
  }

  async close(): Promise<void> {
    const w = this.#worker;
    this.#worker = undefined;
    if (w) await w.terminate();
  }
}
