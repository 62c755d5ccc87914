// What the hub keeps around a command it runs: a private directory for the command's own
// files (an askpass helper, an ssh key, an empty home), removed after it, and the last lines
// of its error output for a status.
import { mkdtemp, rm } from 'node:fs/promises';
import { join } from 'node:path';

/** `fn` given a new directory under `parent` (0700, named PREFIX…), removed after it whatever happens. */
export async function inScratchDir<T>(parent: string, prefix: string, fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(join(parent, prefix));
  try {
    return await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** The last three non-empty lines of a command's error output, joined by "; ", at most `maxChars`. */
export const lastLines = (text: string, maxChars: number) =>
  text
    .trim()
    .split('\n')
    .filter((l) => l.trim() !== '')
    .slice(-3)
    .join('; ')
    .slice(0, maxChars);
