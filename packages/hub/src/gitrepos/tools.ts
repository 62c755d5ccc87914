// kustomize and Helm, run for GitRepo paths whose directory holds a kustomization or a chart.
// They read a repository anyone who can push to it controls, so they run sandboxed, as git
// does (git.ts): never through a shell, a process group of their own killed at the deadline
// or when the hub stops, their output bounded, and an environment of nothing but:
// - an empty HOME, XDG and HELM_* directories made for the one run and removed after it (no
//   user configuration, repositories, registries, plugins or caches; one run leaves nothing
//   for the next);
// - a PATH of that empty directory: no git (kustomize fetches remote bases with git), no
//   helper program a plugin could start;
// - HTTP(S)_PROXY and ALL_PROXY of a closed loopback port (discard, 9) and NO_PROXY empty, so
//   an HTTP request the tools would make (a remote resource, a chart repository) fails at
//   once instead of reaching the network. Go's proxy rules never proxy loopback addresses,
//   which is why this is only defence in depth: the pre-check below is the fence.
// Before kustomize runs, every kustomization it would load is read (resources, bases and
// components directories followed) and any reference that is remote (a URL, a git ref such
// as github.com/org/repo), absolute, leaves the repository or passes through a symbolic link
// is refused by name, as are helmCharts (kustomize runs without --enable-helm, --enable-exec
// and plugins, and with --load-restrictor LoadRestrictionsRootOnly). A chart is rendered
// with `helm template` from its directory only: no --repo, no post-renderer, dependencies
// vendored in charts/. Any failure is an outcome for the path's status (the tool's last lines
// of error output), never a partial result.
import { createHash } from 'node:crypto';
import { constants, type Dirent } from 'node:fs';
import { access, lstat, mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { isAbsolute, join, posix } from 'node:path';
import { type CommandRunner, inScratchDir, lastLines, RunnerError, sharedRunner } from '../commands/index.ts';

/** How the hub finds and runs the tools (the same for every GitRepo). */
export interface ToolsConfig {
  /** `--helm-path`: a path (with a "/"), or a name looked up in searchPath. */
  helm: string;
  /** `--kustomize-path`: likewise. */
  kustomize: string;
  /** Where bare names are looked up (the hub's PATH). */
  searchPath: string;
  /** A directory of the hub's (under the data dir) where each run gets its empty home. */
  workDir: string;
  /** Aborted: a running tool is killed at once (the hub is stopping). */
  signal?: AbortSignal;
  /** Where the tools run (a helper process: the hub's event loop never forks); the shared one when absent. */
  runner?: CommandRunner;
}

/** spec.helm of a GitRepo, as validate.ts leaves it. */
export interface HelmSpec {
  releaseName?: string;
  namespace?: string;
  values?: Record<string, unknown>;
  valuesFiles?: string[];
}

export type ToolFailure = { ok: false; reason: string; message: string };

/** The absolute path of a tool, or undefined when there is none (or it cannot be run). */
export async function findTool(configured: string, searchPath: string): Promise<string | undefined> {
  const candidates = configured.includes('/')
    ? [configured]
    : searchPath
        .split(':')
        .filter((d) => isAbsolute(d))
        .map((d) => join(d, configured));
  for (const c of candidates) {
    try {
      await access(c, constants.X_OK);
      if ((await lstat(c)).isDirectory()) continue;
      return c;
    } catch {}
  }
  return undefined;
}

/** A closed port on loopback: a proxied request fails at once (connection refused). */
const closedProxy = 'http://127.0.0.1:9';

/**
 * Runs `file ARGS` in `cwd` sandboxed (see the header), with `home` as its only writable
 * place; resolves with its standard output, or a failure: Timeout, TooLarge (more output
 * than maxBytes), RenderFailed (exit status, the last lines of its error output), Stopped.
 */
export async function runTool(
  tool: string,
  file: string,
  args: string[],
  o: {
    cwd: string;
    home: string;
    deadline: number;
    maxBytes: number;
    signal?: AbortSignal | undefined;
    runner?: CommandRunner | undefined;
  },
): Promise<{ ok: true; stdout: Buffer } | ToolFailure> {
  const timeoutMs = Math.max(0, Math.floor(o.deadline - performance.now()));
  const env: Record<string, string> = {
    PATH: o.home,
    HOME: o.home,
    // A read-only root file system (the chart's) leaves no /tmp: temporary files go here too.
    TMPDIR: o.home,
    XDG_CONFIG_HOME: join(o.home, 'config'),
    XDG_CACHE_HOME: join(o.home, 'cache'),
    XDG_DATA_HOME: join(o.home, 'data'),
    HELM_CONFIG_HOME: join(o.home, 'helm/config'),
    HELM_CACHE_HOME: join(o.home, 'helm/cache'),
    HELM_DATA_HOME: join(o.home, 'helm/data'),
    HELM_PLUGINS: join(o.home, 'helm/plugins'),
    HELM_REGISTRY_CONFIG: join(o.home, 'helm/registry.json'),
    HELM_REPOSITORY_CONFIG: join(o.home, 'helm/repositories.yaml'),
    HELM_REPOSITORY_CACHE: join(o.home, 'helm/repository'),
    KUBECONFIG: join(o.home, 'kubeconfig'),
    HTTP_PROXY: closedProxy,
    HTTPS_PROXY: closedProxy,
    ALL_PROXY: closedProxy,
    http_proxy: closedProxy,
    https_proxy: closedProxy,
    all_proxy: closedProxy,
    NO_PROXY: '',
    no_proxy: '',
    LC_ALL: 'C',
  };
  if (timeoutMs <= 0) {
    return { ok: false, reason: 'Timeout', message: `${tool} was not started: rendering ran out of time` };
  }
  let r: Awaited<ReturnType<CommandRunner['run']>>;
  try {
    r = await (o.runner ?? sharedRunner).run({
      file,
      args,
      cwd: o.cwd,
      env,
      timeoutMs,
      maxStdout: o.maxBytes,
      overflow: 'kill',
      maxStderr: 64 * 1024,
      signal: o.signal,
    });
  } catch (err) {
    if (o.signal?.aborted) return { ok: false, reason: 'Stopped', message: `${tool} stopped: the hub is stopping` };
    if (err instanceof RunnerError) return { ok: false, reason: 'RenderFailed', message: `${tool}: ${err.message}` };
    throw err;
  }
  if (r.error)
    return { ok: false, reason: 'RenderFailed', message: `${tool} could not be started: ${r.error.message}` };
  if (r.killed === 'kill') return { ok: false, reason: 'Stopped', message: `${tool} stopped: the hub is stopping` };
  if (r.killed === 'timeout') {
    return { ok: false, reason: 'Timeout', message: `${tool} did not finish in time; nothing is rolled out` };
  }
  if (r.killed === 'overflow') {
    return {
      ok: false,
      reason: 'TooLarge',
      message: `${tool}'s output is over the work limit of ${o.maxBytes} bytes; nothing is rolled out`,
    };
  }
  if (r.code !== 0) {
    const said = lastLines(r.stderr.toString('utf8'), 800) || `exit ${r.code}`;
    return { ok: false, reason: 'RenderFailed', message: `${tool} failed: ${said}` };
  }
  return { ok: true, stdout: r.stdout };
}

/** `fn` given a run's own empty home under workDir, removed after it. */
async function inRunHome<T>(workDir: string, fn: (home: string) => Promise<T>): Promise<T> {
  await mkdir(workDir, { recursive: true, mode: 0o700 });
  return inScratchDir(workDir, 'run-', fn);
}

export const kustomizationFiles = ['kustomization.yaml', 'kustomization.yml', 'Kustomization'];

/** A reference of a kustomization that names something outside the checkout: why, or undefined. */
export function remoteReference(ref: string): string | undefined {
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(ref) || ref.includes('://')) return 'a URL';
  if (/^(git@|git::|ssh:|github\.com[/:]|gitlab\.com[/:]|bitbucket\.org[/:])/i.test(ref)) return 'a git repository';
  if (/[?&](ref|version|submodules|timeout)=/.test(ref) || ref.includes('//')) return 'a git repository';
  return undefined;
}

