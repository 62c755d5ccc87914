// The objects `apply -f` and `delete -f` take, one row per kind, shared by the top-level
// verbs (`outpost-hub apply -f`, routed by each document's kind, as kubectl does) and each
// noun's own (`work apply`, `placement apply`, `workset apply`: that kind only). A new kind is
// a row here. OCM kinds Outpost does not hold are refused by name, never sent anywhere.

import { readFileSync } from 'node:fs';
import type { parseArgs } from 'node:util';
import { limits, OutpostError } from '@outpost/shared';
import { ConfigError } from '../config/index.ts';
import { ParseError, parseYaml } from '../parse/index.ts';
import type { HubClient } from './client.ts';
import { type Format, render } from './output.ts';
import {
  bindingTable,
  clusterSetTable,
  describeBinding,
  describeClusterSet,
  describeGitRepo,
  describePlacement,
  describeWork,
  describeWorkSet,
  gitRepoTable,
  placementTable,
  workSetTable,
  workTable,
} from './views.ts';
import { listAndWatch } from './watch.ts';
import { readWorkDocuments, type WorkDocument } from './work-files.ts';

const enc = encodeURIComponent;

/** The API path of a namespaced document's namespace: its metadata.namespace, else default
 *  (kubectl's default). */
function namespacePath(doc: Record<string, unknown>): string {
  const ns = (doc.metadata as { namespace?: unknown } | undefined)?.namespace;
  return `/api/v1/namespaces/${enc(typeof ns === 'string' && ns ? ns : 'default')}`;
}

export interface ObjectKind {
  kind: string;
  /** The CLI noun of the kind (`outpost-hub NOUN …`). */
  noun: string;
  /** How results name it (kubectl's lower-case kind). */
  shown: string;
  /**
   * Where objects of the kind live, which says the flag of its `get`, `list` and `delete`: in a
   * cluster (`--cluster`; works), a namespace (`-n`; without it, the one object of that name
   * in any namespace) or neither.
   */
  scope: 'cluster' | 'namespace' | 'global';
  /** The API collection: `/api/v1/PLURAL`, `/api/v1/namespaces/NS/PLURAL`, `/api/v1/clusters/C/PLURAL`. */
  plural: string;
  /** The kind of the list `list -o json|yaml` prints. */
  listKind: string;
  /** What the noun's verbs say in `--help`. */
  summaries: { apply: string; get: string; list: string; delete: string };
  /** `get`: what a person needs about one object, as `kubectl describe` shows it. */
  describe(obj: never): string;
  /** `list`: one row per object. */
  table(items: never[]): string;
  /** The object's API path and how results name it, or why the document cannot say them. */
  path(
    name: string,
    doc: Record<string, unknown>,
    flags: ObjectFlags,
  ): { path: string; shown: string } | { error: string };
  /** The answer header that says whether a replace changed anything. */
  changedHeader: string;
  /** What `delete` says it did (works are deleted by their agent). */
  deleted: string;
  /** The hub's code for "no such object" (`delete --ignore-not-found` passes over it only). */
  notFound: string;
}

export interface ObjectFlags {
  /** `--cluster`: the cluster of ManifestWorks whose metadata.namespace does not say it. */
  cluster?: string | undefined;
}

