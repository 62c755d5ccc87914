// /api/v1/namespaces/{namespace}/gitrepos: GitRepo create, replace, patch, get, list (and
// watch), delete. The status is the GitRepo controller's (gitrepos/): every create, spec
// change and delete is told to it, which fetches and renders at once; DELETE removes the
// GitRepo, and its controller then deletes the worksets it made (their works with them).
import { apiError } from '@outpost/shared';
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import {
  type DeletionsConfirmed,
  deletionsConfirmedAnnotation,
  fileRepoProblem,
  type GitRepo,
  type GitRepoSpec,
  type GitRepoStatus,
  gitRepoApiVersion,
  publicSpec,
  type SecretBox,
  sealSpec,
  validateGitRepo,
} from '../gitrepos/index.ts';
import { applyPatch } from '../patch/index.ts';
import { validationError } from '../placement/index.ts';
import type { ObjectRow, ObjectWrite, Store } from '../store/index.ts';
import { bodyMeta, checkPreconditions, objectMetadata, onlyNamed, pageByName, writeNamespace } from './common.ts';
import { patchTypeOf } from './patch.ts';
import { listRoute, type Watches } from './watch/index.ts';

/** The GitRepo as the API shows it (an empty status until the controller wrote one; its
 *  secrets only as `{set: true}`: every answer, list and watch event is made here). */
export function gitRepoResource(row: ObjectRow): GitRepo {
  const status = (row.status as GitRepoStatus | null) ?? {
    observedGeneration: 0,
    conditions: [],
    paths: [],
    summary: { total: 0, applied: 0, available: 0, degraded: 0, progressing: 0 },
  };
  return {
    apiVersion: gitRepoApiVersion,
    kind: 'GitRepo',
    metadata: objectMetadata(row),
    spec: publicSpec(row.spec as unknown as GitRepoSpec),
    status,
  };
}

const toWrite = (g: GitRepo, namespace: string): ObjectWrite => ({
  name: g.metadata.name,
  namespace,
  labels: g.metadata.labels ?? {},
  annotations: g.metadata.annotations ?? {},
  spec: g.spec as unknown as Record<string, unknown>,
});

const collection = '/api/v1/namespaces/:namespace/gitrepos';

