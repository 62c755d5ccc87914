// The objects `apply -f` and `delete -f` take, one row per kind, shared by the top-level
// verbs (`outpost-hub apply -f`, routed by each document's kind, as kubectl does) and each
// noun's own (`work apply`, `placement apply`, `workset apply`: that kind only). A new kind is
// a row here. OCM kinds Outpost does not hold are refused by name, never sent anywhere.
import { readFileSync } from 'node:fs';
import { OutpostError } from '@outpost/shared';
import { ConfigError } from '../config/index.ts';
import type { HubClient } from './client.ts';
import { type Format, render } from './output.ts';
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
    path: (name, doc) => ({ path: `${namespacePath(doc)}/placements/${enc(name)}`, shown: name }),
    changedHeader: 'x-outpost-changed',
    deleted: 'deleted',
    notFound: 'PLACEMENT_NOT_FOUND',
  },
  {
    kind: 'ManifestWorkReplicaSet',
    noun: 'workset',
    shown: 'manifestworkreplicaset',
    path: (name, doc) => ({ path: `${namespacePath(doc)}/manifestworkreplicasets/${enc(name)}`, shown: name }),
    changedHeader: 'x-outpost-changed',
    deleted: 'deleted',
    notFound: 'WORKSET_NOT_FOUND',
  },
  {
    kind: 'ManagedClusterSet',
    noun: 'clusterset',
    shown: 'managedclusterset',
    path: (name) => ({ path: `/api/v1/managedclustersets/${enc(name)}`, shown: name }),
    changedHeader: 'x-outpost-changed',
    deleted: 'deleted',
    notFound: 'CLUSTER_SET_NOT_FOUND',
  },
  {
    kind: 'ManagedClusterSetBinding',
    noun: 'clustersetbinding',
    shown: 'managedclustersetbinding',
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
