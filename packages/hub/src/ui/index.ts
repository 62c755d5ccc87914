// /ui/: the fleet dashboard, served by the hub on its own listener. The files in the package's
// ui/ folder are read once when the hub starts (no build step, nothing fetched at run time),
// one level deep, and answered with headers that forbid inline script and style, framing,
// and the leaking of URLs. The dashboard reads the public API (/api/v1) with the session
// cookie (auth/sessions.ts); nothing here reads the store.
import { readdirSync, readFileSync } from 'node:fs';
import { extname, join, resolve } from 'node:path';
import type { FastifyPluginAsync, FastifyReply } from 'fastify';

/** The package's ui/ folder. */
export const uiDir = resolve(import.meta.dirname, '../../ui');

export const securityHeaders = {
  'content-security-policy':
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
  'x-frame-options': 'DENY',
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
} as const;

const types: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
};

interface Asset {
  type: string;
  body: Buffer;
}

/** The dashboard's files by name, read now. Files of another type are not served. */
export function readAssets(dir: string): Map<string, Asset> {
  const out = new Map<string, Asset>();
  for (const name of readdirSync(dir)) {
    const type = types[extname(name)];
    if (type) out.set(name, { type, body: readFileSync(join(dir, name)) });
  }
  return out;
}

export const uiRoutes: FastifyPluginAsync<{ dir?: string }> = async (app, opts) => {
  const assets = readAssets(opts.dir ?? uiDir);
  const send = (reply: FastifyReply, status: number, type: string, body: Buffer | string) =>
    reply
      .status(status)
      .headers(securityHeaders)
      // The files change only with the hub: revalidation is cheap, a stale page after an
      // upgrade is not.
      .header('cache-control', 'no-cache')
      .type(type)
      .send(body);
  const missing = (reply: FastifyReply, what: string) =>
    send(reply, 404, 'application/json; charset=utf-8', JSON.stringify({ code: 'NOT_FOUND', message: what }));
  const index = assets.get('index.html');
  app.get('/ui', async (_req, reply) => reply.headers(securityHeaders).redirect('/ui/', 302));
  app.get('/ui/', async (_req, reply) =>
    index ? send(reply, 200, index.type, index.body) : missing(reply, 'this hub was built without the dashboard'),
  );
  app.get('/ui/:file', async (req, reply) => {
    const a = assets.get((req.params as { file: string }).file);
    return a ? send(reply, 200, a.type, a.body) : missing(reply, 'no such file of the dashboard');
  });
};
