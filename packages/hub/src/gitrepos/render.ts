// A path of a checked-out repository rendered into manifests: every *.yaml, *.yml and *.json
// file under it (recursively, in code-point order of their paths), each YAML file's documents
// in order, empty documents skipped. `.outpostignore` files exclude what their lines match
// (as .gitignore's simple patterns: `*`, `?`, `**`, a trailing `/` for directories only, a
// pattern with a `/` matched from the ignore file's directory, one without against names).
// A directory holding kustomization.yaml or Chart.yaml is refused by name (kustomize and Helm
// are not rendered yet). Files are read asynchronously and parsed off the event loop (`parse`:
// the body thread's documents job), one at a time; any problem is an outcome naming the file
// (and line), never a partial result.
import type { Dirent } from 'node:fs';
import { lstat, readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { limits } from '@outpost/shared';

export type ParseFile = (
  format: 'json' | 'yaml',
  bytes: Uint8Array,
  maxBytes: number,
) => Promise<{ docs: { value: unknown; line: number }[] } | { error: { message: string; line?: number } }>;

export type RenderOutcome =
  | { ok: true; manifests: Record<string, unknown>[]; files: number; bytes: number }
  | {
      ok: false;
      /** Unsupported (kustomize, Helm, a symbolic link), InvalidManifest, TooLarge, NotFound, Timeout. */
      reason: string;
      message: string;
    };

export interface RenderOptions {
  /** The largest rendered path (the work limit): its files' bytes together. */
  maxBytes: number;
  /** performance.now() after which rendering gives up. */
  deadline: number;
  parse: ParseFile;
}

const manifestFile = /\.(ya?ml|json)$/i;
const unsupported: Record<string, string> = {
  'kustomization.yaml': 'kustomize',
  'kustomization.yml': 'kustomize',
  Kustomization: 'kustomize',
  'Chart.yaml': 'Helm',
  'Chart.yml': 'Helm',
};

/** One line of an ignore file as a test of a path relative to that file's directory. */
export interface IgnoreRule {
  test(rel: string, dir: boolean): boolean;
}

function globRegex(glob: string): string {
  let out = '';
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i] as string;
    if (c === '*' && glob[i + 1] === '*') {
      // `**/` any directories (none too); `**` at the end anything.
      if (glob[i + 2] === '/') {
        out += '(?:.*/)?';
        i += 2;
      } else {
        out += '.*';
        i += 1;
      }
    } else if (c === '*') out += '[^/]*';
    else if (c === '?') out += '[^/]';
    else out += c.replace(/[.+^${}()|[\]\\]/g, '\\$&');
  }
  return out;
}

/** The rules of an ignore file's text; a negation (`!`) is refused (not supported yet). */
export function ignoreRules(text: string): IgnoreRule[] | { error: string; line: number } {
  const rules: IgnoreRule[] = [];
  for (const [i, raw] of text.split('\n').entries()) {
    const line = raw.replace(/\r$/, '').trim();
    if (line === '' || line.startsWith('#')) continue;
    if (line.startsWith('!')) return { error: 'negated patterns (!) are not supported yet', line: i + 1 };
    let pattern = line;
    const dirOnly = pattern.endsWith('/');
    if (dirOnly) pattern = pattern.replace(/\/+$/, '');
    const anchored = pattern.includes('/');
    pattern = pattern.replace(/^\/+/, '');
    if (pattern === '') continue;
    const re = new RegExp(`^${globRegex(pattern)}$`);
    rules.push({
      test(rel, dir) {
        if (dirOnly && !dir) return false;
        if (anchored) return re.test(rel);
        const name = rel.slice(rel.lastIndexOf('/') + 1);
        return re.test(name);
      },
    });
  }
  return rules;
}

interface Scope {
  /** The directory (relative to the repository) of the ignore file. */
  base: string;
  rules: IgnoreRule[];
}

const ignored = (scopes: readonly Scope[], rel: string, dir: boolean) =>
  scopes.some((s) => {
    const local = s.base === '' ? rel : rel.slice(s.base.length + 1);
    return s.rules.some((r) => r.test(local, dir));
  });