export const gitRepoRoutes: FastifyPluginAsync<{
  store: Store;
  watches: Watches;
  onGitRepoChanged?: ((namespace: string, name: string) => void) | undefined;
  /** Seals GitRepo secrets; absent: a GitRepo with credentials or a webhook is refused. */
  secrets?: SecretBox | undefined;
  /** Where file:// GitRepos may point (--git-file-root); absent: file:// is refused. */
  gitFileRoot?: string | undefined;
}> = async (app, { store, watches, onGitRepoChanged, secrets, gitFileRoot }) => {
  const changed = (row: { namespace: string; name: string }) => onGitRepoChanged?.(row.namespace, row.name);
  const find = async (params: { namespace: string; name: string }) => {
    const row = await store.gitrepos.get(params.namespace, params.name);
    if (!row) {
      throw apiError(
        'GITREPO_NOT_FOUND',
        `gitrepo ${JSON.stringify(`${params.namespace}/${params.name}`.slice(0, 200))} not found`,
      );
    }
    return row;
  };
  const validate = (body: unknown, pathName?: string) => {
    const v = validateGitRepo(body, pathName);
    if (!v.ok) throw validationError(v.error);
    const local = fileRepoProblem(v.value.spec.repo, gitFileRoot);
    if (local) {
      throw apiError('GITREPO_INVALID', `GitRepo is invalid: spec.repo: ${local}`, [
        { field: 'spec.repo', message: local },
      ]);
    }
    return v.value;
  };
  /** The GitRepo to store: its secrets sealed (or kept from `stored`). */
  const sealed = (g: GitRepo, namespace: string, stored?: ObjectRow): GitRepo => ({
    ...g,
    spec: sealSpec(g.spec, stored?.spec as GitRepoSpec | undefined, secrets, namespace, g.metadata.name),
  });
  const replace = async (existing: ObjectRow, given: GitRepo, meta: ReturnType<typeof bodyMeta>, at: string) => {
    checkPreconditions(meta, existing, `gitrepo ${existing.namespace}/${existing.name}`);
    const g = sealed(given, existing.namespace, existing);
    const r = (await store.gitrepos.replace(toWrite(g, existing.namespace), at)) as NonNullable<
      Awaited<ReturnType<Store['gitrepos']['replace']>>
    >;
    return { row: r.row, changed: r.changed };
  };
  const answer = (reply: FastifyReply, out: { row: ObjectRow; created: boolean; changed: boolean }) => {
    if (out.changed) changed(out.row);
    void reply.header('x-outpost-changed', String(out.changed));
    return reply.code(out.created ? 201 : 200).send(gitRepoResource(out.row));
  };

  app.post(collection, async (req: FastifyRequest, reply) => {
    const g = validate(req.body);
    const namespace = writeNamespace(g.metadata.namespace, (req.params as { namespace: string }).namespace);
    const row = await store.transaction(() =>
      store.gitrepos.create(toWrite(sealed(g, namespace), namespace), new Date().toISOString()),
    );
    if (!row) throw apiError('GITREPO_EXISTS', `gitrepo ${namespace}/${g.metadata.name} already exists`);
    return answer(reply, { row, created: true, changed: true });
  });

  // PUT creates or replaces (what `gitrepo apply` sends); with a resourceVersion it only
  // replaces, and only that version.
  app.put(`${collection}/:name`, async (req, reply) => {
    const params = req.params as { namespace: string; name: string };
    const g = validate(req.body, params.name);
    const namespace = writeNamespace(g.metadata.namespace, params.namespace);
    const out = await store.transaction(async () => {
      const at = new Date().toISOString();
      const existing = await store.gitrepos.get(namespace, params.name);
      if (!existing) {
        if (g.metadata.resourceVersion !== undefined) {
          throw apiError(
            'GITREPO_NOT_FOUND',
            `gitrepo ${namespace}/${params.name} does not exist (a resourceVersion was given)`,
          );
        }
        const row = (await store.gitrepos.create(toWrite(sealed(g, namespace), namespace), at)) as ObjectRow;
        return { row, created: true, changed: true };
      }
      return { ...(await replace(existing, g, bodyMeta(req.body), at)), created: false };
    });
    return answer(reply, out);
  });

  // PATCH: the stored GitRepo patched, validated and written as PUT writes, in one transaction.
  app.patch(`${collection}/:name`, async (req, reply) => {
    const type = patchTypeOf(req.headers['content-type']);
    const out = await store.transaction(async () => {
      const existing = await find(req.params as { namespace: string; name: string });
      const target = { apiVersion: gitRepoApiVersion, kind: 'GitRepo', metadata: objectMetadata(existing) };
      // Patched onto the shown spec, its secrets as `{set: true}` (kept unless the patch gives new ones).
      const shown = publicSpec(existing.spec as unknown as GitRepoSpec);
      if (shown.credentials) shown.credentials = { set: true };
      const patched = applyPatch({ ...target, spec: shown }, req.body, type);
      const g = validate(patched.object, existing.name);
      return { ...(await replace(existing, g, patched.preconditions, new Date().toISOString())), created: false };
    });
    return answer(reply, out);
  });

  app.get(`${collection}/:name`, async (req) =>
    gitRepoResource(await find(req.params as { namespace: string; name: string })),
  );
  // Without a namespace: the one GitRepo of that name (NAME_AMBIGUOUS when several
  // namespaces hold it), and lists of every namespace, as for Placements.
  app.get('/api/v1/gitrepos/:name', async (req) => {
    const { name } = req.params as { name: string };
    const row = onlyNamed(
      await store.gitrepos.named(name),
      `gitrepo ${name}`,
      `/api/v1/namespaces/NAMESPACE/gitrepos/${name}`,
      () => apiError('GITREPO_NOT_FOUND', `gitrepo ${JSON.stringify(name.slice(0, 200))} not found`),
    );
    return gitRepoResource(row);
  });

  for (const base of ['/api/v1/gitrepos', collection])
    listRoute(app, store, watches, base, {
      resource: 'gitrepos',
      kind: 'GitRepoList',
      scope: (req) => (req.params as { namespace?: string }).namespace,
      list: async (namespace, q) => {
        const { items, next } = await pageByName(
          (after, limit) => store.gitrepos.page(after, limit, namespace),
          q,
          namespace,
        );
        return { items: items.map(gitRepoResource), next };
      },
      get: async (namespace, name) => {
        const row = await store.gitrepos.get(namespace, name);
        return row && { uid: row.uid, object: gitRepoResource(row) };
      },
    });

  app.delete(`${collection}/:name`, async (req) => {
    const row = await store.transaction(async () => {
      const row = await find(req.params as { namespace: string; name: string });
      await store.gitrepos.delete(row.namespace, row.name);
      return row;
    });
    changed(row);
    return gitRepoResource(row);
  });

  // The deletion breaker (gitrepos/breaker.ts) holds a commit of some paths: an admin looked
  // and confirms it. Recorded as the annotation outpost.dev/deletions-confirmed (the commit),
  // which the controller reads; a newer commit is held again. `{commit}` in the body, when
  // given, must be the one held: what the admin looked at is what rolls out.
  app.post(`${collection}/:name/confirm-deletions`, async (req) => {
    const body = req.body ?? {};
    if (typeof body !== 'object' || Array.isArray(body)) {
      throw apiError('GITREPO_INVALID', 'the body must be empty or {"commit": COMMIT}');
    }
    const asked = (body as { commit?: unknown }).commit;
    const unknown = Object.keys(body).filter((k) => k !== 'commit');
    if (unknown.length || (asked !== undefined && (typeof asked !== 'string' || !/^[0-9a-f]{4,64}$/.test(asked)))) {
      throw apiError('GITREPO_INVALID', 'the body must be empty or {"commit": COMMIT} (a commit id, or its start)');
    }
    const row = await store.transaction(async () => {
      const existing = await find(req.params as { namespace: string; name: string });
      const what = `gitrepo ${existing.namespace}/${existing.name}`;
      const held = ((existing.status as GitRepoStatus | null)?.paths ?? []).flatMap((p) =>
        p.held ? [{ path: p.path, ...p.held }] : [],
      );
      const commit = held[0]?.commit;
      if (!commit) throw apiError('GITREPO_NOTHING_HELD', `${what}: the deletion breaker holds no commit`);
      if (asked !== undefined && !commit.startsWith(asked)) {
        throw apiError(
          'GITREPO_HELD_COMMIT_CHANGED',
          `${what}: the commit held is ${commit}, not ${asked}; look at its status again`,
          { held: commit },
        );
      }
      // The stored row as it is (its spec with the secrets sealed), the annotation added.
      const write: ObjectWrite = {
        name: existing.name,
        namespace: existing.namespace,
        labels: existing.labels,
        annotations: {
          ...existing.annotations,
          // Exactly the deletions shown, per path: other deletions are held again.
          [deletionsConfirmedAnnotation]: JSON.stringify({
            commit,
            paths: Object.fromEntries(held.filter((h) => h.commit === commit).map((h) => [h.path, h.digest])),
          } satisfies DeletionsConfirmed),
        },
        spec: existing.spec,
      };
      const r = await store.gitrepos.replace(write, new Date().toISOString());
      return r?.row ?? existing;
    });
    changed(row);
    return gitRepoResource(row);
  });
};