/** Fields of a kustomization that name nothing to load. */
const plainFields = new Set([
  'apiVersion',
  'kind',
  'metadata',
  'namespace',
  'namePrefix',
  'nameSuffix',
  'commonLabels',
  'labels',
  'commonAnnotations',
  'images',
  'replicas',
  'vars',
  'generatorOptions',
  'buildMetadata',
  'sortOptions',
]);
/** Fields whose entries name files (strings, or objects with path / files / envs / env). */
const fileFields = new Set([
  'patchesStrategicMerge',
  'patches',
  'patchesJson6902',
  'configMapGenerator',
  'secretGenerator',
  'crds',
  'configurations',
  'replacements',
  'openapi',
  'generators',
  'transformers',
  'validators',
]);
/** Fields whose strings name a file or a directory holding a kustomization. */
const resourceFields = new Set(['resources', 'bases', 'components']);
const refused: Record<string, string> = {
  helmCharts: 'kustomize runs without --enable-helm: give the chart a path of its own in spec.paths',
  helmGlobals: 'kustomize runs without --enable-helm: give the chart a path of its own in spec.paths',
  helmChartInflationGenerator: 'kustomize runs without --enable-helm: give the chart a path of its own in spec.paths',
};

/**
 * Why configurations of generators, transformers or validators are refused: a Helm chart
 * inflator (kustomize runs without --enable-helm), or a URL anywhere in them (their file
 * fields are read through kustomize's loader, which fetches URLs).
 */
