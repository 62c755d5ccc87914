// For the GitRepo unit tests: a temporary directory of made-up repository checkouts (files
// written as given, no git) and the body thread that parses their manifests, removed after
// the test file.
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after } from 'node:test';
import { BodyThread } from '../parse/index.ts';

export function checkouts(prefix: string) {
  const bodies = new BodyThread();
  let root: Promise<string> | undefined;
  after(async () => {
    await bodies.close();
    if (root) await rm(await root, { recursive: true, force: true });
  });
  const base = () => {
    root ??= mkdtemp(join(tmpdir(), prefix));
    return root;
  };
  return {
    bodies,
    /** The temporary directory the checkouts are made in (removed after the test file). */
    root: base,
    /** A new checkout holding `files` (path → text); its directory. */
    async write(files: Record<string, string>): Promise<string> {
      const dir = await mkdtemp(join(await base(), 'repo-'));
      for (const [p, text] of Object.entries(files)) {
        await mkdir(dirname(join(dir, p)), { recursive: true });
        await writeFile(join(dir, p), text);
      }
      return dir;
    },
  };
}