/** `path` of the repository checked out at `root` rendered into manifests (see above). */
export async function renderPath(root: string, path: string, opts: RenderOptions): Promise<RenderOutcome> {
  const start = path === '.' ? '' : path;
  try {
    const st = await lstat(join(root, start));
    if (!st.isDirectory()) return { ok: false, reason: 'NotFound', message: `${path} is not a directory` };
  } catch {
    return { ok: false, reason: 'NotFound', message: `${path} does not exist in the repository` };
  }
  const files: string[] = [];
  let bytes = 0;
  // Ignore files of the directories above the path count too (from the repository's root).
  const scopes: Scope[] = [];
  const steps = start === '' ? [] : start.split('/');
  for (let i = 0; i < steps.length; i++) {
    const dir = steps.slice(0, i).join('/');
    const r = await readIgnore(root, dir);
    if ('error' in r) return r.error;
    if (r.scope) scopes.push(r.scope);
  }

  // Walk: directories depth first, entries in code-point order.
  const walk = async (dir: string, inherited: Scope[]): Promise<RenderOutcome | undefined> => {
    if (performance.now() > opts.deadline) return timeout();
    const own = await readIgnore(root, dir);
    if ('error' in own) return own.error;
    const scopesHere = own.scope ? [...inherited, own.scope] : inherited;
    let entries: Dirent[];
    try {
      entries = await readdir(join(root, dir), { withFileTypes: true });
    } catch (err) {
      return { ok: false, reason: 'NotFound', message: `${dir || '.'}: ${(err as Error).message}` };
    }
    entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const e of entries) {
      const rel = dir === '' ? e.name : `${dir}/${e.name}`;
      const tool = unsupported[e.name];
      if (tool && e.isFile() && !ignored(scopesHere, rel, false)) {
        return {
          ok: false,
          reason: 'Unsupported',
          message: `${rel}: ${tool} rendering is not supported yet; nothing of ${path} is rolled out`,
        };
      }
    }
    for (const e of entries) {
      const rel = dir === '' ? e.name : `${dir}/${e.name}`;
      if (e.name === '.git') continue;
      if (e.isDirectory()) {
        if (ignored(scopesHere, rel, true)) continue;
        const out = await walk(rel, scopesHere);
        if (out) return out;
        continue;
      }
      if (!manifestFile.test(e.name) || ignored(scopesHere, rel, false)) continue;
      if (e.isSymbolicLink() || !e.isFile()) {
        return { ok: false, reason: 'Unsupported', message: `${rel}: symbolic links are not followed` };
      }
      files.push(rel);
      if (files.length > limits.gitFilesPerPathMax) {
        return {
          ok: false,
          reason: 'TooLarge',
          message: `${path}: more than ${limits.gitFilesPerPathMax} manifest files`,
        };
      }
    }
    return undefined;
  };
  const timeout = (): RenderOutcome => ({
    ok: false,
    reason: 'Timeout',
    message: `${path}: rendering did not finish in time`,
  });
  const walked = await walk(start, scopes);
  if (walked) return walked;

  const manifests: Record<string, unknown>[] = [];
  for (const rel of files) {
    if (performance.now() > opts.deadline) return timeout();
    // Sized before it is read: a file of gigabytes is never read whole.
    bytes += (await lstat(join(root, rel))).size;
    if (bytes > opts.maxBytes) {
      return {
        ok: false,
        reason: 'TooLarge',
        message: `${path}: its manifests are over the work limit of ${opts.maxBytes} bytes (at ${rel})`,
      };
    }
    const text = await readFile(join(root, rel));
    const parsed = await opts.parse(/\.json$/i.test(rel) ? 'json' : 'yaml', text, opts.maxBytes);
    if ('error' in parsed) {
      const at = parsed.error.line ? `${rel}:${parsed.error.line}` : rel;
      return { ok: false, reason: 'InvalidManifest', message: `${at}: ${parsed.error.message}` };
    }
    for (const { value, line } of parsed.docs) {
      if (value === null || value === undefined) continue;
      const problem = manifestProblem(value);
      if (problem) return { ok: false, reason: 'InvalidManifest', message: `${rel}:${line}: ${problem}` };
      manifests.push(value as Record<string, unknown>);
    }
    // One file per turn of the event loop at most.
    await nextTurn();
  }
  return { ok: true, manifests, files: files.length, bytes };
}

/** Why a document is no manifest (the workset's validation says the rest, by index). */
function manifestProblem(v: unknown): string | undefined {
  if (typeof v !== 'object' || Array.isArray(v) || v === null) return 'a document must be a Kubernetes object';
  const m = v as Record<string, unknown>;
  if (typeof m.apiVersion !== 'string' || m.apiVersion === '') return 'apiVersion is required';
  if (typeof m.kind !== 'string' || m.kind === '') return 'kind is required';
  if (m.kind === 'List') {
    return Array.isArray(m.items) ? undefined : `a ${m.kind} needs items`;
  }
  const meta = m.metadata as Record<string, unknown> | undefined;
  if (
    typeof meta !== 'object' ||
    meta === null ||
    (typeof meta.name !== 'string' && typeof meta.generateName !== 'string')
  ) {
    return 'metadata.name is required';
  }
  return undefined;
}

async function readIgnore(
  root: string,
  dir: string,
): Promise<{ scope?: Scope } | { error: Extract<RenderOutcome, { ok: false }> }> {
  const file = dir === '' ? '.outpostignore' : `${dir}/.outpostignore`;
  let text: string;
  try {
    text = await readFile(join(root, file), 'utf8');
  } catch {
    return {};
  }
  const rules = ignoreRules(text);
  if ('error' in rules) {
    return { error: { ok: false, reason: 'InvalidManifest', message: `${file}:${rules.line}: ${rules.error}` } };
  }
  return { scope: { base: dir, rules } };
}
