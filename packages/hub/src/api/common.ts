// Helpers every admin API plugin shares: list paging, selectors, resourceVersion checks,
// answers that carry stored texts.
import {
  apiError,
  isDns1123Label,
  matchesSelector,
  parseSelector,
  type Requirement,
  SelectorError,
} from '@outpost/shared';
import type { FastifyReply } from 'fastify';
import { type ObjectMeta, objectKey, type Store } from '../store/index.ts';
import { jsonParts, jsonStream, readAhead } from '../work/raw-json.ts';
import { storedReader } from '../work/texts.ts';

/** How much of an answer's stored texts is read before its status goes out (readAhead). */
const readAheadBytes = 1024 * 1024;

/**
 * Sends `value` as JSON, the stored texts it names (RawJson, TextRef) written as they are,
 * part by part (work/raw-json.ts): a work or a workset may be 16 MiB. An answer of up to a
 * megabyte of texts is read whole first, so a database lost meanwhile is a 503, not a 2xx
 * cut short; a larger one may still be cut short (the client sees a broken answer).
 */
export async function sendStored(
  reply: FastifyReply,
  store: Pick<Store, 'works'>,
  value: unknown,
): Promise<FastifyReply> {
  const read = storedReader(store);
  const parts = await readAhead(jsonParts(value), read, readAheadBytes);
  return reply.header('content-type', 'application/json; charset=utf-8').send(jsonStream(parts, read));
}

/** Refuses, by name, the query parameters a route does not read (VALIDATION_FAILED): one
 *  given and ignored would look honoured. */
export function refuseUnknownQuery(query: unknown, known: Iterable<string>): void {
  const allowed = new Set(known);
  const stray = Object.keys((query ?? {}) as object).filter((k) => !allowed.has(k));
  if (stray.length) throw apiError('VALIDATION_FAILED', `unknown query parameters: ${stray.join(', ').slice(0, 200)}`);
}

export interface ListQuery {
  limit: number;
  continue: string;
  selector: Requirement[];
}

const maxLimit = 1000;

export function listQuery(query: unknown): ListQuery {
  const q = (query ?? {}) as Record<string, string | undefined>;
  const limit = q.limit === undefined ? 500 : Number(q.limit);
  if (!Number.isInteger(limit) || limit < 1 || limit > maxLimit) {
    throw apiError('VALIDATION_FAILED', `limit must be an integer from 1 to ${maxLimit}`);
  }
  return { limit, continue: q.continue ?? '', selector: labelSelector(q.labelSelector) };
}

/** A query's labelSelector, parsed (none: everything); a malformed one is VALIDATION_FAILED. */
export function labelSelector(text: string | undefined): Requirement[] {
  if (!text) return [];
  try {
    return parseSelector(text);
  } catch (err) {
    if (err instanceof SelectorError) throw apiError('VALIDATION_FAILED', err.message);
    throw err;
  }
}

export function listOf<T>(kind: string, items: T[], next: string | undefined) {
  return {
    apiVersion: 'outpost.dev/v1alpha1',
    kind,
    metadata: next ? { continue: next } : {},
    items,
  };
}

/** Optimistic concurrency: a stated resourceVersion must be the current one. */
export function checkResourceVersion(stated: unknown, current: number, what: string): void {
  if (stated === undefined || stated === null) return;
  if (String(stated) !== String(current)) {
    throw apiError(
      'CONFLICT',
      `${what} was changed since you read it (resourceVersion ${String(stated)}, now ${current}); read it again and retry`,
      {
        currentResourceVersion: String(current),
      },
    );
  }
}

/**
 * Fills one page of a list keyed by namespace and name, filtering by the label selector while
 * paging so a selective selector still fills the page. `continue` is the last row's token
 * ("namespace/name"; a cluster-scoped row's "/name").
 */
export async function pageByName<T extends { namespace: string; name: string; labels: Record<string, string> }>(
  page: (after: string, limit: number) => Promise<{ items: T[]; continue: string | undefined }>,
  q: ListQuery,
  /** The list's namespace: a token of another one is refused, not read as "from the start". */
  namespace?: string,
): Promise<{ items: T[]; next: string | undefined }> {
  const cut = q.continue.indexOf('/');
  if (q.continue && (cut < 0 || (namespace !== undefined && q.continue.slice(0, cut) !== namespace))) {
    throw apiError('VALIDATION_FAILED', 'continue is not a token of this list: start again without it');
  }
  const items: T[] = [];
  let after = q.continue;
  for (;;) {
    const p = await page(after, q.limit);
    for (const row of p.items) {
      after = objectKey(row);
      if (!matchesSelector(q.selector, row.labels)) continue;
      items.push(row);
      if (items.length === q.limit) return { items, next: after };
    }
    if (!p.continue) return { items, next: undefined };
  }
}

/** The metadata of a body as sent, for its preconditions (resourceVersion, uid). */
export const bodyMeta = (body: unknown) =>
  (body as { metadata?: { resourceVersion?: unknown; uid?: unknown } } | undefined)?.metadata;

/**
 * Preconditions of a write on an existing object: a stated resourceVersion must be current
 * and a stated uid must be this object's (a re-created object restarts its resourceVersion).
 */
export function checkPreconditions(
  meta: { resourceVersion?: unknown; uid?: unknown } | undefined,
  current: { resourceVersion: number; uid: string },
  what: string,
): void {
  checkResourceVersion(meta?.resourceVersion, current.resourceVersion, what);
  if (typeof meta?.uid === 'string' && meta.uid !== '' && meta.uid !== current.uid) {
    throw apiError('CONFLICT', `${what} was deleted and created again (uid ${meta.uid}, now ${current.uid})`, {
      currentUid: current.uid,
    });
  }
}

/**
 * The object a path without a namespace names (`/api/v1/placements/{name}`, kept from before
 * namespaces keyed objects): the one object of that name, or NAME_AMBIGUOUS when namespaces
 * hold several; `notFound` when there is none.
 */
export function onlyNamed<T extends { namespace: string }>(
  rows: T[],
  what: string,
  path: string,
  notFound: () => Error,
): T {
  const [only, ...more] = rows;
  if (!only) throw notFound();
  if (more.length) {
    const namespaces = rows.map((r) => r.namespace);
    throw apiError(
      'NAME_AMBIGUOUS',
      `${what} exists in namespaces ${namespaces.join(', ')}: name the namespace (${path})`,
      { namespaces },
    );
  }
  return only;
}

/**
 * The namespace a write of a namespaced object goes to: the path's, which the body may repeat
 * but not contradict; on a path without one, the body's (OCM's metadata.namespace), else
 * "default".
 */
export function writeNamespace(said: string | undefined, path: string | undefined): string {
  if (path === undefined) return said ?? 'default';
  if (!isDns1123Label(path)) {
    throw apiError(
      'VALIDATION_FAILED',
      'the namespace in the path must be a DNS-1123 label (a-z, 0-9, "-"; at most 63)',
    );
  }
  if (said !== undefined && said !== path) {
    throw apiError(
      'VALIDATION_FAILED',
      `metadata.namespace ${JSON.stringify(said)} differs from the namespace in the path (${path})`,
    );
  }
  return path;
}

/** The metadata of a stored object as the API shows it (a cluster-scoped one has no namespace). */
export function objectMetadata(row: ObjectMeta) {
  return {
    name: row.name,
    ...(row.namespace ? { namespace: row.namespace } : {}),
    uid: row.uid,
    resourceVersion: String(row.resourceVersion),
    generation: row.generation,
    labels: row.labels,
    annotations: row.annotations,
    creationTimestamp: row.createdAt,
  };
}