export function pluginProblem(docs: unknown[]): string | undefined {
  const walk = (v: unknown): string | undefined => {
    if (typeof v === 'string') return remoteReference(v) ? `${JSON.stringify(v.slice(0, 200))} is remote` : undefined;
    if (Array.isArray(v)) {
      for (const x of v) {
        const bad = walk(x);
        if (bad) return bad;
      }
      return undefined;
    }
    if (typeof v === 'object' && v !== null) {
      for (const x of Object.values(v)) {
        const bad = walk(x);
        if (bad) return bad;
      }
    }
    return undefined;
  };
  for (const doc of docs) {
    if (typeof doc === 'object' && doc !== null && (doc as { kind?: unknown }).kind === 'HelmChartInflationGenerator') {
      return `HelmChartInflationGenerator is not supported: ${refused.helmCharts}`;
    }
    const bad = walk(doc);
    if (bad) return `${bad}: generators, transformers and validators may not name remote files`;
  }
  return undefined;
}

type Parse = (bytes: Uint8Array, maxBytes: number) => Promise<unknown[] | { error: string }>;

/** Most files and directories the symbolic-link check walks for one path. */
const walkEntriesMax = 100_000;

/** Largest kustomization (or generator configuration) file read by the pre-check: what it
 *  parses is read back on the event loop, so it stays small (real ones are a few KiB). */
const kustomizationBytesMax = 256 * 1024;
/** Most kustomization directories one path may load. */
const kustomizationsMax = 500;

/**
 * The first step of `rel` (a path relative to the checkout at `root`) that is not there, or
 * that is a symbolic link (a tool would follow it out of the checkout), with the path up to
 * it; undefined when every step is there and none is a link.
 */
export async function badStep(root: string, rel: string): Promise<{ at: string; missing: boolean } | undefined> {
  let at = '';
  for (const s of rel === '.' || rel === '' ? [] : rel.split('/')) {
    at = at ? `${at}/${s}` : s;
    let st: Awaited<ReturnType<typeof lstat>>;
    try {
      st = await lstat(join(root, at));
    } catch {
      return { at, missing: true };
    }
    if (st.isSymbolicLink()) return { at, missing: false };
  }
  return undefined;
}

const linked = (at: string): ToolFailure => ({
  ok: false,
  reason: 'Unsupported',
  message: `${at} is a symbolic link: symbolic links are not followed`,
});

/**
 * A check that no symbolic link lies anywhere under a directory of the checkout at `root`
 * (kustomize and helm would read through it). One check walks each directory once
 * (nested kustomizations share their parents' walk), within `deadline` and walkEntriesMax
 * entries in all.
 */
