// What a watch asks for: the query parameters of a list with watch=true, checked and
// refused by name (and the watch parameters refused on a plain list).
import { apiError, type Requirement } from '@outpost/shared';
import { labelSelector } from '../common.ts';

export type EventType = 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR';

export interface WatchQuery {
  /** Where the watch starts; undefined (no resourceVersion, or "0" as Kubernetes reads it:
   *  any): the objects now (an ADDED each), then what follows. */
  from: number | undefined;
  selector: Requirement[];
  /** fieldSelector metadata.name and metadata.namespace. */
  name: string | undefined;
  namespace: string | undefined;
  bookmarks: boolean;
  timeoutMs: number;
}

const defaultTimeoutMs = 30 * 60_000;
const maxTimeoutMs = 60 * 60_000;

function flag(value: string | undefined, key: string): boolean {
  if (value === undefined || value === 'false' || value === '0') return false;
  if (value === 'true' || value === '1' || value === '') return true;
  throw apiError('VALIDATION_FAILED', `${key} must be true or false`);
}

/** `metadata.name=a,metadata.namespace=b` (`==` too); any other field is refused by name. */
function fieldSelector(text: string): { name?: string; namespace?: string } {
  const out: { name?: string; namespace?: string } = {};
  for (const term of text.split(',')) {
    const m = /^metadata\.(name|namespace)==?(.+)$/.exec(term.trim());
    if (!m?.[1] || !m[2]) {
      throw apiError(
        'VALIDATION_FAILED',
        'fieldSelector supports metadata.name=<name> and metadata.namespace=<namespace>, joined by ","',
        { fieldSelector: text.slice(0, 200) },
      );
    }
    const key = m[1] as 'name' | 'namespace';
    if (out[key] !== undefined && out[key] !== m[2]) {
      throw apiError('VALIDATION_FAILED', `fieldSelector names metadata.${key} twice`);
    }
    out[key] = m[2];
  }
  return out;
}

/** The watch a list's query asks for, or undefined for a plain list (whose watch-only
 *  parameters are refused by name rather than ignored). */
export function watchQuery(query: unknown): WatchQuery | undefined {
  const q = (query ?? {}) as Record<string, string | undefined>;
  const watching = flag(q.watch, 'watch');
  if (!watching) {
    const stray = ['allowWatchBookmarks', 'timeoutSeconds', 'fieldSelector'].filter((k) => q[k] !== undefined);
    if (stray.length) throw apiError('VALIDATION_FAILED', `${stray.join(', ')}: only with watch=true`);
    if (q.resourceVersion !== undefined) {
      throw apiError('VALIDATION_FAILED', 'a list is always read as it is now: resourceVersion applies to watch=true');
    }
    return undefined;
  }
  for (const k of ['limit', 'continue']) {
    if (q[k] !== undefined) throw apiError('VALIDATION_FAILED', `${k} does not apply to a watch`);
  }
  let from: number | undefined;
  if (q.resourceVersion !== undefined && q.resourceVersion !== '') {
    from = Number(q.resourceVersion);
    if (!/^\d{1,15}$/.test(q.resourceVersion) || !Number.isSafeInteger(from)) {
      throw apiError('VALIDATION_FAILED', 'resourceVersion must be a list or watch event resourceVersion (a number)');
    }
    if (from === 0) from = undefined;
  }
  let timeoutMs = defaultTimeoutMs;
  if (q.timeoutSeconds !== undefined) {
    const s = Number(q.timeoutSeconds);
    if (!Number.isInteger(s) || s < 1 || s * 1000 > maxTimeoutMs) {
      throw apiError('VALIDATION_FAILED', `timeoutSeconds must be an integer from 1 to ${maxTimeoutMs / 1000}`);
    }
    timeoutMs = s * 1000;
  }
  const fields = q.fieldSelector ? fieldSelector(q.fieldSelector) : {};
  return {
    from,
    selector: labelSelector(q.labelSelector),
    name: fields.name,
    namespace: fields.namespace,
    bookmarks: flag(q.allowWatchBookmarks, 'allowWatchBookmarks'),
    timeoutMs,
  };
}

/** Whether an Accept header lets a watch answer its JSON lines (no header does). */
export const acceptsJson = (accept: string | undefined) =>
  accept === undefined ||
  accept.split(',').some((range) => {
    const [type = '', ...params] = range.split(';').map((p) => p.trim().toLowerCase());
    return ['application/json', 'application/*', '*/*'].includes(type) && !params.some((p) => /^q=0(\.0*)?$/.test(p));
  });
