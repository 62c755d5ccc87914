// The GitRepo controller (a singleton duty: it runs on the replica that leads). Per GitRepo,
// every pollingInterval (plus jitter), at most limits.gitFetchConcurrency at once: ask the
// remote for its commit (`git ls-remote`, which fetches nothing); when it is not the one
// rendered, fetch it shallow into the GitRepo's own directory of the cache
// (DATA_DIR/gitrepos/UID), render each path (render.ts) and write each path's workset through
// the workset API's own code (the body thread's workset job validates it; the store writes
// it), then tell the workset controller. It owns the GitRepo's status.
//
// Safety: an unreachable remote, a missing git, a bad file, an unsupported path or a workset
// of the same name that is not this GitRepo's changes nothing: the previous worksets stay as
// they are and the status says why (the failing file and line). Worksets are deleted only on
// an explicit instruction: a path removed from spec.paths, or the GitRepo deleted.
import { lstat, mkdir, readdir, realpath, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { type Condition, durations, limits, OutpostError } from '@outpost/shared';
import type { Logger } from 'pino';
import { CommandRunner } from '../commands/index.ts';
import { type BodyThread, RawBody, type WorkSetBody } from '../parse/index.ts';
import { type ManifestWorkReplicaSetStatus, type WorkSetSummary, workSetApiVersion } from '../rollout/index.ts';
import { type ObjectRow, type ObjectWrite, objectKey, type Store, splitObjectKey } from '../store/index.ts';
import { saveTexts } from '../work/texts.ts';
import {
  confirmationOf,
  defaultMaxDeleteShare,
  deletionsConfirmedAnnotation,
  heldDeletions,
  isConfirmed,
} from './breaker.ts';
import { checkout, type GitEnv, GitError, remoteCommit, sweepGitTemp } from './git.ts';
import { renderPath } from './render.ts';
import { openCredentials, type SecretBox, secretTexts, tokenUsername } from './secrets.ts';
import { releaseNameFor } from './tools.ts';
import type { GitRepoPathHeld, GitRepoPathStatus, GitRepoSpec, GitRepoStatus } from './types.ts';
import { fileRepoProblem, pollingMs, workSetNameFor } from './validate.ts';

/** The label that marks a workset as made by a GitRepo (its value is the GitRepo's name). */
export const gitRepoLabel = 'outpost.dev/gitrepo';
/** The commit and path of the repository a workset (and every work it makes) came from. */
export const gitCommitAnnotation = 'outpost.dev/git-commit';
export const gitPathAnnotation = 'outpost.dev/git-path';

export interface GitRepoControllerDeps {
  store: Store;
  log: Pick<Logger, 'info' | 'warn' | 'error'>;
  /** A body thread of the controller's own: manifest files and worksets are read there. */
  bodies: BodyThread;
  /** DATA_DIR/gitrepos: a directory per GitRepo, and git's empty HOME. */
  cacheDir: string;
  /** Where `git` is looked for (and helm and kustomize, when given by name). */
  gitSearchPath: string;
  /** Where file:// GitRepos may point (--git-file-root); absent: file:// is refused. */
  fileRoot?: string | undefined;
  /** helm and kustomize: paths, or names looked up in gitSearchPath (default "helm", "kustomize"). */
  helmPath?: string;
  kustomizePath?: string;
  maxWorkBytes: number;
  /** A workset was written or deleted: its controller reconciles it. */
  onWorkSetChanged: (namespace: string, name: string) => void;
  /** Whether this replica does the singleton duties now. */
  active: () => boolean;
  now?: () => number;
  /** Test hooks: how often due GitRepos are looked for and statuses refreshed. */
  tickMs?: number;
  statusMs?: number;
  gitTimeoutMs?: number;
  /** Unseals GitRepo credentials (secrets.ts). */
  secrets?: SecretBox | undefined;
}

interface Memory {
  due: number;
  /** The GitRepo (uid), commit, generation and deletions confirmation last rendered without a
   *  problem, or with paths held only by the deletion breaker (nothing to do until one
   *  changes; a failed render is tried again at every poll). */
  rendered?: { uid: string; commit: string; generation: number; confirmed: string };
}

const noSummary = (): WorkSetSummary => ({ total: 0, applied: 0, available: 0, degraded: 0, progressing: 0 });

export class GitRepoController {
  readonly #d: GitRepoControllerDeps;
  readonly #memory = new Map<string, Memory>();
  readonly #running = new Set<string>();
  #timer: NodeJS.Timeout | undefined;
  #statusTimer: NodeJS.Timeout | undefined;
  #closed = false;
  #swept = false;
  #inFlight = new Set<Promise<void>>();
  /** Aborted on close: running git commands are killed, so a stop never waits for a fetch. */
  readonly #stopping = new AbortController();
  /** Runs git, kustomize and helm from a helper process (a spawn from the hub blocks its event loop). */
  readonly #runner = new CommandRunner();

  constructor(deps: GitRepoControllerDeps) {
    this.#d = deps;
  }

  #now(): number {
    return this.#d.now?.() ?? Date.now();
  }

  get #env(): GitEnv {
    return {
      searchPath: this.#d.gitSearchPath,
      home: join(this.#d.cacheDir, '.home'),
      ...(this.#d.gitTimeoutMs ? { timeoutMs: this.#d.gitTimeoutMs } : {}),
      signal: this.#stopping.signal,
      runner: this.#runner,
    };
  }

  /** git's environment for `row`: its credentials unsealed for the commands of this sync only. */
  #envFor(row: ObjectRow, spec: GitRepoSpec): GitEnv {
    let c: ReturnType<typeof openCredentials>;
    try {
      c = openCredentials(spec, this.#d.secrets, row.namespace, row.name);
    } catch (err) {
      throw new GitError('GIT_CREDENTIALS', `${(err as Error).message}; nothing is fetched`);
    }
    if (!c) return this.#env;
    if (c.type === 'ssh') {
      return { ...this.#env, ssh: { privateKey: c.sshPrivateKey, knownHosts: c.knownHosts }, secrets: secretTexts(c) };
    }
    const auth =
      c.type === 'token'
        ? { username: tokenUsername, password: c.token, url: spec.repo }
        : { username: c.username, password: c.password, url: spec.repo };
    return { ...this.#env, auth, secrets: secretTexts(c) };
  }

  /** Every GitRepo is due now (a full pass when this replica starts leading). */
  async start(): Promise<void> {
    await mkdir(join(this.#d.cacheDir, '.home'), { recursive: true, mode: 0o700 });
    // A key file a killed hub left behind goes, at the first start only (later ones may
    // overlap a sync of an earlier lead still running).
    if (!this.#swept) {
      this.#swept = true;
      await sweepGitTemp(join(this.#d.cacheDir, '.home'));
    }
    const rows = await this.#d.store.gitrepos.all();
    const now = this.#now();
    for (const r of rows) {
      const m = this.#memory.get(objectKey(r));
      if (m) m.due = now;
      else this.#memory.set(objectKey(r), { due: now });
    }
    await this.#sweepOrphans(rows);
    if (!this.#timer) {
      this.#timer = setInterval(() => this.#tick(), this.#d.tickMs ?? 1_000);
      this.#timer.unref();
      this.#statusTimer = setInterval(() => void this.#refreshAll(), this.#d.statusMs ?? 5_000);
      this.#statusTimer.unref();
    }
    this.#tick();
  }

  /** A GitRepo was created, changed or deleted (the API): looked at now. */
  changed(namespace: string, name: string): void {
    const key = objectKey({ namespace, name });
    const m = this.#memory.get(key);
    if (m) m.due = 0;
    else this.#memory.set(key, { due: 0 });
    this.#tick();
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#stopping.abort();
    clearInterval(this.#timer);
    clearInterval(this.#statusTimer);
    await Promise.allSettled([...this.#inFlight]);
    await this.#runner.close();
  }

  /** Starts the due GitRepos, up to the concurrency bound. */
  #tick(): void {
    if (this.#closed || !this.#d.active()) return;
    const now = this.#now();
    const due = [...this.#memory.entries()].filter(([k, m]) => m.due <= now && !this.#running.has(k));
    due.sort((a, b) => a[1].due - b[1].due);
    for (const [key] of due) {
      if (this.#running.size >= limits.gitFetchConcurrency) break;
      this.#running.add(key);
      const run = this.#sync(key)
        .catch((err: unknown) => {
          this.#d.log.error({ err, gitrepo: key }, 'syncing a GitRepo failed; retrying');
          const m = this.#memory.get(key);
          if (m) m.due = this.#now() + durations.workSetRetryMs;
        })
        .finally(() => {
          this.#running.delete(key);
          this.#inFlight.delete(run);
          if (!this.#closed) setImmediate(() => this.#tick());
        });
      this.#inFlight.add(run);
    }
  }

  /** When `row` is next due: its interval plus up to a fifth of it; never with polling off. */
  #nextDue(spec: GitRepoSpec): number {
    const ms = pollingMs(spec.pollingInterval) ?? durations.gitPollDefaultMs;
    if (ms === 0) return Number.POSITIVE_INFINITY;
    return this.#now() + ms * (1 + Math.random() * durations.gitPollJitter);
  }

  async #sync(key: string): Promise<void> {
    const { store } = this.#d;
    const { namespace, name } = splitObjectKey(key);
    const row = await store.gitrepos.get(namespace, name);
    const memory = this.#memory.get(key) ?? { due: 0 };
    if (!row) {
      // Deleted: an explicit instruction, so the worksets it made go, and its cache.
      this.#memory.delete(key);
      await this.#deleteWorkSets(namespace, name, new Set());
      await this.#dropCaches();
      return;
    }
    const spec = row.spec as unknown as GitRepoSpec;
    memory.due = this.#nextDue(spec);
    this.#memory.set(key, memory);
    const prior = (row.status as GitRepoStatus | null) ?? undefined;
    const wanted = new Map(spec.paths.map((p) => [p, workSetNameFor(name, p)]));
    const conditions: Condition[] = [];
    const pathErrors = new Map<string, string>();
    const pathHeld = new Map<string, GitRepoPathHeld>();

    if (spec.paused) {
      // Nothing fetched; what was rolled out stays, its worksets paused.
      for (const ws of wanted.values()) await this.#setPaused(namespace, ws, name, true);
      conditions.push(cond('Fetched', 'False', 'Paused', 'the GitRepo is paused: nothing is fetched'));
      await this.#writeStatus(row, { conditions, pathErrors, commit: prior?.commit, fetchedAt: prior?.fetchedAt });
      return;
    }

    let commit: string;
    let ref: string | undefined;
    const fetchedAt = new Date(this.#now()).toISOString();
    /** Not fetched: Fetched=False, the last commit kept; nothing else changes. */
    const notFetched = async (reason: string, message: string) => {
      conditions.push(cond('Fetched', 'False', reason, message));
      await this.#writeStatus(row, { conditions, pathErrors, commit: prior?.commit, fetchedAt: prior?.fetchedAt });
    };
    const fetchFailed = async (err: unknown) => {
      // Stopping: the command was killed for that, not the repository's doing.
      if (this.#closed) return;
      const e = gitProblem(err);
      await notFetched(e.reason, e.message);
    };
    // file:// only under the hub's --git-file-root, symbolic links resolved (the API checked
    // the path as written; a link under the root may point elsewhere).
    const local = await this.#fileRepoProblem(spec.repo);
    if (local) {
      await notFetched('FileRepoRefused', `${local}; nothing changes on the clusters`);
      return;
    }
    // The credentials are unsealed once, for this sync's commands.
    let env: GitEnv;
    try {
      env = this.#envFor(row, spec);
      ({ commit, ref } = await remoteCommit(env, spec.repo, spec));
    } catch (err) {
      await fetchFailed(err);
      return;
    }
    const what = spec.revision ? `revision ${spec.revision}` : spec.branch ? `branch ${spec.branch}` : 'HEAD';

    const done = memory.rendered;
    const confirmed = row.annotations[deletionsConfirmedAnnotation] ?? '';
    if (
      done &&
      done.uid === row.uid &&
      done.commit === commit &&
      done.generation === row.generation &&
      done.confirmed === confirmed
    ) {
      for (const ws of wanted.values()) await this.#setPaused(namespace, ws, name, false);
      conditions.push(cond('Fetched', 'True', 'Fetched', `commit ${commit} of ${what}`));
      await this.#writeStatus(row, { conditions, pathErrors, commit, fetchedAt, unchanged: true });
      return;
    }

    const dir = join(this.#d.cacheDir, row.uid);
    try {
      await mkdir(dir, { recursive: true, mode: 0o700 });
      commit = await checkout(env, dir, spec.repo, ref, commit);
    } catch (err) {
      await fetchFailed(err);
      return;
    }
    conditions.push(cond('Fetched', 'True', 'Fetched', `commit ${commit} of ${what}`));

    const size = await treeBytes(dir, limits.gitCheckoutBytesMax);
    if (size > limits.gitCheckoutBytesMax) {
      const message = `the repository at ${commit} holds more than ${limits.gitCheckoutBytesMax} bytes of files; nothing is rolled out`;
      conditions.push(cond('Rendered', 'False', 'TooLarge', message));
      await this.#writeStatus(row, { conditions, pathErrors, commit, fetchedAt });
      return;
    }

    const deadline = performance.now() + durations.gitRenderTimeoutMs;
    for (const [path, ws] of wanted) {
      const out = await renderPath(dir, path, {
        maxBytes: this.#d.maxWorkBytes,
        deadline,
        parse: (...args) => this.#d.bodies.documents(...args),
        tools: {
          helm: this.#d.helmPath ?? 'helm',
          kustomize: this.#d.kustomizePath ?? 'kustomize',
          searchPath: this.#d.gitSearchPath,
          workDir: join(this.#d.cacheDir, '.tools'),
          signal: this.#stopping.signal,
          runner: this.#runner,
        },
        helm: { ...spec.helm, releaseName: spec.helm?.releaseName ?? releaseNameFor(ws) },
      });
      // Stopping: the tool was killed for that; the next leader renders again.
      if (this.#closed) return;
      if (!out.ok) {
        pathErrors.set(path, `${out.reason}: ${out.message}`);
        continue;
      }
      const problem = await this.#writeWorkSet(row, spec, path, ws, commit, out.manifests, out.origins);
      if (typeof problem === 'string') pathErrors.set(path, problem);
      else if (problem) {
        pathHeld.set(path, problem);
        pathErrors.set(
          path,
          `DeletionsHeld: commit ${commit.slice(0, 12)} would delete ${problem.deleting} of the ${problem.of} objects of ${path} (${problem.objects.join(', ')}${problem.deleting > problem.objects.length ? ', …' : ''}); the previous commit stays until \`outpost-hub gitrepo confirm-deletions ${name} -n ${namespace}\``,
        );
      }
    }
    // Paths no longer asked for: their worksets go (spec.paths is the instruction).
    await this.#deleteWorkSets(namespace, name, new Set(wanted.values()));
    // Held paths alone: rendered as far as can be until someone confirms (the annotation is
    // part of what is remembered), so polls do not render them again meanwhile.
    const onlyHeld = [...pathErrors.keys()].every((p) => pathHeld.has(p));
    memory.rendered = onlyHeld ? { uid: row.uid, commit, generation: row.generation, confirmed } : undefined;
    if (pathErrors.size === 0) {
      conditions.push(cond('Rendered', 'True', 'Rendered', `every path rendered at ${commit}`));
    } else {
      const [first] = pathErrors.values();
      const reason = (first ?? '').split(':')[0] || 'RenderFailed';
      const message = [...pathErrors.entries()].map(([p, e]) => `${p}: ${e}`).join('; ');
      conditions.push(cond('Rendered', 'False', reason, `${message.slice(0, 2000)} (the previous rollout stands)`));
    }
    await this.#writeStatus(row, { conditions, pathErrors, pathHeld, commit, fetchedAt });
  }

  async #fileRepoProblem(repo: string): Promise<string | undefined> {
    const lexical = fileRepoProblem(repo, this.#d.fileRoot);
    if (lexical || !repo.startsWith('file://') || !this.#d.fileRoot) return lexical;
    try {
      const real = await realpath(fileURLToPath(repo));
      return fileRepoProblem(pathToFileURL(real).href, await realpath(this.#d.fileRoot));
    } catch {
      // Not there: git says so (Unreachable), as for any remote.
      return undefined;
    }
  }

  /**
   * Writes the workset of one path (as PUT of the workset API: validated on the body thread,
   * its texts stored ahead, created or replaced in one transaction). Returns why not: a
   * problem, or the deletions the breaker holds (breaker.ts).
   */
  async #writeWorkSet(
    row: ObjectRow,
    spec: GitRepoSpec,
    path: string,
    wsName: string,
    commit: string,
    manifests: string[],
    origins: string[],
  ): Promise<string | GitRepoPathHeld | undefined> {
    const { store } = this.#d;
    const { namespace, name } = row;
    const head = {
      apiVersion: workSetApiVersion,
      kind: 'ManifestWorkReplicaSet',
      metadata: {
        name: wsName,
        namespace,
        labels: { [gitRepoLabel]: name },
        annotations: { [gitCommitAnnotation]: commit, [gitPathAnnotation]: path },
      },
    };
    const refs = [
      { name: spec.placementRef.name, ...(spec.rolloutStrategy ? { rolloutStrategy: spec.rolloutStrategy } : {}) },
    ];
    const extras = `${spec.overrides ? `"overrides":${JSON.stringify(spec.overrides)},` : ''}${spec.templating ? '"templating":true,' : ''}`;
    // The manifests are JSON texts already (render.ts): joined, never parsed or serialised
    // here; the body thread reads and validates the whole as the workset API's PUT does.
    const text = `${JSON.stringify(head).slice(0, -1)},"spec":{"placementRefs":${JSON.stringify(refs)},${extras}"manifestWorkTemplate":{"workload":{"manifests":[${manifests.join(',')}]}}}}`;
    let w: WorkSetBody;
    try {
      w = await this.#d.bodies.workset(new RawBody('json', Buffer.from(text)), wsName, this.#d.maxWorkBytes);
    } catch (err) {
      if (err instanceof OutpostError) {
        // The workset's validation names a manifest by index: said with its file and line.
        const said = err.message.replace(
          /spec\.manifestWorkTemplate\.workload\.manifests\[(\d+)\]/g,
          (m, i: string) => `${origins[Number(i)] ?? m}`,
        );
        return `InvalidManifest: ${said.slice(0, 1000)}`;
      }
      throw err;
    }
    let breaker: { held?: GitRepoPathHeld; generation: number | undefined };
    try {
      breaker = await this.#breaker(row, spec, path, wsName, w, commit);
    } catch (err) {
      // Never rolled out unchecked: the path waits, and says why.
      return `BreakerFailed: the deletions of ${path} could not be checked (${String((err as Error)?.message ?? err).slice(0, 300)}); the previous commit stays`;
    }
    if (breaker.held) return breaker.held;
    await saveTexts(store, w.specParts);
    const out = await store.transaction(async () => {
      const at = new Date(this.#now()).toISOString();
      const existing = await store.worksets.get(namespace, wsName);
      if (existing && existing.labels[gitRepoLabel] !== name) {
        return {
          problem: `WorkSetConflict: manifestworkreplicaset ${namespace}/${wsName} exists and is not this GitRepo's; it is left as it is`,
        };
      }
      if (existing?.deletionAt)
        return { problem: `WorkSetDeleting: manifestworkreplicaset ${namespace}/${wsName} is being deleted` };
      // The breaker compared against the workset as it was read: changed since, the next poll looks again.
      if (existing?.generation !== breaker.generation) {
        return {
          problem: `WorkSetChanged: manifestworkreplicaset ${namespace}/${wsName} changed meanwhile; tried again`,
        };
      }
      // The commit a workset names is the one its content came from: a commit that changed
      // nothing of this path leaves it (and its works) as they are.
      const annotations = { ...(w.metadata.annotations ?? {}) };
      const before = existing?.annotations[gitCommitAnnotation];
      if (existing && before && existing.renderHash === w.renderHash) annotations[gitCommitAnnotation] = before;
      const write: ObjectWrite = {
        name: wsName,
        namespace,
        labels: w.metadata.labels ?? {},
        annotations,
        specParts: w.specParts,
        specHash: w.specHash,
        specBytes: w.specBytes,
        renderHash: w.renderHash,
        specHead: w.spec as Record<string, unknown>,
      };
      if (!existing) {
        await store.worksets.create(write, at);
        return { changed: true };
      }
      const r = await store.worksets.replace(write, at);
      return { changed: r?.changed === true };
    });
    if ('problem' in out) return out.problem;
    if (out.changed) this.#d.onWorkSetChanged(namespace, wsName);
    return undefined;
  }

  /**
   * The deletion breaker for one path's workset: the identities of its manifests now against
   * those of the commit (read on the body thread). Held unless the commit is the one confirmed.
   * `generation`: the workset's as read (undefined: none yet), checked again when it is written.
   */
  async #breaker(
    row: ObjectRow,
    spec: GitRepoSpec,
    path: string,
    wsName: string,
    w: WorkSetBody,
    commit: string,
  ): Promise<{ held?: GitRepoPathHeld; generation: number | undefined }> {
    const { store, bodies } = this.#d;
    const existing = await store.worksets.get(row.namespace, wsName);
    const generation = existing?.generation;
    if (!existing || existing.labels[gitRepoLabel] !== row.name) return { generation };
    const stored = await store.worksets.specBytes(row.namespace, wsName);
    if (!stored) return { generation };
    const [before, after] = await Promise.all([
      bodies.templateKeys(stored),
      bodies.templateKeys(w.specParts.map((p) => (typeof p.content === 'string' ? Buffer.from(p.content) : p.content))),
    ]);
    const held = heldDeletions(before, after, spec.maxDeleteShare ?? defaultMaxDeleteShare, commit);
    if (!held || isConfirmed(confirmationOf(row.annotations), path, held)) return { generation };
    return { held, generation };
  }

  /** Pauses or resumes one of this GitRepo's worksets (as the workset API's pause does). */
  async #setPaused(namespace: string, wsName: string, owner: string, paused: boolean): Promise<void> {
    const { store } = this.#d;
    const read = await store.transaction(async () => {
      const ws = await store.worksets.get(namespace, wsName);
      if (!ws || ws.deletionAt || ws.labels[gitRepoLabel] !== owner) return undefined;
      const head = await store.worksets.specHead(namespace, wsName);
      if ((head?.head.paused === true) === paused) return undefined;
      return { ws, bytes: (await store.worksets.specBytes(namespace, wsName)) ?? [] };
    });
    if (!read) return;
    const next = await this.#d.bodies.pause(read.bytes, paused);
    await saveTexts(store, next.specParts);
    const changed = await store.transaction(async () => {
      const now = await store.worksets.get(namespace, wsName);
      if (!now || now.uid !== read.ws.uid || now.generation !== read.ws.generation) return false;
      const { spec: specHead, ...text } = next;
      const write = { name: wsName, namespace, labels: now.labels, annotations: now.annotations, specHead, ...text };
      return (await store.worksets.replace(write, new Date(this.#now()).toISOString()))?.changed === true;
    });
    if (changed) this.#d.onWorkSetChanged(namespace, wsName);
  }

  /** Deletes the worksets GitRepo `name` made, but those in `keep`. */
  async #deleteWorkSets(namespace: string, name: string, keep: Set<string>): Promise<void> {
    const { store } = this.#d;
    const gone = await store.transaction(async () => {
      const out: string[] = [];
      let after = `${namespace}/`;
      for (;;) {
        const page = await store.worksets.page(after, 500, namespace);
        for (const ws of page.items) {
          if (ws.labels[gitRepoLabel] !== name || keep.has(ws.name)) continue;
          await store.worksets.delete(namespace, ws.name);
          out.push(ws.name);
        }
        if (!page.continue) break;
        after = page.continue;
      }
      return out;
    });
    for (const ws of gone) this.#d.onWorkSetChanged(namespace, ws);
  }

  /** Worksets of GitRepos deleted while no replica led (the GitRepo API told no one). */
  async #sweepOrphans(rows: ObjectRow[]): Promise<void> {
    const repos = new Set(rows.map((r) => objectKey(r)));
    const orphans = new Set<string>();
    for (const ws of await this.#d.store.worksets.all()) {
      const owner = ws.labels[gitRepoLabel];
      if (owner !== undefined && !repos.has(objectKey({ namespace: ws.namespace, name: owner }))) {
        orphans.add(objectKey({ namespace: ws.namespace, name: owner }));
      }
    }
    for (const key of orphans) {
      const { namespace, name } = splitObjectKey(key);
      await this.#deleteWorkSets(namespace, name, new Set());
    }
    await this.#dropCaches(rows);
  }

  /** Removes the cache directories of GitRepos that are gone. */
  async #dropCaches(rows?: ObjectRow[]): Promise<void> {
    const uids = new Set((rows ?? (await this.#d.store.gitrepos.all())).map((r) => r.uid));
    let entries: string[];
    try {
      entries = await readdir(this.#d.cacheDir);
    } catch {
      return;
    }
    for (const e of entries) {
      if (e.startsWith('.') || uids.has(e)) continue;
      await rm(join(this.#d.cacheDir, e), { recursive: true, force: true });
    }
  }

  /** Every GitRepo's status with its worksets' rollout states of now. */
  async #refreshAll(): Promise<void> {
    if (this.#closed || !this.#d.active()) return;
    try {
      const rows = await this.#d.store.gitrepos.all();
      // Deleted through another replica: its worksets go now.
      const present = new Set(rows.map((r) => objectKey(r)));
      for (const key of [...this.#memory.keys()]) {
        if (!present.has(key) && !this.#running.has(key))
          this.changed(...(Object.values(splitObjectKey(key)) as [string, string]));
      }
      for (const row of rows) {
        const key = objectKey(row);
        // Made or changed through another replica (which told no one here): looked at now.
        const m = this.#memory.get(key);
        if (!m) this.changed(row.namespace, row.name);
        else if (
          (row.status as GitRepoStatus | null)?.observedGeneration !== row.generation &&
          !this.#running.has(key)
        ) {
          m.due = 0;
        }
        if (this.#running.has(key)) continue;
        const prior = row.status as GitRepoStatus | null;
        if (!prior) continue;
        const pathErrors = new Map(prior.paths.filter((p) => p.error).map((p) => [p.path, p.error as string]));
        await this.#writeStatus(row, {
          conditions: prior.conditions.filter((c) => c.type !== 'Ready'),
          pathErrors,
          commit: prior.commit,
          fetchedAt: prior.fetchedAt,
          unchanged: true,
        });
      }
    } catch (err) {
      this.#d.log.warn({ err }, 'refreshing GitRepo statuses failed');
    }
  }

  /**
   * Writes the status: the conditions given (Fetched, and Rendered when rendering ran; an
   * absent one is kept from before), per path its workset's commit and rollout state, the
   * counts, and Ready. Unchanged, nothing is written.
   */
  async #writeStatus(
    row: ObjectRow,
    o: {
      conditions: Condition[];
      pathErrors: Map<string, string>;
      /** The paths whose commit the deletion breaker holds. */
      pathHeld?: Map<string, GitRepoPathHeld>;
      commit?: string | undefined;
      fetchedAt?: string | undefined;
      /** The paths' errors of before stand (nothing was rendered this time). */
      unchanged?: boolean;
    },
  ): Promise<void> {
    const { store } = this.#d;
    const spec = row.spec as unknown as GitRepoSpec;
    const prior = (row.status as GitRepoStatus | null) ?? undefined;
    const summary = noSummary();
    const paths: GitRepoPathStatus[] = [];
    for (const path of spec.paths) {
      const ws = workSetNameFor(row.name, path);
      const w = await store.worksets.get(row.namespace, ws);
      const mine = w && w.labels[gitRepoLabel] === row.name ? w : undefined;
      const st = mine?.status as ManifestWorkReplicaSetStatus | null | undefined;
      const p: GitRepoPathStatus = { path, workset: ws };
      const commit = mine?.annotations[gitCommitAnnotation];
      if (commit) p.commit = commit;
      if (st?.rollout?.state) p.state = st.rollout.state;
      // Why a rollout has problems or waits (a template a cluster cannot fill, an override
      // matching no manifest, clusters failing) is said in the workset's status: shown here too.
      if (st?.rollout?.state && st.rollout.state !== 'Complete' && st.rollout.message) {
        p.message = st.rollout.message.slice(0, 1000);
      }
      if (st?.summary) {
        p.summary = st.summary;
        for (const k of Object.keys(summary) as (keyof WorkSetSummary)[]) summary[k] += st.summary[k];
      }
      const error = o.unchanged ? prior?.paths.find((x) => x.path === path)?.error : o.pathErrors.get(path);
      if (error) p.error = error;
      const held = o.unchanged ? prior?.paths.find((x) => x.path === path)?.held : o.pathHeld?.get(path);
      if (held) p.held = held;
      paths.push(p);
    }
    const now = new Date(this.#now()).toISOString();
    const conditions = new Map<string, Condition>();
    for (const c of prior?.conditions ?? []) conditions.set(c.type, c);
    for (const c of o.conditions) conditions.set(c.type, c);
    const fetched = conditions.get('Fetched');
    const rendered = conditions.get('Rendered');
    const states = paths.map((p) => p.state);
    let ready: Condition;
    if (spec.paused) ready = cond('Ready', 'False', 'Paused', 'the GitRepo is paused');
    else if (fetched?.status !== 'True')
      ready = cond('Ready', 'False', fetched?.reason ?? 'NotFetched', fetched?.message ?? 'not fetched yet');
    else if (rendered?.status !== 'True')
      ready = cond('Ready', 'False', rendered?.reason ?? 'NotRendered', rendered?.message ?? 'not rendered yet');
    else if (states.every((s) => s === 'Complete'))
      ready = cond('Ready', 'True', 'Complete', 'every path is rolled out');
    else {
      const worst = states.find((s) => s !== 'Complete') ?? 'Rolling';
      ready = cond(
        'Ready',
        'False',
        worst,
        `paths: ${paths.map((p) => `${p.path} ${p.state ?? 'pending'}`).join(', ')}`,
      );
    }
    conditions.set('Ready', ready);
    const list = ['Fetched', 'Rendered', 'Ready']
      .map((t) => conditions.get(t))
      .filter((c): c is Condition => c !== undefined)
      .map((c) => {
        const before = prior?.conditions.find((x) => x.type === c.type);
        const same = before && before.status === c.status;
        return {
          ...c,
          lastTransitionTime: same ? (before.lastTransitionTime ?? now) : now,
          observedGeneration: row.generation,
        };
      });
    const status: GitRepoStatus = { observedGeneration: row.generation, conditions: list, paths, summary };
    if (o.commit) status.commit = o.commit;
    if (o.fetchedAt) status.fetchedAt = o.fetchedAt;
    // fetchedAt alone changing (every poll) is not worth a write and a watch event each time:
    // written when anything else changed, or once a minute.
    const { fetchedAt: a, ...restNow } = status;
    const { fetchedAt: b, ...restBefore } = prior ?? ({} as Partial<GitRepoStatus>);
    const stale = !b || !a || Date.parse(a) - Date.parse(b) >= 60_000;
    if (JSON.stringify(restNow) === JSON.stringify(restBefore) && !stale) return;
    await store.transaction(async () => {
      const now2 = await store.gitrepos.get(row.namespace, row.name);
      // A newer spec is the next sync's: this status is of the one read.
      if (!now2 || now2.uid !== row.uid || now2.generation !== row.generation) return;
      await store.gitrepos.setStatus(row.namespace, row.name, status);
    });
  }
}

function cond(type: string, status: Condition['status'], reason: string, message: string): Condition {
  return { type, status, reason, message };
}

/** A GitError as a condition's reason and message. */
function gitProblem(err: unknown): { reason: string; message: string } {
  if (err instanceof GitError) {
    const reasons = {
      GIT_MISSING: 'GitMissing',
      GIT_TIMEOUT: 'Timeout',
      GIT_NO_REF: 'RefNotFound',
      GIT_FAILED: 'Unreachable',
      GIT_AUTH: 'AuthenticationFailed',
      GIT_CREDENTIALS: 'CredentialsUnreadable',
      GIT_HOST_KEY: 'HostKeyMismatch',
    };
    const reason = reasons[err.code];
    return { reason, message: `${err.message}; nothing changes on the clusters` };
  }
  return {
    reason: 'FetchFailed',
    message: `${String((err as Error)?.message ?? err).slice(0, 500)}; nothing changes on the clusters`,
  };
}

/** Bytes of the files under `dir` (without .git), counted up to just past `max`. */
async function treeBytes(dir: string, max: number): Promise<number> {
  let total = 0;
  const walk = async (d: string): Promise<void> => {
    for (const e of await readdir(d, { withFileTypes: true })) {
      if (total > max) return;
      if (e.name === '.git') continue;
      const p = join(d, e.name);
      if (e.isDirectory()) await walk(p);
      else total += (await lstat(p)).size;
    }
  };
  await walk(dir);
  return total;
}
