// A path of a checked-out repository rendered into manifests. Only the path's own directory
// decides how:
// - it holds kustomization.yaml, kustomization.yml or Kustomization: `kustomize build` of it,
//   after the pre-check of every kustomization it loads (tools.ts);
// - it holds Chart.yaml: `helm template` of the chart (tools.ts), with spec.helm;
// - else every *.yaml, *.yml and *.json file under it (recursively, in code-point order of
//   their paths), each YAML file's documents in order, empty documents skipped.
//   `.outpostignore` files exclude what their lines match (as .gitignore's simple patterns:
//   `*`, `?`, `**`, a trailing `/` for directories only, a pattern with a `/` matched from the
//   ignore file's directory, one without against names). A kustomization or chart deeper
//   inside such a path is refused by name (give its directory a path of its own).
// Files and the tools' output are parsed off the event loop (`parse`: the body thread's
// documents job), one at a time; any problem is an outcome naming the file (and line), never
// a partial result.
import type { Dirent } from 'node:fs';
import { lstat, readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { limits } from '@outpost/shared';
import {
  badStep,
  checkKustomization,
  type HelmSpec,
  helmTemplate,
  kustomizationFiles,
  kustomizeBuild,
  type ToolFailure,
  type ToolsConfig,
} from './tools.ts';

export type ParseFile = (
  format: 'json' | 'yaml',
  bytes: Uint8Array,
  maxBytes: number,
  /** Documents not checked to be manifests (a kustomization file). */
  anyObject?: boolean,
) => Promise<{ docs: { line: number; json: string }[] } | { error: { message: string; line?: number } }>;

export type RenderOutcome =
  /** `manifests`: each as JSON text (parsed on the body thread, never on the event loop). */
  | {
      ok: true;
      manifests: string[];
      /** Where each manifest is: FILE:LINE, or `PATH (kustomize):LINE` / `PATH (helm):LINE` of
       *  the tool's output. */
      origins: string[];
      files: number;
      bytes: number;
    }
  | {
      ok: false;
      /** Unsupported (a symbolic link, a remote resource, a chart or kustomization below a
       *  path), InvalidManifest, TooLarge, NotFound, Timeout, RenderFailed (the tool's own
       *  error), HelmMissing, KustomizeMissing, Stopped (the hub is stopping). */
      reason: string;
      message: string;
    };

export interface RenderOptions {
  /** The largest rendered path (the work limit): its files' bytes together. */
  maxBytes: number;
  /** performance.now() after which rendering gives up. */
  deadline: number;
  parse: ParseFile;
  /** kustomize and helm (absent: paths that need them fail with KustomizeMissing/HelmMissing). */
  tools?: ToolsConfig;
  /** spec.helm, with the release name decided (the workset's by default). */
  helm?: HelmSpec & { releaseName: string };
}

const manifestFile = /\.(ya?ml|json)$/i;
/** Files that make a directory a kustomization or a chart: below a path of plain manifests
 *  they are refused by name (only the path's own directory picks kustomize or Helm). */
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
  // No step of the path itself is a symbolic link (a missing one is NotFound below).
  const bad = await badStep(root, start);
  if (bad && !bad.missing) {
    return { ok: false, reason: 'Unsupported', message: `${bad.at}: symbolic links are not followed` };
  }
  try {
    const st = await lstat(join(root, start));
    if (!st.isDirectory()) return { ok: false, reason: 'NotFound', message: `${path} is not a directory` };
  } catch {
    return { ok: false, reason: 'NotFound', message: `${path} does not exist in the repository` };
  }
  const mode = await modeOf(root, start);
  if (mode === 'both') {
    return {
      ok: false,
      reason: 'Unsupported',
      message: `${path} holds both a kustomization and a Chart.yaml: name one of them; nothing of ${path} is rolled out`,
    };
  }
  if (mode !== 'files') return renderWithTool(root, path, start, mode, opts);
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
          message: `${rel}: a ${tool === 'Helm' ? 'chart' : 'kustomization'} below the path is not rendered (only a path's own directory is built with ${tool}: name ${dir} in spec.paths); nothing of ${path} is rolled out`,
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

  const manifests: string[] = [];
  const origins: string[] = [];
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
    for (const { json, line } of parsed.docs) {
      manifests.push(json);
      origins.push(`${rel}:${line}`);
    }
    // One file per turn of the event loop at most.
    await nextTurn();
  }
  return { ok: true, manifests, origins, files: files.length, bytes };
}

/** How the path's own directory is rendered. */
async function modeOf(root: string, dir: string): Promise<'files' | 'kustomize' | 'helm' | 'both'> {
  const isFile = async (name: string) => (await lstat(join(root, dir, name)).catch(() => undefined))?.isFile() === true;
  let kustomize = false;
  for (const f of kustomizationFiles) if (await isFile(f)) kustomize = true;
  const helm = await isFile('Chart.yaml');
  return kustomize && helm ? 'both' : kustomize ? 'kustomize' : helm ? 'helm' : 'files';
}

/** A kustomize or Helm path: the tool's output (bounded by the work limit) as manifests. */
async function renderWithTool(
  root: string,
  path: string,
  dir: string,
  mode: 'kustomize' | 'helm',
  opts: RenderOptions,
): Promise<RenderOutcome> {
  const named = (f: ToolFailure): RenderOutcome => ({
    ok: false,
    reason: f.reason,
    message: `${path}: ${f.message}${/nothing is rolled out/.test(f.message) ? '' : `; nothing of ${path} is rolled out`}`,
  });
  const bounds = { deadline: opts.deadline, maxBytes: opts.maxBytes };
  let out: Awaited<ReturnType<typeof kustomizeBuild>>;
  if (mode === 'kustomize') {
    const parse = async (bytes: Uint8Array, maxBytes: number) => {
      const r = await opts.parse('yaml', bytes, maxBytes, true);
      if ('error' in r) return { error: `${r.error.line ? `line ${r.error.line}: ` : ''}${r.error.message}` };
      // Kustomization files are small (bounded by the pre-check): read back here.
      return r.docs.map((d) => JSON.parse(d.json) as unknown);
    };
    const bad = await checkKustomization(root, dir, parse, opts.deadline);
    if (bad) return named(bad);
    if (!opts.tools) return named({ ok: false, reason: 'KustomizeMissing', message: 'kustomize is not configured' });
    out = await kustomizeBuild(opts.tools, root, dir, bounds);
  } else {
    if (!opts.tools) return named({ ok: false, reason: 'HelmMissing', message: 'helm is not configured' });
    out = await helmTemplate(opts.tools, root, dir, opts.helm ?? { releaseName: 'release' }, bounds);
  }
  if (!out.ok) return named(out);
  const parsed = await opts.parse('yaml', out.stdout, opts.maxBytes);
  const what = `${path} (${mode})`;
  if ('error' in parsed) {
    const at = parsed.error.line ? `${what}:${parsed.error.line}` : what;
    return { ok: false, reason: 'InvalidManifest', message: `${at}: ${parsed.error.message}` };
  }
  return {
    ok: true,
    manifests: parsed.docs.map((d) => d.json),
    origins: parsed.docs.map((d) => `${what}:${d.line}`),
    files: 1,
    bytes: out.stdout.length,
  };
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
