// Helpers every admin API plugin shares: list paging, selectors, resourceVersion checks,
// answers that carry stored texts.
import { apiError, matchesSelector, parseSelector, type Requirement, SelectorError } from '@outpost/shared';
import type { FastifyReply } from 'fastify';
import type { Store } from '../store/index.ts';
import { jsonParts, jsonStream } from '../work/raw-json.ts';
import { storedReader } from '../work/texts.ts';

/**
 * Sends `value` as JSON, the stored texts it names (RawJson, TextRef) written as they are,
 * part by part (work/raw-json.ts): a work or a workset may be 16 MiB.
 */
export function sendStored(reply: FastifyReply, store: Pick<Store, 'works'>, value: unknown): FastifyReply {
  return reply
    .header('content-type', 'application/json; charset=utf-8')
    .send(jsonStream(jsonParts(value), storedReader(store)));
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
  let selector: Requirement[] = [];
  if (q.labelSelector) {
    try {
      selector = parseSelector(q.labelSelector);
    } catch (err) {
      if (err instanceof SelectorError) throw apiError('VALIDATION_FAILED', err.message);
      throw err;
    }
  }
  return { limit, continue: q.continue ?? '', selector };
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
 * Fills one page of a name-keyed list, filtering by the label selector while paging so a
 * selective selector still fills the page. `continue` is the last name returned.
 */
export function pageByName<T extends { name: string; labels: Record<string, string> }>(
  page: (after: string, limit: number) => { items: T[]; continue: string | undefined },
  q: ListQuery,
): { items: T[]; next: string | undefined } {
  const items: T[] = [];
  let after = q.continue;
  for (;;) {
    const p = page(after, q.limit);
    for (const row of p.items) {
      after = row.name;
      if (!matchesSelector(q.selector, row.labels)) continue;
      items.push(row);
      if (items.length === q.limit) return { items, next: row.name };
    }
    if (!p.continue) return { items, next: undefined };
  }
}

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
 * A Placement's or workset's write must be in the namespace its name already lives in: names
 * are unique across namespaces, and an object of another namespace is never replaced by one
 * that happens to share its name (OCM would hold both).
 */
export function sameNamespace(
  existing: { namespace: string | null } | undefined,
  namespace: string,
  what: string,
): void {
  // null: written before namespaces were kept; this write adopts its namespace.
  if (!existing || existing.namespace === null || existing.namespace === namespace) return;
  throw apiError(
    'NAMESPACE_CONFLICT',
    `${what} exists in namespace ${existing.namespace}; Outpost keeps one ${what.split(' ')[0]} per name across namespaces, so the one in ${namespace} would replace it: give it another name, or delete the one in ${existing.namespace} first`,
    { namespace: existing.namespace },
  );
}