export const objectKinds: ObjectKind[] = [
  {
    kind: 'ManifestWork',
    noun: 'work',
    shown: 'manifestwork',
    scope: 'cluster',
    plural: 'works',
    listKind: 'ManifestWorkList',
    summaries: {
      apply: 'create or update ManifestWorks from YAML/JSON (multi-document; OCM YAML accepted)',
      get: 'show one ManifestWork with its manifests and status',
      list: 'list ManifestWorks of one cluster or of the fleet',
      delete: "delete a ManifestWork; the agent removes its objects under the work's delete policy",
    },
    describe: describeWork,
    table: workTable,
    path(name, doc, flags) {
      // OCM puts a ManifestWork in its cluster's namespace.
      const ns = (doc.metadata as { namespace?: unknown } | undefined)?.namespace;
      const cluster = flags.cluster ?? ns;
      if (typeof cluster !== 'string' || !cluster)
        return { error: 'no cluster: set metadata.namespace or pass --cluster' };
      return { path: `/api/v1/clusters/${enc(cluster)}/works/${enc(name)}`, shown: `${cluster}/${name}` };
    },
    changedHeader: 'x-outpost-work-changed',
    deleted: 'deletion requested',
    notFound: 'WORK_NOT_FOUND',
  },
  {
    kind: 'Placement',
    noun: 'placement',
    shown: 'placement',
    scope: 'namespace',
    plural: 'placements',
    listKind: 'PlacementList',
    summaries: {
      apply: 'create or update Placements from YAML/JSON (multi-document; OCM v1beta1 YAML accepted)',
      get: 'show one Placement with its decisions',
      list: 'list Placements with how many clusters each selected',
      delete: 'delete a Placement (worksets that use it hand nothing new out through it and keep their works)',
    },
    describe: describePlacement,
    table: placementTable,
    path: (name, doc) => ({ path: `${namespacePath(doc)}/placements/${enc(name)}`, shown: name }),
    changedHeader: 'x-outpost-changed',
    deleted: 'deleted',
    notFound: 'PLACEMENT_NOT_FOUND',
  },
  {
    kind: 'ManifestWorkReplicaSet',
    noun: 'workset',
    shown: 'manifestworkreplicaset',
    scope: 'namespace',
    plural: 'manifestworkreplicasets',
    listKind: 'ManifestWorkReplicaSetList',
    summaries: {
      apply: 'create or update ManifestWorkReplicaSets from YAML/JSON (multi-document; OCM v1alpha1 YAML accepted)',
      get: 'show one ManifestWorkReplicaSet',
      list: 'list ManifestWorkReplicaSets',
      delete: 'delete a ManifestWorkReplicaSet',
    },
    describe: describeWorkSet,
    table: workSetTable,
    path: (name, doc) => ({ path: `${namespacePath(doc)}/manifestworkreplicasets/${enc(name)}`, shown: name }),
    changedHeader: 'x-outpost-changed',
    deleted: 'deleted',
    notFound: 'WORKSET_NOT_FOUND',
  },
  {
    kind: 'GitRepo',
    noun: 'gitrepo',
    shown: 'gitrepo',
    scope: 'namespace',
    plural: 'gitrepos',
    listKind: 'GitRepoList',
    summaries: {
      apply: 'create or update GitRepos from YAML/JSON: a Git repository whose paths roll out through a placement',
      get: 'show one GitRepo: its repository, paths, the commit fetched and each path’s rollout',
      list: 'list GitRepos with the commit each last fetched',
      delete: 'delete a GitRepo and the worksets it made (their objects are deleted from the clusters)',
    },
    describe: describeGitRepo,
    table: gitRepoTable,
    path: (name, doc) => ({ path: `${namespacePath(doc)}/gitrepos/${enc(name)}`, shown: name }),
    changedHeader: 'x-outpost-changed',
    deleted: 'deleted',
    notFound: 'GITREPO_NOT_FOUND',
  },
  {
    kind: 'ManagedClusterSet',
    noun: 'clusterset',
    shown: 'managedclusterset',
    scope: 'global',
    plural: 'managedclustersets',
    listKind: 'ManagedClusterSetList',
    summaries: {
      apply: "create or update ManagedClusterSets from YAML/JSON (OCM's v1beta2 or v1beta1 YAML as is)",
      get: 'show one ManagedClusterSet: how it selects its clusters and how many it holds',
      list: 'list ManagedClusterSets (default and global always exist) with their member counts',
      delete: 'delete a ManagedClusterSet (placements that name it select none of its clusters from then on)',
    },
    describe: describeClusterSet,
    table: clusterSetTable,
    path: (name) => ({ path: `/api/v1/managedclustersets/${enc(name)}`, shown: name }),
    changedHeader: 'x-outpost-changed',
    deleted: 'deleted',
    notFound: 'CLUSTER_SET_NOT_FOUND',
  },
  {
    kind: 'ManagedClusterSetBinding',
    noun: 'clustersetbinding',
    shown: 'managedclustersetbinding',
    scope: 'namespace',
    plural: 'managedclustersetbindings',
    listKind: 'ManagedClusterSetBindingList',
    summaries: {
      apply: "create or update ManagedClusterSetBindings (OCM's YAML as is; no metadata.namespace means default)",
      get: 'show one ManagedClusterSetBinding and whether its set exists',
      list: 'list ManagedClusterSetBindings',
      delete: "delete a binding: that namespace's placements stop selecting from the set",
    },
    describe: describeBinding,
    table: bindingTable,
    path(name, doc) {
      // kubectl's default namespace when the document names none.
      const ns = (doc.metadata as { namespace?: unknown } | undefined)?.namespace;
      const namespace = typeof ns === 'string' && ns ? ns : 'default';
      return {
        path: `/api/v1/namespaces/${enc(namespace)}/managedclustersetbindings/${enc(name)}`,
        shown: `${namespace}/${name}`,
      };
    },
    changedHeader: 'x-outpost-changed',
    deleted: 'deleted',
    notFound: 'CLUSTER_SET_BINDING_NOT_FOUND',
  },
];

