// GET /openapi.json of a real `outpost-hub serve`: a valid OpenAPI 3.1 document (checked by a
// maintained validator), served without credentials, that describes every route the hub
// registers with every method, and nothing it does not; and docs/api.md is the document as
// scripts/api-docs renders it now.
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Validator } from '@seriousme/openapi-schema-validator';
import pino from 'pino';
import { apiMarkdown } from '../../packages/hub/src/api/openapi/markdown.ts';
import { buildApp } from '../../packages/hub/src/app.ts';
import { openStore } from '../../packages/hub/src/store/index.ts';
import { anonymousClient, type HubClient } from './hub-client.ts';
import { type HubProcess, repoRoot, startHub } from './hub-process.ts';

interface Document {
  openapi: string;
  paths: Record<string, Record<string, { security?: unknown[]; responses: Record<string, unknown> }>>;
}

/**
 * Every method and path fastify holds, read from app.printRoutes() (its radix tree: a line's
 * path continues its parent's), in OpenAPI's form, parameters unnamed: the tree joins routes
 * whose parameters differ only in name (`/:name|:cluster`). HEAD, which fastify adds to every
 * GET, is left out.
 */
async function registeredRoutes(): Promise<Set<string>> {
  const store = openStore(':memory:');
  // Only the routes are read: the services behind them are never called.
  const app = await buildApp({
    log: pino({ level: 'silent' }),
    store,
    trust: {} as never,
    sync: {} as never,
    placements: {} as never,
    version: 'test',
  });
  try {
    await app.ready();
    const routes = new Set<string>();
    const stack: string[] = [];
    for (const line of app.printRoutes({ commonPrefix: false }).split('\n')) {
      const m = /^([│ ]*)[├└]── (\S+)(?: \(([^)]*)\))?$/.exec(line);
      if (!m) continue;
      const depth = (m[1] as string).length / 4;
      stack.length = depth;
      stack.push(m[2] as string);
      if (!m[3]) continue;
      const path = stack.join('').replace(/:[A-Za-z]+(\|:[A-Za-z]+)*/g, '{}');
      for (const method of (m[3] as string).split(', ')) if (method !== 'HEAD') routes.add(`${method} ${path}`);
    }
    return routes;
  } finally {
    await app.close();
    await store.close();
  }
}

describe('OpenAPI document', { timeout: 120_000 }, () => {
  let hub: HubProcess;
  let anon: HubClient;
  let doc: Document;

  before(async () => {
    hub = await startHub();
    anon = anonymousClient(hub);
    const res = await anon.get<Document>('/openapi.json');
    assert.equal(res.status, 200, res.text);
    assert.match(String(res.headers['content-type']), /^application\/json/);
    doc = res.body;
  });

  after(async () => {
    await anon?.close();
    await hub?.stop();
  });

  test('is a valid OpenAPI 3.1 document, served without credentials', async () => {
    assert.equal(doc.openapi, '3.1.0');
    const validator = new Validator();
    const res = await validator.validate(structuredClone(doc) as unknown as Parameters<Validator['validate']>[0]);
    assert.ok(res.valid, JSON.stringify(res.errors, null, 2)?.slice(0, 4000));
  });

  test('describes every route the hub registers with every method, and nothing else', async () => {
    const described = new Set<string>();
    for (const [path, item] of Object.entries(doc.paths)) {
      for (const method of Object.keys(item))
        described.add(`${method.toUpperCase()} ${path.replace(/\{[^}]+\}/g, '{}')}`);
    }
    const registered = await registeredRoutes();
    assert.ok(registered.size > 50, `${registered.size} routes read from fastify`);
    assert.deepEqual([...registered].filter((r) => !described.has(r)).sort(), [], 'registered but not described');
    assert.deepEqual([...described].filter((r) => !registered.has(r)).sort(), [], 'described but not registered');
  });

  test('admin routes need a bearer token or the session cookie, agent routes the client certificate; errors share one shape', () => {
    for (const [path, item] of Object.entries(doc.paths)) {
      for (const [method, op] of Object.entries(item)) {
        const schemes = (op.security ?? []).flatMap((s) => Object.keys(s as object));
        // The dashboard's login takes the token, its session calls the cookie; a GitRepo's
        // push webhook neither (its body is signed with the GitRepo's secret); the rest either.
        const credentials =
          path === '/api/v1/sessions'
            ? ['bearerAuth']
            : path === '/api/v1/sessions/current'
              ? ['sessionCookie']
              : path === '/api/v1/namespaces/{namespace}/gitrepos/{name}/webhook'
                ? []
                : ['bearerAuth', 'sessionCookie'];
        if (path.startsWith('/api/')) assert.deepEqual(schemes, credentials, `${method} ${path}`);
        else if (path.startsWith('/agent/v1/clusters/')) assert.deepEqual(schemes, ['agentMtls'], `${method} ${path}`);
        for (const [status, answer] of Object.entries(op.responses)) {
          if (Number(status) >= 400) {
            assert.match(
              JSON.stringify(answer),
              /#\/components\/(responses\/(Json)?Error|schemas\/Error)/,
              `${method} ${path} ${status}`,
            );
          }
        }
      }
    }
  });

  test('docs/api.md is the document as scripts/api-docs renders it (run it after changing the API)', async () => {
    const onDisk = await readFile(join(repoRoot, 'docs/api.md'), 'utf8');
    assert.equal(onDisk, apiMarkdown(doc as never), 'docs/api.md is out of date: run scripts/api-docs');
  });
});