function linkCheck(root: string, deadline: number): (d: string) => Promise<ToolFailure | undefined> {
  const walked = new Set<string>();
  let entriesSeen = 0;
  const check = async (d: string): Promise<ToolFailure | undefined> => {
    if (walked.has(d)) return undefined;
    walked.add(d);
    if (performance.now() > deadline)
      return { ok: false, reason: 'Timeout', message: 'rendering did not finish in time' };
    let entries: Dirent[];
    try {
      entries = await readdir(join(root, d), { withFileTypes: true });
    } catch (err) {
      return { ok: false, reason: 'NotFound', message: `${d || '.'}: ${(err as Error).message}` };
    }
    entriesSeen += entries.length;
    if (entriesSeen > walkEntriesMax) {
      return { ok: false, reason: 'TooLarge', message: `more than ${walkEntriesMax} files and directories to check` };
    }
    for (const e of entries) {
      const rel = d ? `${d}/${e.name}` : e.name;
      if (e.name === '.git') continue;
      if (e.isSymbolicLink()) return linked(rel);
      if (e.isDirectory()) {
        const bad = await check(rel);
        if (bad) return bad;
      }
    }
    return undefined;
  };
  return check;
}

/**
 * The pre-check of a kustomize path: every kustomization reachable from `dir` (relative to the
 * checkout at `root`) read, each reference checked (see the header); the directories visited
 * hold no symbolic link. Returns a failure naming the file and reference, or undefined.
 */
