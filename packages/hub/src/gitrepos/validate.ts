// Validation and normalisation of a submitted GitRepo. Fields Fleet's GitRepo has that this
// hub does not build yet are refused by name ("not supported yet"), never taken and ignored.
import { createHash } from 'node:crypto';
import { posix } from 'node:path';
import { fileURLToPath } from 'node:url';
import { durations, limits, parseDuration } from '@outpost/shared';
import type { Validated } from '../placement/types.ts';
import { invalid, isObject, metadata, Problems } from '../placement/validate.ts';
import { validateOverrides } from '../rollout/overrides.ts';
import { rolloutPolicy } from '../rollout/strategy.ts';
import type { RolloutStrategySpec } from '../rollout/types.ts';
import { credentialsField, webhookField } from './secrets.ts';
import { remoteReference } from './tools.ts';
import { type GitRepo, type GitRepoHelmSpec, type GitRepoSpec, gitRepoApiVersion } from './types.ts';

const dns1123Subdomain = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

/** Fields of Fleet's GitRepo (and of the issue) that are not built yet: refused by name. */
const notYet: Record<string, string> = {
  clientSecretName: 'not supported: give the credentials themselves in spec.credentials (stored sealed)',
  helmSecretName: 'Helm repository credentials are not supported yet',
  caBundle: 'custom CA bundles are not supported yet',
  insecureSkipTLSVerify: 'skipping TLS verification is not supported',
  targets:
    'not supported: placementRef selects the clusters, and spec.overrides (clusterSelector and patches) varies them',
  kustomize: 'not needed: a path whose directory holds a kustomization is built with kustomize',
  disablePolling: 'not supported: set pollingInterval to "0" to disable polling',
};

const knownSpec = [
  'repo',
  'branch',
  'revision',
  'paths',
  'pollingInterval',
  'placementRef',
  'rolloutStrategy',
  'paused',
  'overrides',
  'templating',
  'maxDeleteShare',
  'helm',
  'credentials',
  'webhook',
];

/** Fields of spec.helm (Fleet's and Argo CD's) that are not built: refused by name. */
const helmNotYet: Record<string, string> = {
  repo: 'chart repositories are not supported: vendor the chart in the Git repository (a path holding its Chart.yaml)',
  chart: 'remote charts are not supported: the chart is the path holding a Chart.yaml',
  version: 'remote charts are not supported: the chart is the path holding a Chart.yaml',
  valuesFrom: 'values from Secrets or ConfigMaps are not supported: give values or valuesFiles',
  templateValues:
    'values by cluster label are not supported: per-cluster variation is done with the workset overrides (spec.overrides)',
  postRenderer: 'post-renderers are not supported',
  skipCRDs: "not supported: the chart's crds/ are always rendered",
};

/** Largest spec.helm.values, as JSON. */
const helmValuesBytesMax = 256 * 1024;

/** A path as the repository names it: relative, "/"-separated, without "." or ".." steps
 *  ("." for the whole repository); undefined when it is none. */
export function normalisePath(p: string): string | undefined {
  if (p === '' || p.startsWith('/') || p.includes('\\') || p.includes('\0')) return undefined;
  const steps = p.split('/').filter((s) => s !== '' && s !== '.');
  if (steps.some((s) => s === '..' || s === '.git')) return undefined;
  return steps.length ? steps.join('/') : '.';
}

/** Workset names stay within a DNS-1123 label's 63 characters, so their works' names are valid too. */
const nameMax = 63;

/**
 * The workset a path of a GitRepo is rolled out by: the GitRepo's name and a slug of the path
 * ("." is `root`), cut to 63 characters with a hash of the path when longer.
 */
export function workSetNameFor(gitRepo: string, path: string): string {
  const slug =
    path === '.'
      ? 'root'
      : path
          .toLowerCase()
          .replace(/[^a-z0-9]+/g, '-')
          .replace(/^-+|-+$/g, '') || 'path';
  const full = `${gitRepo}-${slug}`;
  if (full.length <= nameMax && dns1123Subdomain.test(full)) return full;
  const hash = createHash('sha256').update(path).digest('hex').slice(0, 8);
  const head = `${gitRepo}-${slug}`.slice(0, nameMax - 9).replace(/[-.]+$/, '');
  return `${head}-${hash}`;
}