/** OCM kinds a user may well apply that Outpost does not keep, and what to do instead. */
const notKept: Record<string, string> = {
  ManagedCluster: 'clusters join with `outpost-agent join`; label them with `outpost-hub cluster label`',
  PlacementDecision: 'decisions are made by the hub: read them with `outpost-hub placement get`',
  AddOnPlacementScore: 'Outpost has no add-on scores: use the built-in prioritizers',
  ClusterClaim: 'ClusterClaims live on the managed cluster, where the agent reads them',
};

interface Ctx {
  client: HubClient;
  format: Format;
  flags: Record<string, string | boolean | string[] | undefined>;
  out(text: string): void;
}

/** The kind row of a document, or why it has none. `only` is the noun's own kind. */
function kindOf(doc: Record<string, unknown>, only: ObjectKind | undefined): ObjectKind | { error: string } {
  const kind = doc.kind;
  // A noun's own apply takes documents without a kind as its kind.
  if (kind === undefined && only) return only;
  if (typeof kind !== 'string' || !kind)
    return { error: 'kind is missing (apply -f routes each document by its kind)' };
  const row = objectKinds.find((k) => k.kind === kind);
  if (!row) {
    const why = notKept[kind];
    const known = objectKinds.map((k) => k.kind).join(', ');
    return { error: `kind ${kind} is not supported${why ? `: ${why}` : ''} (supported: ${known})` };
  }
  if (only && row !== only) {
    return { error: `a ${kind} given to \`${only.noun}\`: use \`outpost-hub apply -f\` or \`${row.noun} apply\`` };
  }
  return row;
}

/**
 * `apply -f` and `delete -f`: every document of every file is tried, like kubectl; failures
 * are listed and make the exit code 1. Documents go in the order given (a Placement before
 * the workset that names it, as one writes them).
 */
export async function eachObject(
  ctx: Ctx,
  verb: 'apply' | 'delete',
  only: ObjectKind | undefined,
  what: string,
): Promise<void> {
  const files = (ctx.flags.filename as string[] | undefined) ?? [];
  if (files.length === 0) throw new ConfigError(`${what} needs -f FILE, -f DIR or -f -`);
  const docs: WorkDocument[] = files.flatMap((f) => readWorkDocuments(f, () => readFileSync(0, 'utf8')));
  const flags: ObjectFlags = { cluster: ctx.flags.cluster as string | undefined };
  const results: unknown[] = [];
  const failures: string[] = [];
  for (const { source, doc } of docs) {
    const row = kindOf(doc, only);
    if ('error' in row) {
      failures.push(`${source}: ${row.error}`);
      continue;
    }
    const name = (doc.metadata as { name?: unknown } | undefined)?.name;
    if (typeof name !== 'string' || !name) {
      failures.push(`${source}: metadata.name is missing`);
      continue;
    }
    const at = row.path(name, doc, flags);
    if ('error' in at) {
      failures.push(`${source} (${name}): ${at.error}`);
      continue;
    }
    const { path, shown: shownName } = at;
    try {
      if (verb === 'apply') {
        const res = await ctx.client.callWithHeaders<unknown>('PUT', path, doc);
        results.push(res.body);
        const did =
          res.status === 201 ? 'created' : res.headers[row.changedHeader] === 'true' ? 'configured' : 'unchanged';
        if (ctx.format === 'table') ctx.out(`${row.shown} ${shownName} ${did}\n`);
      } else {
        const res = await ctx.client.call<unknown>('DELETE', path);
        results.push(res);
        if (ctx.format === 'table') ctx.out(`${row.shown} ${shownName} ${row.deleted}\n`);
      }
    } catch (err) {
      if (!(err instanceof OutpostError) || err.code === 'CLI_HUB_UNREACHABLE') throw err;
      // The object alone: a cluster that does not exist, or a route the hub lacks, still fails.
      if (verb === 'delete' && ctx.flags['ignore-not-found'] && err.code === row.notFound) continue;
      failures.push(`${source} (${shownName}): ${err.message} (${err.code})`);
    }
  }
  if (failures.length) {
    throw new OutpostError(
      'CLI_APPLY_FAILED',
      `${failures.length} of ${docs.length} document(s) failed:\n  ${failures.join('\n  ')}`,
      1,
    );
  }
  if (ctx.format !== 'table') {
    ctx.out(render(ctx.format, results.length === 1 ? results[0] : { items: results }, () => ''));
  }
}

