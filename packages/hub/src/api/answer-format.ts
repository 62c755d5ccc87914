// Answers of /api/v1 in the format the client's Accept header asks for: JSON (the default,
// also for `*/*` or no Accept) or YAML (application/yaml, application/x-yaml, text/yaml),
// errors included; an Accept that allows neither is 406 NOT_ACCEPTABLE before the route runs.
// A large answer (a work may be 16 MiB, streamed from its stored texts) is read as it streams
// and made YAML on the body thread: the event loop never parses or writes it whole. Watch
// streams (application/json;stream=watch) are left as they are.
import { Readable } from 'node:stream';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { apiError } from '@outpost/shared';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { type BodyThread, writeYaml } from '../parse/index.ts';

declare module 'fastify' {
  interface FastifyRequest {
    /** The client asked for YAML (Accept): the answer is converted in onSend. */
    answerYaml: boolean;
  }
}

export type AnswerFormat = 'json' | 'yaml';

const yamlTypes = new Set(['application/yaml', 'application/x-yaml', 'text/yaml']);

/** JSON answers up to this size are made YAML in-process (well under a millisecond); larger
 *  ones on the body thread. */
const inlineBytes = 64 * 1024;

/**
 * The format an Accept header asks for (RFC 9110 section 12.5.1: the highest q wins; on a
 * tie JSON, the API's own), or undefined when it allows neither.
 */
export function answerFormat(accept: string | undefined): AnswerFormat | undefined {
  if (accept === undefined || accept.trim() === '') return 'json';
  let json = 0;
  let yaml = 0;
  for (const range of accept.split(',')) {
    const [type = '', ...params] = range.split(';').map((s) => s.trim().toLowerCase());
    const qParam = params.find((p) => p.startsWith('q='));
    const q = qParam === undefined ? 1 : Number(qParam.slice(2));
    if (!(q > 0)) continue;
    if (type === '*/*') {
      json = Math.max(json, q);
      yaml = Math.max(yaml, q);
    } else if (type === 'application/*') {
      json = Math.max(json, q);
      yaml = Math.max(yaml, q);
    } else if (type === 'text/*') yaml = Math.max(yaml, q);
    else if (type === 'application/json') json = Math.max(json, q);
    else if (yamlTypes.has(type)) yaml = Math.max(yaml, q);
  }
  if (json === 0 && yaml === 0) return undefined;
  return yaml > json ? 'yaml' : 'json';
}

const isJsonAnswer = (type: unknown) => {
  const t = String(type ?? '').toLowerCase();
  return t.startsWith('application/json') && !t.includes('stream=');
};

/** Bytes of a large YAML answer written per turn of the event loop. */
const partBytes = 1024 * 1024;

async function* inParts(bytes: Buffer) {
  for (let at = 0; at < bytes.length; at += partBytes) {
    if (at > 0) await nextTurn();
    yield bytes.subarray(at, at + partBytes);
  }
}

async function collect(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/** Registers Accept negotiation and the YAML conversion for the answers under `prefix`. */
export function answerFormats(app: FastifyInstance, bodies: BodyThread, prefix = '/api/'): void {
  app.decorateRequest('answerYaml', false);
  app.addHook('onRequest', async (req: FastifyRequest) => {
    if (!req.url.startsWith(prefix)) return;
    const format = answerFormat(req.headers.accept);
    if (format === undefined) {
      throw apiError(
        'NOT_ACCEPTABLE',
        'this API answers application/json or application/yaml (also application/x-yaml, text/yaml)',
      );
    }
    req.answerYaml = format === 'yaml';
  });
  app.addHook('onSend', async (req: FastifyRequest, reply: FastifyReply, payload: unknown) => {
    if (!req.answerYaml || !isJsonAnswer(reply.getHeader('content-type'))) return payload;
    // A stream is read as it comes (it lets the event loop go every megabyte, raw-json.ts).
    const bytes =
      payload instanceof Readable
        ? await collect(payload)
        : typeof payload === 'string'
          ? Buffer.from(payload)
          : Buffer.isBuffer(payload)
            ? payload
            : undefined;
    if (bytes === undefined) return payload;
    void reply.header('content-type', 'application/yaml; charset=utf-8');
    if (bytes.length <= inlineBytes) return writeYaml(JSON.parse(bytes.toString('utf8')));
    const yaml = await bodies.answerYaml(bytes);
    const out = Buffer.from(yaml.buffer, yaml.byteOffset, yaml.byteLength);
    // Written a part per turn: one write of 20 MiB is encrypted by TLS in one go.
    return out.length <= partBytes ? out : Readable.from(inParts(out), { objectMode: false });
  });
}
