// Helpers every admin API plugin shares: list paging, selectors, resourceVersion checks.
import { apiError, parseSelector, type Requirement, SelectorError } from '@outpost/shared';

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