/** The row of a noun (`work`, `placement`, `workset`). */
export function kindOfNoun(noun: string): ObjectKind {
  const row = objectKinds.find((k) => k.noun === noun);
  if (!row) throw new Error(`no object kind for ${noun}`);
  return row;
}

type Options = NonNullable<Parameters<typeof parseArgs>[0]>['options'];

/** A verb of a noun, as cli/admin.ts runs it. */
export interface ObjectCommand {
  usage: string;
  summary: string;
  options?: Options;
  args?: { min: number; max?: number };
  run(ctx: Ctx & { args: string[] }): Promise<void>;
}

/** The flag of a kind's scope, how its usage shows it, and the path it makes. */
function scopeOf(row: ObjectKind): {
  options: Options;
  one: string;
  many: string;
  /** `get` may find the object in any namespace; `delete` (`writes`) names one, as kubectl. */
  item(ctx: Ctx, name: string, writes?: boolean): { path: string; shown: string };
  list(ctx: Ctx): string;
} {
  const flag = (ctx: Ctx, key: string) => {
    const v = ctx.flags[key];
    return typeof v === 'string' && v ? v : undefined;
  };
  if (row.scope === 'cluster') {
    return {
      options: { cluster: { type: 'string' } },
      one: ' --cluster CLUSTER',
      many: ' [--cluster CLUSTER]',
      item(ctx, name) {
        const cluster = flag(ctx, 'cluster');
        if (!cluster) throw new ConfigError('this command needs --cluster NAME');
        return { path: `/api/v1/clusters/${enc(cluster)}/${row.plural}/${enc(name)}`, shown: `${cluster}/${name}` };
      },
      list: (ctx) => {
        const cluster = flag(ctx, 'cluster');
        return cluster ? `/api/v1/clusters/${enc(cluster)}/${row.plural}` : `/api/v1/${row.plural}`;
      },
    };
  }
  if (row.scope === 'namespace') {
    // Without -n: `get` takes the one object of that name in any namespace (the hub says
    // NAME_AMBIGUOUS when several hold it), `list` every namespace, and `delete` the
    // namespace default, as kubectl does: a delete never lands in a namespace nobody named.
    const base = (ctx: Ctx, writes = false) => {
      const ns = flag(ctx, 'namespace') ?? (writes ? 'default' : undefined);
      return ns ? `/api/v1/namespaces/${enc(ns)}/${row.plural}` : `/api/v1/${row.plural}`;
    };
    return {
      options: { namespace: { type: 'string', short: 'n' } },
      one: ' [-n NAMESPACE]',
      many: ' [-n NAMESPACE]',
      item: (ctx, name, writes) => ({ path: `${base(ctx, writes)}/${enc(name)}`, shown: name }),
      list: (ctx) => base(ctx),
    };
  }
  return {
    options: {},
    one: '',
    many: '',
    item: (_ctx, name) => ({ path: `/api/v1/${row.plural}/${enc(name)}`, shown: name }),
    list: () => `/api/v1/${row.plural}`,
  };
}

/** The -p of `patch`: JSON or YAML text (YAML reads JSON too). */
function readPatch(text: string): unknown {
  try {
    return parseYaml(text, { maxBytes: limits.bodyBytes });
  } catch (err) {
    if (err instanceof ParseError) throw new OutpostError('CLI_FILE_INVALID', `-p: ${err.message} (${err.code})`, 2);
    throw err;
  }
}