export async function checkKustomization(
  root: string,
  dir: string,
  parse: Parse,
  deadline: number,
): Promise<ToolFailure | undefined> {
  const seen = new Set<string>();
  const noLinks = linkCheck(root, deadline);
  const unsupported = (message: string): ToolFailure => ({ ok: false, reason: 'Unsupported', message });

  /** `ref` (from a file in directory `from`) as a path relative to the root, or a failure. */
  const resolveRef = async (from: string, file: string, ref: string) => {
    const remote = remoteReference(ref);
    if (remote) return unsupported(`${file}: ${JSON.stringify(ref)} is ${remote}: remote resources are not fetched`);
    if (ref.includes('\0')) return unsupported(`${file}: ${JSON.stringify(ref)} is not a path`);
    if (ref.startsWith('/') || isAbsolute(ref)) {
      return unsupported(`${file}: ${JSON.stringify(ref)} is an absolute path: only paths inside the repository`);
    }
    const rel = posix.normalize(posix.join(from || '.', ref));
    if (rel === '..' || rel.startsWith('../')) {
      return unsupported(`${file}: ${JSON.stringify(ref)} leaves the repository`);
    }
    if (rel.split('/').includes('.git')) return unsupported(`${file}: ${JSON.stringify(ref)} is inside .git`);
    // No step of the way is a symbolic link (kustomize would follow it out of the checkout).
    const bad = await badStep(root, rel);
    if (bad && !bad.missing) return unsupported(`${file}: ${linked(bad.at).message}`);
    if (bad) {
      // A name that could be a remote reference (host-like first step) says so; another
      // is a file or directory missing from the commit.
      const remoteLike = /^[\w-]+(\.[\w-]+)+(:\d+)?\//.test(ref);
      return remoteLike
        ? unsupported(`${file}: ${JSON.stringify(ref)} is not in the repository (remote resources are not fetched)`)
        : {
            ok: false as const,
            reason: 'NotFound',
            message: `${file}: ${JSON.stringify(ref)} is not in the repository`,
          };
    }
    return { rel: rel === '.' ? '' : rel };
  };

  const visit = async (d: string): Promise<ToolFailure | undefined> => {
    if (seen.has(d)) return undefined;
    seen.add(d);
    if (seen.size > kustomizationsMax) {
      return { ok: false, reason: 'TooLarge', message: `more than ${kustomizationsMax} kustomizations are loaded` };
    }
    if (performance.now() > deadline)
      return { ok: false, reason: 'Timeout', message: 'rendering did not finish in time' };
    const linked = await noLinks(d);
    if (linked) return linked;
    const present: string[] = [];
    for (const f of kustomizationFiles) {
      const st = await lstat(join(root, d, f)).catch(() => undefined);
      if (st?.isFile()) present.push(f);
    }
    if (present.length === 0) return undefined;
    const file = d ? `${d}/${present[0]}` : (present[0] as string);
    if (present.length > 1)
      return unsupported(`${d || '.'} holds more than one kustomization file (${present.join(', ')})`);
    if ((await lstat(join(root, file))).size > kustomizationBytesMax) {
      return { ok: false, reason: 'TooLarge', message: `${file} is larger than ${kustomizationBytesMax} bytes` };
    }
    const docs = await parse(await readFile(join(root, file)), kustomizationBytesMax);
    if ('error' in docs) return { ok: false, reason: 'InvalidManifest', message: `${file}: ${docs.error}` };
    const k = docs[0];
    if (docs.length !== 1 || typeof k !== 'object' || k === null || Array.isArray(k)) {
      return { ok: false, reason: 'InvalidManifest', message: `${file}: must be one kustomization object` };
    }
    const checkFile = async (ref: unknown, field: string): Promise<ToolFailure | undefined> => {
      if (typeof ref !== 'string') {
        return { ok: false, reason: 'InvalidManifest', message: `${file}: ${field} must name files` };
      }
      const r = await resolveRef(d, file, ref);
      return 'ok' in r ? r : undefined;
    };
    for (const [field, value] of Object.entries(k as Record<string, unknown>)) {
      const why = refused[field];
      if (why) return unsupported(`${file}: ${field} is not supported: ${why}`);
      if (plainFields.has(field)) continue;
      if (!fileFields.has(field) && !resourceFields.has(field)) {
        return unsupported(
          `${file}: the field ${field.slice(0, 64)} is not supported by the hub's kustomize pre-check`,
        );
      }
      if (field === 'openapi') {
        if (typeof value === 'object' && value !== null && 'path' in value) {
          const bad = await checkFile((value as { path: unknown }).path, 'openapi.path');
          if (bad) return bad;
        }
        continue;
      }
      if (!Array.isArray(value)) {
        if (value === null) continue;
        return { ok: false, reason: 'InvalidManifest', message: `${file}: ${field} must be a list` };
      }
      for (const entry of value as unknown[]) {
        if (resourceFields.has(field)) {
          if (typeof entry !== 'string') {
            return { ok: false, reason: 'InvalidManifest', message: `${file}: ${field} must be a list of paths` };
          }
          const r = await resolveRef(d, file, entry);
          if ('ok' in r) return r;
          const st = await lstat(join(root, r.rel));
          if (st.isDirectory()) {
            const bad = await visit(r.rel);
            if (bad) return bad;
          } else if (!st.isFile()) return unsupported(`${file}: ${entry} is not a file or directory`);
          continue;
        }
        const plugin = field === 'generators' || field === 'transformers' || field === 'validators';
        if (typeof entry === 'string') {
          // patchesStrategicMerge and the plugin lists take inline YAML as well as file names.
          if (entry.includes('\n') || /^\s*[{[]/.test(entry)) {
            if (!plugin) continue;
            const docs = await parse(Buffer.from(entry), kustomizationBytesMax);
            if ('error' in docs)
              return { ok: false, reason: 'InvalidManifest', message: `${file}: ${field}: ${docs.error}` };
            const bad = pluginProblem(docs);
            if (bad) return unsupported(`${file}: ${field}: ${bad}`);
            continue;
          }
          const r = await resolveRef(d, file, entry);
          if ('ok' in r) return r;
          if (plugin && r.rel !== '') {
            const st = await lstat(join(root, r.rel));
            if (st.isDirectory()) {
              // A directory of plugin configurations: its resources would be configurations
              // too, each of which may name a URL kustomize fetches. Refused: name the files.
              return unsupported(`${file}: ${field}: ${entry} is a directory: name the configuration files themselves`);
            } else {
              // A built-in generator's or transformer's configuration: what it names is read
              // too (through kustomize's loader, which would fetch a URL).
              if (st.size > kustomizationBytesMax) {
                return {
                  ok: false,
                  reason: 'TooLarge',
                  message: `${r.rel} is larger than ${kustomizationBytesMax} bytes`,
                };
              }
              const docs = await parse(await readFile(join(root, r.rel)), kustomizationBytesMax);
              if ('error' in docs) return { ok: false, reason: 'InvalidManifest', message: `${r.rel}: ${docs.error}` };
              const bad = pluginProblem(docs);
              if (bad) return unsupported(`${r.rel}: ${bad}`);
            }
          }
          continue;
        }
        if (typeof entry !== 'object' || entry === null) continue;
        const o = entry as Record<string, unknown>;
        if (plugin) {
          const bad = pluginProblem([o]);
          if (bad) return unsupported(`${file}: ${field}: ${bad}`);
        }
        if (o.path !== undefined) {
          const bad = await checkFile(o.path, `${field}[].path`);
          if (bad) return bad;
        }
        if (o.env !== undefined) {
          const bad = await checkFile(o.env, `${field}[].env`);
          if (bad) return bad;
        }
        for (const key of ['files', 'envs'] as const) {
          const list = o[key];
          if (list === undefined || list === null) continue;
          if (!Array.isArray(list)) {
            return { ok: false, reason: 'InvalidManifest', message: `${file}: ${field}[].${key} must be a list` };
          }
          for (const item of list as unknown[]) {
            // files: "KEY=PATH" or "PATH".
            const ref = typeof item === 'string' && key === 'files' ? item.slice(item.indexOf('=') + 1) : item;
            const bad = await checkFile(ref, `${field}[].${key}`);
            if (bad) return bad;
          }
        }
      }
    }
    return undefined;
  };
  return visit(dir);
}

/** `kustomize build` of `dir` (relative to the checkout at `root`, already pre-checked). */
export async function kustomizeBuild(
  tools: ToolsConfig,
  root: string,
  dir: string,
  o: { deadline: number; maxBytes: number },
): Promise<{ ok: true; stdout: Buffer } | ToolFailure> {
  const file = await findTool(tools.kustomize, tools.searchPath);
  if (!file) {
    return {
      ok: false,
      reason: 'KustomizeMissing',
      message: `kustomize is not installed on the hub (${tools.kustomize} not found: see --kustomize-path)`,
    };
  }
  return inRunHome(tools.workDir, (home) =>
    runTool('kustomize build', file, ['build', '--load-restrictor', 'LoadRestrictionsRootOnly', '--', dir || '.'], {
      cwd: root,
      home,
      ...o,
      signal: tools.signal,
      runner: tools.runner,
    }),
  );
}

/** Helm release names are at most 53 characters: a longer default is cut, with a hash. */
export function releaseNameFor(name: string): string {
  if (name.length <= 53) return name;
  const hash = createHash('sha256').update(name).digest('hex').slice(0, 8);
  return `${name.slice(0, 44).replace(/-+$/, '')}-${hash}`;
}

/**
 * `helm template RELEASE DIR` of the chart in `dir` (relative to the checkout at `root`): its
 * own values.yaml (helm reads it), then spec.helm.valuesFiles in order, then spec.helm.values;
 * --include-crds (the chart's crds/ are rolled out too), --skip-tests (test hooks are not
 * workloads for every cluster).
 */
export async function helmTemplate(
  tools: ToolsConfig,
  root: string,
  dir: string,
  helm: HelmSpec & { releaseName: string },
  o: { deadline: number; maxBytes: number },
): Promise<{ ok: true; stdout: Buffer } | ToolFailure> {
  const file = await findTool(tools.helm, tools.searchPath);
  if (!file) {
    return {
      ok: false,
      reason: 'HelmMissing',
      message: `helm is not installed on the hub (${tools.helm} not found: see --helm-path)`,
    };
  }
  const chartDir = dir || '.';
  const links = await linkCheck(root, o.deadline)(dir);
  if (links) return links;
  const args = ['template', helm.releaseName, `./${chartDir}`, '--include-crds', '--skip-tests'];
  if (helm.namespace) args.push('--namespace', helm.namespace);
  for (const vf of helm.valuesFiles ?? []) {
    const rel = posix.normalize(posix.join(chartDir, vf));
    if (isAbsolute(vf) || rel === '..' || rel.startsWith('../')) {
      return { ok: false, reason: 'Unsupported', message: `spec.helm.valuesFiles: ${vf} leaves the repository` };
    }
    const bad = await badStep(root, rel);
    if (bad?.missing) {
      return { ok: false, reason: 'NotFound', message: `spec.helm.valuesFiles: ${rel} is not in the repository` };
    }
    if (bad) return linked(bad.at);
    args.push('--values', `./${rel}`);
  }
  return inRunHome(tools.workDir, async (home) => {
    if (helm.values && Object.keys(helm.values).length > 0) {
      // JSON is YAML: the inline values as a file of the run's own home, given last (they win).
      const valuesFile = join(home, 'spec-values.json');
      await writeFile(valuesFile, JSON.stringify(helm.values), { mode: 0o600 });
      args.push('--values', valuesFile);
    }
    return runTool('helm template', file, args, { cwd: root, home, ...o, signal: tools.signal, runner: tools.runner });
  });
}