/** Milliseconds of a pollingInterval, 0 for none (disabled); undefined when it is not one. */
export function pollingMs(v: string | undefined): number | undefined {
  if (v === undefined) return durations.gitPollDefaultMs;
  return parseDuration(v);
}

/** Why `url` (ssh://[user@]host[:port]/path or user@host:path) is no ssh repository URL to
 *  take; undefined when it is one. No host, user or path may start with "-" (an option to ssh). */
function sshUrlProblem(url: string): string | undefined {
  if (url.length > 2048 || /[\s\0'"\\`$;&|<>]/.test(url)) {
    return 'must be an ssh URL of at most 2048 characters without spaces, quotes or shell characters';
  }
  if (url.startsWith('ssh://')) {
    try {
      const u = new URL(url);
      if (u.password)
        return 'UNSUPPORTED_FIELD: credentials in the URL are not supported: give them in spec.credentials';
      if (!u.hostname || u.hostname.startsWith('-') || u.username.startsWith('-') || u.pathname.length < 2) {
        return 'must be ssh://[USER@]HOST[:PORT]/PATH';
      }
      return undefined;
    } catch {
      return 'must be ssh://[USER@]HOST[:PORT]/PATH';
    }
  }
  const m = /^([\w.-]+)@([\w.-]+):(.+)$/.exec(url);
  if (!m || m[1]?.startsWith('-') || m[2]?.startsWith('-') || m[3]?.startsWith('-')) return 'must be USER@HOST:PATH';
  return undefined;
}

const refName = /^[A-Za-z0-9._/+-]+$/;

function refProblem(v: string): string | undefined {
  if (v.length > 255 || !refName.test(v) || v.startsWith('-') || v.includes('..') || v.endsWith('/')) {
    return 'must be a Git branch, tag or commit name';
  }
  return undefined;
}

/**
 * Validates a GitRepo. The normalised value has apiVersion set, paths defaulted (["."]) and
 * normalised, and no status (the controller's).
 */
export function validateGitRepo(input: unknown, pathName?: string): Validated<GitRepo, 'GITREPO_INVALID'> {
  const p = new Problems();
  if (!isObject(input)) {
    p.add('', 'must be a GitRepo object');
    return invalid('GITREPO_INVALID', 'GitRepo', p);
  }
  if (input.apiVersion !== undefined && input.apiVersion !== gitRepoApiVersion) {
    p.add('apiVersion', `must be ${gitRepoApiVersion}`);
  }
  if (input.kind !== undefined && input.kind !== 'GitRepo') p.add('kind', 'must be GitRepo');
  p.unknownFields(input, ['apiVersion', 'kind', 'metadata', 'spec', 'status'], '');
  const meta = metadata(input.metadata, p, pathName);
  const spec = input.spec;
  if (!isObject(spec)) {
    p.add('spec', 'must be an object');
    return invalid('GITREPO_INVALID', 'GitRepo', p);
  }
  for (const k of Object.keys(spec)) {
    const why = notYet[k];
    if (why) p.add(`spec.${k}`, `UNSUPPORTED_FIELD: ${why}`);
    else if (!knownSpec.includes(k)) p.add(`spec.${k.slice(0, 64)}`, 'unknown field');
  }

  const out: GitRepoSpec = { repo: '', paths: ['.'], placementRef: { name: '' } };
  if (typeof spec.repo !== 'string' || spec.repo === '')
    p.add('spec.repo', 'is required: an http(s):// or file:// URL');
  else if (/^ssh:\/\/|^[\w.-]+@[\w.-]+:/.test(spec.repo)) {
    const why = sshUrlProblem(spec.repo);
    if (why) p.add('spec.repo', why);
    else if (spec.credentials === undefined) {
      p.add('spec.repo', 'ssh repositories need spec.credentials: {sshPrivateKey, knownHosts}');
    } else out.repo = spec.repo;
  } else if (!/^(https?|file):\/\//.test(spec.repo)) {
    p.add('spec.repo', 'must be an http://, https:// or file:// URL');
  } else if (spec.repo.length > 2048 || /[\s\0]/.test(spec.repo)) {
    p.add('spec.repo', 'must be a URL of at most 2048 characters without spaces');
  } else {
    try {
      const u = new URL(spec.repo);
      if (u.username || u.password)
        p.add(
          'spec.repo',
          'UNSUPPORTED_FIELD: credentials in the URL are not supported (a URL shows in process lists and logs): give them in spec.credentials',
        );
      out.repo = spec.repo;
    } catch {
      p.add('spec.repo', 'must be a URL');
    }
  }

  if (spec.branch !== undefined && spec.revision !== undefined) {
    p.add('spec.revision', 'give branch or revision, not both');
  }
  for (const k of ['branch', 'revision'] as const) {
    const v = spec[k];
    if (v === undefined) continue;
    if (typeof v !== 'string' || v === '') p.add(`spec.${k}`, 'must be a non-empty string');
    else {
      const why = refProblem(v);
      if (why) p.add(`spec.${k}`, why);
      else out[k] = v;
    }
  }

  if (spec.paths !== undefined) {
    if (!Array.isArray(spec.paths) || spec.paths.length === 0) p.add('spec.paths', 'must be a non-empty list');
    else if (spec.paths.length > limits.gitRepoPathsMax) p.add('spec.paths', `at most ${limits.gitRepoPathsMax} paths`);
    else {
      const paths: string[] = [];
      const names = new Map<string, number>();
      spec.paths.forEach((v, i) => {
        const f = `spec.paths[${i}]`;
        const norm = typeof v === 'string' && v.length <= 1024 ? normalisePath(v) : undefined;
        if (norm === undefined) {
          p.add(f, 'must be a relative path inside the repository (no "..", no ".git")');
          return;
        }
        if (paths.includes(norm)) {
          p.add(f, `names ${norm} twice`);
          return;
        }
        const name = typeof meta.name === 'string' ? workSetNameFor(meta.name, norm) : '';
        const other = names.get(name);
        if (other !== undefined) {
          p.add(f, `its workset name ${name} is the same as spec.paths[${other}]'s: rename a directory`);
          return;
        }
        names.set(name, i);
        paths.push(norm);
      });
      out.paths = paths;
    }
  }

  if (spec.pollingInterval !== undefined) {
    const ms = typeof spec.pollingInterval === 'string' ? parseDuration(spec.pollingInterval) : undefined;
    if (ms === undefined)
      p.add('spec.pollingInterval', 'must be a duration such as "15s" or "1m" ("0" disables polling)');
    else if (ms !== 0 && ms < durations.gitPollMinMs) {
      p.add('spec.pollingInterval', `must be at least ${durations.gitPollMinMs / 1000}s (or "0" to disable polling)`);
    } else out.pollingInterval = spec.pollingInterval as string;
  }

  const ref = spec.placementRef;
  if (!isObject(ref)) p.add('spec.placementRef', 'is required: {name: PLACEMENT} of this namespace');
  else {
    p.unknownFields(ref, ['name'], 'spec.placementRef');
    if (typeof ref.name !== 'string' || ref.name.length > 253 || !dns1123Subdomain.test(ref.name)) {
      p.add('spec.placementRef.name', 'must be the name of a Placement');
    } else out.placementRef = { name: ref.name };
  }

  if (spec.rolloutStrategy !== undefined) {
    // The workset's own validation of a strategy, under this field's name.
    const policy = rolloutPolicy(spec.rolloutStrategy, 'spec.rolloutStrategy', p);
    if (isObject(spec.rolloutStrategy)) {
      out.rolloutStrategy = { ...spec.rolloutStrategy, type: policy.type } as RolloutStrategySpec;
    }
  }
  if (spec.paused !== undefined) {
    if (typeof spec.paused !== 'boolean') p.add('spec.paused', 'must be true or false');
    // false is the default: kept as absent, so that a resumed GitRepo equals one never paused.
    else if (spec.paused) out.paused = true;
  }
  if (spec.templating !== undefined) {
    if (typeof spec.templating !== 'boolean') p.add('spec.templating', 'must be true or false');
    else if (spec.templating) out.templating = true;
  }
  if (spec.overrides !== undefined) {
    // A workset's overrides, validated by its own code (the workset's validation runs again
    // on every path's workset, with its manifests).
    const overrides = validateOverrides(spec.overrides, 'spec.overrides', p, out.templating === true);
    if (overrides.length) out.overrides = overrides;
  }
  if (spec.maxDeleteShare !== undefined) {
    const v = spec.maxDeleteShare;
    if (typeof v !== 'number' || !Number.isFinite(v) || v < 0 || v > 1) {
      p.add(
        'spec.maxDeleteShare',
        'must be a number from 0 to 1 (the share of a path’s objects one commit may delete unconfirmed)',
      );
    } else out.maxDeleteShare = v;
  }
  if (spec.helm !== undefined) {
    const helm = validateHelm(spec.helm, out.paths, p);
    if (helm?.releaseName && out.paths.length > 1) {
      p.add('spec.helm.releaseName', 'names one release: give it only with a single path (the default is per path)');
    }
    if (helm && Object.keys(helm).length > 0) out.helm = helm;
  }
  if (spec.credentials !== undefined) {
    const c = credentialsField(spec.credentials, p);
    if (c) out.credentials = c;
  }
  if (spec.webhook !== undefined) {
    const w = webhookField(spec.webhook, p);
    if (w) out.webhook = w;
  }
  if (!p.empty) return invalid('GITREPO_INVALID', 'GitRepo', p);
  return { ok: true, value: { apiVersion: gitRepoApiVersion, kind: 'GitRepo', metadata: meta, spec: out } };
}

const dns1123Label = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

/** spec.helm checked (unknown fields refused by name); undefined when it is not an object. */
function validateHelm(helm: unknown, paths: string[], p: Problems): GitRepoHelmSpec | undefined {
  if (!isObject(helm)) {
    p.add('spec.helm', 'must be an object: {releaseName, namespace, values, valuesFiles}');
    return undefined;
  }
  const out: GitRepoHelmSpec = {};
  for (const k of Object.keys(helm)) {
    const why = helmNotYet[k];
    if (why) p.add(`spec.helm.${k}`, `UNSUPPORTED_FIELD: ${why}`);
    else if (!['releaseName', 'namespace', 'values', 'valuesFiles'].includes(k)) {
      p.add(`spec.helm.${k.slice(0, 64)}`, 'unknown field');
    }
  }
  if (helm.releaseName !== undefined) {
    const v = helm.releaseName;
    if (typeof v !== 'string' || v.length > 53 || !dns1123Label.test(v)) {
      p.add('spec.helm.releaseName', 'must be a Helm release name: at most 53 characters of a-z, 0-9 and -');
    } else out.releaseName = v;
  }
  if (helm.namespace !== undefined) {
    const v = helm.namespace;
    if (typeof v !== 'string' || v.length > 63 || !dns1123Label.test(v)) {
      p.add('spec.helm.namespace', 'must be a namespace name (a DNS-1123 label)');
    } else out.namespace = v;
  }
  if (helm.values !== undefined) {
    if (!isObject(helm.values)) p.add('spec.helm.values', 'must be an object of values');
    else if (JSON.stringify(helm.values).length > helmValuesBytesMax) {
      p.add('spec.helm.values', `must be at most ${helmValuesBytesMax} bytes as JSON`);
    } else out.values = helm.values;
  }
  if (helm.valuesFiles !== undefined) {
    if (!Array.isArray(helm.valuesFiles) || helm.valuesFiles.length > 32) {
      p.add('spec.helm.valuesFiles', 'must be a list of at most 32 files');
    } else {
      const files: string[] = [];
      helm.valuesFiles.forEach((v, i) => {
        const f = `spec.helm.valuesFiles[${i}]`;
        if (
          typeof v !== 'string' ||
          v === '' ||
          v.length > 1024 ||
          v.startsWith('/') ||
          v.includes('\\') ||
          v.includes('\0') ||
          remoteReference(v) !== undefined ||
          v.split('/').includes('.git')
        ) {
          p.add(f, "must be a file of the repository, relative to the chart's directory (no URL, no absolute path)");
        } else if (paths.some((path) => posix.normalize(posix.join(path, v)).startsWith('..'))) {
          p.add(f, 'leaves the repository (from a path of spec.paths)');
        } else files.push(v);
      });
      out.valuesFiles = files;
    }
  }
  return out;
}

/**
 * Why a file:// repository may not be read on this hub (undefined: it may). Only under
 * `root` (the hub's --git-file-root), as the path is written; the controller checks it again
 * with symbolic links resolved before it runs git.
 */
export function fileRepoProblem(repo: string, root: string | undefined): string | undefined {
  if (!repo.startsWith('file://')) return undefined;
  if (!root) return 'file:// repositories are off on this hub (its --git-file-root names where they may be)';
  let path: string;
  try {
    path = posix.resolve(fileURLToPath(repo));
  } catch {
    return 'must be a file:// URL of a local path';
  }
  const base = posix.resolve(root);
  if (path !== base && !path.startsWith(`${base}/`)) return `file:// repositories must be under ${base} on this hub`;
  return undefined;
}