/** Every page of a list, with -l as the labelSelector. */
export async function listAll<T>(ctx: Ctx, path: string): Promise<T[]> {
  const items: T[] = [];
  let cont = '';
  do {
    const q = new URLSearchParams({ limit: '500' });
    if (cont) q.set('continue', cont);
    if (ctx.flags.selector) q.set('labelSelector', ctx.flags.selector as string);
    const page = await ctx.client.call<{ items: T[]; metadata: { continue?: string } }>('GET', `${path}?${q}`);
    items.push(...page.items);
    cont = page.metadata.continue ?? '';
  } while (cont);
  return items;
}

/** A kind's `apply`, `get`, `list`, `patch` and `delete`, made from its row. */
export function objectVerbs(row: ObjectKind): Record<string, ObjectCommand> {
  const scope = scopeOf(row);
  const { noun } = row;
  const scopeList = row.scope === 'namespace' ? ' (of every namespace unless -n names one)' : '';
  return {
    apply: {
      usage: `${noun} apply -f FILE|DIR|-${row.scope === 'cluster' ? ' [--cluster NAME]' : ''}`,
      summary: row.summaries.apply,
      options: {
        filename: { type: 'string', short: 'f', multiple: true },
        ...(row.scope === 'cluster' ? { cluster: { type: 'string' } } : {}),
      },
      run: (ctx) => eachObject(ctx, 'apply', row, `${noun} apply`),
    },
    get: {
      usage: `${noun} get NAME${scope.one}`,
      summary: row.summaries.get,
      options: scope.options,
      args: { min: 1, max: 1 },
      async run(ctx) {
        const obj = await ctx.client.call<never>('GET', scope.item(ctx, ctx.args[0] as string).path);
        ctx.out(render(ctx.format, obj, () => row.describe(obj)));
      },
    },
    list: {
      usage: `${noun} list${scope.many} [-l SELECTOR] [-w]`,
      summary: `${row.summaries.list}${scopeList}; -w then prints each change as it happens (Ctrl-C ends)`,
      options: { ...scope.options, selector: { type: 'string', short: 'l' }, watch: { type: 'boolean', short: 'w' } },
      async run(ctx) {
        if (ctx.flags.watch) await listAndWatch<never>(ctx, scope.list(ctx), row.table);
        const items = await listAll<never>(ctx, scope.list(ctx));
        const list = { apiVersion: 'outpost.dev/v1alpha1', kind: row.listKind, items };
        ctx.out(render(ctx.format, list, () => row.table(items)));
      },
    },
    patch: {
      usage: `${noun} patch NAME${scope.one} -p PATCH [--type merge|json]`,
      summary: `change fields of one ${row.kind} without sending it whole: a JSON merge patch (default; JSON or YAML) or a JSON patch (--type json)`,
      options: { ...scope.options, patch: { type: 'string', short: 'p' }, type: { type: 'string' } },
      args: { min: 1, max: 1 },
      async run(ctx) {
        const text = ctx.flags.patch;
        if (typeof text !== 'string' || !text) throw new ConfigError(`${noun} patch needs -p PATCH`);
        const type = ctx.flags.type ?? 'merge';
        if (type !== 'merge' && type !== 'json') throw new ConfigError('--type must be merge or json');
        const patch = readPatch(text);
        const { path, shown } = scope.item(ctx, ctx.args[0] as string, true);
        const contentType = type === 'json' ? 'application/json-patch+json' : 'application/merge-patch+json';
        const res = await ctx.client.callWithHeaders<unknown>('PATCH', path, patch, contentType);
        const did = res.headers[row.changedHeader] === 'false' ? 'unchanged' : 'patched';
        ctx.out(render(ctx.format, res.body, () => `${row.shown} ${shown} ${did}\n`));
      },
    },
    delete: {
      usage: `${noun} delete NAME${scope.one}`,
      summary: `${row.summaries.delete}${row.scope === 'namespace' ? ' (in namespace default unless -n names one)' : ''}`,
      options: scope.options,
      args: { min: 1, max: 1 },
      async run(ctx) {
        const { path, shown } = scope.item(ctx, ctx.args[0] as string, true);
        const obj = await ctx.client.call<unknown>('DELETE', path);
        ctx.out(render(ctx.format, obj, () => `${row.shown} ${shown} ${row.deleted}\n`));
      },
    },
  };
}
