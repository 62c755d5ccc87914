// `list -w` and `workset status -w`: the list (or object) once, then each change as the hub's
// watch stream brings it, as `kubectl get -w` does. A dropped connection or a stream the hub
// ended is resumed from the last event's resourceVersion (after a pause, growing up to 10 s
// while the hub is away); history the hub no longer has means listing again. Runs until
// Ctrl-C.
import { OutpostError } from '@outpost/shared';
import { stringify } from 'yaml';
import type { HubClient, WatchEvent } from './client.ts';
import type { Format } from './output.ts';

interface WatchCtx {
  client: HubClient;
  format: Format;
  flags: Record<string, string | boolean | string[] | undefined>;
  out(text: string): void;
}

interface Page<T> {
  items: T[];
  metadata: { continue?: string; resourceVersion?: string };
}

/** Every page of the list at `path` (`query` added), and where a watch of it starts: the
 *  first page's resourceVersion (changes made while later pages were read come as events). */
export async function listPages<T>(
  client: HubClient,
  path: string,
  query: Record<string, string> = {},
): Promise<{ items: T[]; resourceVersion: string }> {
  const items: T[] = [];
  let cont = '';
  let resourceVersion = '';
  do {
    const q = new URLSearchParams({ ...query, limit: '500' });
    if (cont) q.set('continue', cont);
    const page = await client.call<Page<T>>('GET', `${path}?${q}`);
    items.push(...page.items);
    resourceVersion ||= page.metadata.resourceVersion ?? '';
    cont = page.metadata.continue ?? '';
  } while (cont);
  return { items, resourceVersion };
}

/** Failures that pass: the hub or its database away for a while, a proxy's 5xx. */
const passing = (code: string) =>
  code === 'CLI_HUB_UNREACHABLE' ||
  code === 'HUB_DATABASE_UNAVAILABLE' ||
  code === 'HUB_DATABASE_BUSY' ||
  code === 'HUB_STOPPING' ||
  code === 'INTERNAL' ||
  code === 'TOO_MANY_WATCHES' ||
  /^HTTP_5\d\d$/.test(code);

/**
 * Follows the watch of the list at `path` from `from`, calling `show` with each event of an
 * object (bookmarks only move the resume point). Never returns: Ctrl-C ends it.
 */
export async function follow(
  client: HubClient,
  path: string,
  query: Record<string, string>,
  from: string,
  show: (event: WatchEvent) => void,
  relist: () => Promise<string>,
  warn: (text: string) => void,
): Promise<never> {
  let at = from;
  let pause = 500;
  for (;;) {
    const q = new URLSearchParams({ ...query, watch: 'true', allowWatchBookmarks: 'true', resourceVersion: at });
    try {
      await client.watch(`${path}?${q}`, (e) => {
        if (e.type === 'ERROR') {
          const err = e.object as { code?: string; message?: string };
          throw new OutpostError(err.code ?? 'WATCH_FAILED', err.message ?? 'the watch failed', 1);
        }
        if (e.resourceVersion) at = e.resourceVersion;
        if (e.type !== 'BOOKMARK') show(e);
        pause = 500;
      });
      // The hub ended the stream (its timeout): watch again from where it stood.
      continue;
    } catch (err) {
      if (err instanceof OutpostError && err.code === 'WATCH_EXPIRED') {
        warn('the hub no longer has the history to resume from: listing again\n');
        at = await relist();
        continue;
      }
      if (!(err instanceof OutpostError) || !passing(err.code)) throw err;
      warn(`${err.message} (${err.code}); watching again in ${(pause / 1000).toFixed(1)} s\n`);
    }
    await new Promise((r) => setTimeout(r, pause));
    pause = Math.min(pause * 2, 10_000);
  }
}

/** One event as `-o json|yaml` prints it while watching: the event, one per line or document. */
export function eventText(format: Format, e: WatchEvent): string {
  const value = { type: e.type, object: e.object };
  return format === 'yaml' ? `---\n${stringify(value)}` : `${JSON.stringify(value)}\n`;
}

/**
 * `list -w` for the list at `path`: the table (or the list as JSON/YAML), then a row per
 * change (or an event per line or document).
 */
export async function listAndWatch<T>(ctx: WatchCtx, path: string, table: (items: T[]) => string): Promise<never> {
  const query: Record<string, string> = {};
  if (ctx.flags.selector) query.labelSelector = ctx.flags.selector as string;
  const print = (items: T[]) => {
    if (ctx.format === 'table') ctx.out(table(items));
    else for (const object of items) ctx.out(eventText(ctx.format, { type: 'ADDED', object }));
  };
  const relist = async () => {
    const { items, resourceVersion } = await listPages<T>(ctx.client, path, query);
    print(items);
    return resourceVersion;
  };
  const from = await relist();
  return follow(
    ctx.client,
    path,
    query,
    from,
    (e) => {
      if (ctx.format !== 'table') return ctx.out(eventText(ctx.format, e));
      const meta = (e.object as { metadata?: { name?: string; namespace?: string } }).metadata ?? {};
      if (e.type === 'DELETED') return ctx.out(`${meta.namespace ? `${meta.namespace}/` : ''}${meta.name} deleted\n`);
      // The row alone, under the table already printed.
      ctx.out(
        `${table([e.object as T])
          .split('\n')
          .slice(1)
          .join('\n')}`,
      );
    },
    relist,
    (text) => process.stderr.write(text),
  );
}
