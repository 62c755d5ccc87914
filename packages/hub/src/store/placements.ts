// Store operations for the resources Placement and ManifestWorkReplicaSet (and
// ManagedClusterSet, whose columns are a placement's). Each is one row: spec and status as
// JSON, keyed by namespace and name (migration 15; a cluster set's namespace is ''). A workset's
// spec, which carries its template (up to 16 MiB), is kept as texts in parts (migration 13;
// written ahead like a work's manifests, linked here when it changed), and its row holds
// the spec without its template, which is what the controller reads. The store does not
// interpret spec or status: the API validates and the placement scheduler and workset
// controller own the statuses.
import { randomUUID } from 'node:crypto';
import { canonicalJson, hashText } from '@outpost/shared';
import type { Row, Sql } from './sql.ts';
import type { Page } from './trust.ts';
import { type StoredText, splitText, type WorkStore } from './works.ts';

type Raw = Row;

export interface ObjectMeta<Status = Record<string, unknown>> {
  name: string;
  /** OCM's metadata.namespace ("default" when none was given); '' for a cluster set. */
  namespace: string;
  uid: string;
  generation: number;
  resourceVersion: number;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  status: Status | null;
  createdAt: string;
  updatedAt: string;
  /** Worksets only: hash of what their works are rendered from (workSetRenderHash); null
   *  for placements and for worksets written before it was kept. */
  renderHash: string | null;
  /** Worksets only: when a Foreground deletion began (the row goes once its works are gone). */
  deletionAt: string | null;
}

/**
 * One stored object. `generation` counts changes of the spec; `resourceVersion` counts every
 * write (labels, annotations, spec and status), per row and starting at 1 as for clusters
 * and works; `uid` tells a re-created object from the one before.
 */
export interface ObjectRow<Spec = Record<string, unknown>, Status = Record<string, unknown>>
  extends ObjectMeta<Status> {
  /** Parsed from specText on first read. */
  readonly spec: Spec;
  /** The spec as stored: canonical JSON text. */
  readonly specText: string;
}

export type PlacementRow = ObjectRow;
/** A workset's row: its spec, which carries the template (megabytes), is read apart
 *  (specText, specHead). */
export type WorkSetRow = ObjectMeta;

/** What a create or replace writes; status is written only through setStatus. */
export type ObjectWrite = ObjectWriteBase &
  (
    | { spec: Record<string, unknown> }
    /**
     * A workset's spec made already (on the body thread): its canonical text in parts
     * (splitText; a part without content must be stored already), the text's hash and UTF-8
     * size, and the spec without its template.
     */
    | {
        spec?: undefined;
        specParts: (Omit<StoredText, 'content'> & { content?: StoredText['content'] })[];
        specHash: string;
        specBytes: number;
        renderHash: string;
        specHead: Record<string, unknown>;
      }
  );

interface ObjectWriteBase {
  name: string;
  /** Part of the key with the name ('' for a cluster set). */
  namespace: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
}

function metaFrom(r: Raw): ObjectMeta {
  return {
    name: r.name as string,
    namespace: r.namespace as string,
    uid: r.uid as string,
    generation: Number(r.generation),
    resourceVersion: Number(r.resource_version),
    labels: JSON.parse(r.labels as string),
    annotations: JSON.parse(r.annotations as string),
    status: typeof r.status === 'string' ? JSON.parse(r.status) : null,
    createdAt: r.created_at as string,
    updatedAt: r.updated_at as string,
    deletionAt: typeof r.deletion_at === 'string' ? r.deletion_at : null,
    renderHash: typeof r.render_hash === 'string' ? r.render_hash : null,
  };
}

/** A row that keeps its spec in the row (placements, cluster sets). */
function rowFrom(r: Raw): ObjectRow {
  const specText = r.spec as string;
  let spec: Record<string, unknown> | undefined;
  return {
    ...metaFrom(r),
    get spec() {
      spec ??= JSON.parse(specText) as Record<string, unknown>;
      return spec;
    },
    specText,
  };
}

/** What a workset's per-cluster works are rendered from, hashed: its template, overrides and
 *  whether it asks for templating. Its other fields (placementRefs, paused …) render nothing. */
export function workSetRenderHash(spec: Record<string, unknown>): string {
  const { manifestWorkTemplate, overrides, templating } = spec;
  return hashText(canonicalJson([manifestWorkTemplate ?? null, overrides ?? null, templating === true]));
}

/** A workset's spec as the store writes it (ObjectWrite's text form): made where the spec is
 *  read, the body thread for the API (its `bytes` hand the text over without a copy). */
export function workSetSpecText(
  spec: Record<string, unknown>,
  bytes: (text: string) => Uint8Array = (text) => Buffer.from(text),
): {
  specParts: StoredText[];
  specHash: string;
  specBytes: number;
  specHead: Record<string, unknown>;
  renderHash: string;
} {
  const text = canonicalJson(spec);
  const all = bytes(text);
  const { manifestWorkTemplate: _, ...specHead } = spec;
  return {
    specParts: splitText(all),
    specHash: hashText(text),
    specBytes: all.length,
    specHead,
    renderHash: workSetRenderHash(spec),
  };
}

/** The tables of objects kept as one row each. */
type Table = 'placements' | 'worksets' | 'cluster_sets' | 'gitrepos';

function statements(table: Table, dialect: Sql['dialect']) {
  // Worksets keep their spec in parts (workset_spec_parts); placements in the row.
  const specColumns = table === 'worksets' ? 'spec_hash, spec_head, spec_bytes, render_hash' : 'spec';
  const key = 'namespace = @namespace AND name = @name';
  return {
    get: `SELECT * FROM ${table} WHERE ${key}`,
    // Every namespace, or one: (namespace, name) after the cursor.
    page: `SELECT * FROM ${table} WHERE (namespace, name) > (@namespace, @name)
      ORDER BY namespace, name LIMIT @limit`,
    pageIn: `SELECT * FROM ${table} WHERE namespace = @namespace AND name > @name ORDER BY name LIMIT @limit`,
    all: `SELECT * FROM ${table} ORDER BY namespace, name`,
    named: `SELECT * FROM ${table} WHERE name = @name ORDER BY namespace`,
    insert: `INSERT INTO ${table}
      (name, namespace, uid, generation, resource_version, labels, annotations, ${specColumns}, created_at, updated_at)
      VALUES (@name, @namespace, @uid, 1, 1, @labels, @annotations, ${specColumns.replace(/(\w+)/g, '@$1')}, @at, @at)`,
    update: `UPDATE ${table} SET generation = @generation, resource_version = resource_version + 1,
      labels = @labels, annotations = @annotations, ${specColumns.replace(/(\w+)/g, '$1 = @$1')}, updated_at = @at
      WHERE ${key}`,
    parts: 'SELECT hash FROM workset_spec_parts WHERE namespace = @namespace AND workset = @name ORDER BY idx',
    addPart: 'INSERT INTO workset_spec_parts (namespace, workset, idx, hash) VALUES (@namespace, @name, @idx, @hash)',
    orphanParts: `INSERT INTO text_orphans (hash, at)
      SELECT hash, @at FROM workset_spec_parts WHERE namespace = @namespace AND workset = @name`,
    dropParts: 'DELETE FROM workset_spec_parts WHERE namespace = @namespace AND workset = @name',
    // A spec from before parts (migration 13), until its workset's next write.
    whole: `SELECT ${dialect === 'postgres' ? "convert_to(spec, 'UTF8')" : 'CAST(spec AS BLOB)'} AS spec
      FROM workset_specs WHERE ${key}`,
    dropWhole: `DELETE FROM workset_specs WHERE ${key}`,
    // Not a change (no resourceVersion): what a row from before hashes lacked.
    keepHashes: `UPDATE worksets SET spec_hash = @spec_hash, render_hash = @render_hash WHERE ${key}`,
    specHead: `SELECT spec_bytes AS bytes, spec_head AS head FROM worksets WHERE ${key}`,
    setStatus: `UPDATE ${table} SET status = @status, resource_version = resource_version + 1 WHERE ${key}`,
    delete: `DELETE FROM ${table} WHERE ${key}`,
    markDeleting: `UPDATE worksets SET deletion_at = @at, resource_version = resource_version + 1
      WHERE ${key} AND deletion_at IS NULL`,
  };
}

function objectStore<R extends ObjectMeta>(sql: Sql, table: Table, from: (r: Raw) => R, texts?: WorkStore) {
  const apart = table === 'worksets';
  const q = statements(table, sql.dialect);
  const worksetOnly = () => new Error(`${table} keep their spec in the row`);
  const shown = (namespace: string, name: string) => (namespace ? `${namespace}/${name}` : name);
  /** A workset's spec as stored: the hashes of its parts in order, or (from before parts) the whole text. */
  const specParts = async (
    namespace: string,
    name: string,
  ): Promise<{ hashes: string[] } | { whole: Buffer } | undefined> => {
    if (!apart) throw worksetOnly();
    const hashes = (await sql.all<{ hash: string }>(q.parts, { namespace, name })).map((r) => r.hash);
    if (hashes.length) return { hashes };
    const whole = (await sql.get<{ spec: Buffer }>(q.whole, { namespace, name }))?.spec;
    return whole ? { whole } : undefined;
  };
  /** A workset's spec text as UTF-8 bytes, in its parts. */
  const specBytes = async (namespace: string, name: string): Promise<Buffer[] | undefined> => {
    const p = await specParts(namespace, name);
    if (!p) return undefined;
    if ('whole' in p) return [p.whole];
    const out: (Buffer | undefined)[] = [];
    for (const h of p.hashes) out.push(await texts?.text(h));
    if (out.some((b) => b === undefined)) {
      throw new Error(`${table}: a part of the spec of ${shown(namespace, name)} is missing`);
    }
    return out as Buffer[];
  };
  /** A workset's spec: its canonical JSON text. */
  const specText = async (namespace: string, name: string): Promise<string> => {
    const bytes = await specBytes(namespace, name);
    if (!bytes) throw new Error(`${table}: no spec stored for ${shown(namespace, name)}`);
    return Buffer.concat(bytes).toString('utf8');
  };
  /** Links a workset's new spec parts (storing those not stored yet), unlinking the old. */
  const linkSpec = async (
    namespace: string,
    name: string,
    parts: Extract<ObjectWrite, { specParts: unknown }>['specParts'],
    at: string,
  ) => {
    if (!apart || !texts) throw worksetOnly();
    await sql.run(q.orphanParts, { namespace, name, at });
    await sql.run(q.dropParts, { namespace, name });
    await sql.run(q.dropWhole, { namespace, name });
    const missing = new Set(await texts.missingTexts(parts.map((p) => p.hash)));
    const lost = parts.find((p) => missing.has(p.hash) && p.content === undefined);
    if (lost) {
      throw new Error(`${table}: the spec of ${shown(namespace, name)} names text ${lost.hash}, which is not stored`);
    }
    await texts.putTexts(parts.filter((p) => missing.has(p.hash)) as StoredText[], at);
    for (const [idx, p] of parts.entries()) await sql.run(q.addPart, { namespace, name, idx, hash: p.hash });
  };
  const get = async (namespace: string, name: string): Promise<R | undefined> => {
    const r = await sql.get(q.get, { namespace, name });
    return r && from(r);
  };
  // Canonical JSON, so a re-applied object whose keys come in another order is unchanged.
  const columns = (w: ObjectWrite) => {
    const labels = canonicalJson(w.labels);
    const annotations = canonicalJson(w.annotations);
    if (!apart) {
      if (w.spec === undefined) throw worksetOnly();
      return { labels, annotations, spec: canonicalJson(w.spec) };
    }
    // A workset written from an object (small: tests, the store's own callers) is made text here.
    const {
      specParts: parts,
      specHash,
      specBytes,
      specHead,
      renderHash,
    } = w.spec === undefined ? w : workSetSpecText(w.spec);
    return {
      labels,
      annotations,
      parts,
      spec_hash: specHash,
      spec_head: canonicalJson(specHead),
      spec_bytes: specBytes,
      render_hash: renderHash,
    };
  };
  /** The row's columns as the statements take them; a workset's changed spec is linked. */
  const write = async (w: ObjectWrite, c: ReturnType<typeof columns>, specChanged: boolean, at: string) => {
    const { parts, ...row } = c as ReturnType<typeof columns> & { parts?: StoredText[] };
    if (parts && specChanged) await linkSpec(w.namespace, w.name, parts, at);
    return row;
  };
  const pageOf = (rows: R[], limit: number): Page<R> => {
    const more = rows.length > limit;
    const items = more ? rows.slice(0, limit) : rows;
    const last = items.at(-1);
    return { items, continue: more && last ? objectKey(last) : undefined };
  };

  return {
    get,
    /**
     * One page by namespace and name, after `after` (an objectKey, or '' for the
     * first); with `namespace`, of that namespace only.
     */
    page: async (after: string, limit: number, namespace?: string): Promise<Page<R>> => {
      if (namespace !== undefined) {
        const name = after.startsWith(`${namespace}/`) ? after.slice(namespace.length + 1) : '';
        return pageOf((await sql.all(q.pageIn, { namespace, name, limit: limit + 1 })).map(from), limit);
      }
      return pageOf((await sql.all(q.page, { ...splitObjectKey(after), limit: limit + 1 })).map(from), limit);
    },
    /** Every object, by namespace and name (the scheduler and controller work on all of them). */
    all: async () => (await sql.all(q.all)).map(from),
    /** Every object of this name, in whichever namespace (the API's paths without a namespace). */
    named: async (name: string) => (await sql.all(q.named, { name })).map(from),
    /** Inserts a new object; undefined when one of that namespace and name exists. */
    create: async (w: ObjectWrite, at: string): Promise<R | undefined> => {
      if (await sql.get(q.get, { namespace: w.namespace, name: w.name })) return undefined;
      const c = await write(w, columns(w), true, at);
      await sql.run(q.insert, { ...c, name: w.name, namespace: w.namespace, uid: randomUUID(), at });
      return get(w.namespace, w.name);
    },
    /**
     * Replaces labels, annotations and spec (status stays). A write that changes nothing
     * bumps nothing (`changed: false`); a changed spec bumps the generation. Undefined when
     * there is no such object.
     */
    replace: async (
      w: ObjectWrite,
      at: string,
    ): Promise<{ row: R; changed: boolean; specChanged: boolean } | undefined> => {
      const ref = { namespace: w.namespace, name: w.name };
      const r = await sql.get(q.get, ref);
      if (!r) return undefined;
      const next = columns(w);
      // Both texts are canonical: compared by hash (a workset from before hashes: the hash of
      // its whole text, once), or as they are.
      const specChanged = apart
        ? (r.spec_hash ?? hashText(await specText(w.namespace, w.name))) !== (next as { spec_hash: string }).spec_hash
        : r.spec !== (next as { spec: string }).spec;
      const changed =
        specChanged ||
        canonicalJson(JSON.parse(r.labels as string)) !== next.labels ||
        canonicalJson(JSON.parse(r.annotations as string)) !== next.annotations;
      if (!changed) {
        // A workset from before hashes keeps the ones just found: its text is hashed once.
        if (apart && r.spec_hash === null) {
          const { spec_hash, render_hash } = next as { spec_hash: string; render_hash: string };
          await sql.run(q.keepHashes, { ...ref, spec_hash, render_hash });
          return { row: (await get(w.namespace, w.name)) as R, changed, specChanged };
        }
        return { row: from(r), changed, specChanged };
      }
      const generation = Number(r.generation) + (specChanged ? 1 : 0);
      const c = await write(w, next, specChanged, at);
      await sql.run(q.update, { ...c, ...ref, generation, at });
      return { row: (await get(w.namespace, w.name)) as R, changed, specChanged };
    },
    /** Worksets: the spec without its template (spec.manifestWorkTemplate, kept in the row)
     *  and the UTF-8 size of the whole; undefined when there is no such workset. */
    specHead: async (
      namespace: string,
      name: string,
    ): Promise<{ bytes: number; head: Record<string, unknown> } | undefined> => {
      if (!apart) throw worksetOnly();
      const r = await sql.get<{ bytes: number; head: string }>(q.specHead, { namespace, name });
      return r && { bytes: Number(r.bytes), head: JSON.parse(r.head) as Record<string, unknown> };
    },
    specParts,
    /** Worksets: the spec's canonical text as UTF-8 bytes, in parts (handed to a thread as they are). */
    specBytes,
    /** Worksets: the spec's canonical JSON text (a template may be megabytes: read when needed). */
    specText,
    delete: async (namespace: string, name: string): Promise<boolean> => {
      if (apart) {
        await sql.run(q.orphanParts, { namespace, name, at: new Date().toISOString() });
        await sql.run(q.dropParts, { namespace, name });
        await sql.run(q.dropWhole, { namespace, name });
      }
      return (await sql.run(q.delete, { namespace, name })) > 0;
    },
    /**
     * Worksets: records that a Foreground deletion began (once; resourceVersion + 1). The
     * row, or undefined when it is gone.
     */
    markDeleting: async (namespace: string, name: string, at: string): Promise<R | undefined> => {
      if (!apart) throw new Error(`${table} are deleted at once`);
      await sql.run(q.markDeleting, { namespace, name, at });
      return get(namespace, name);
    },
    /** Writes the status (resourceVersion + 1); the row, or undefined when it is gone. */
    setStatus: async (namespace: string, name: string, status: unknown): Promise<R | undefined> => {
      if ((await sql.run(q.setStatus, { namespace, name, status: JSON.stringify(status) })) === 0) return undefined;
      return get(namespace, name);
    },
  };
}

/** A row's key as one string, "namespace/name" (a cluster set's "/name"): list cursors and
 *  the controllers' maps. */
export function objectKey(row: { namespace: string; name: string }): string {
  return `${row.namespace}/${row.name}`;
}

/** Namespace and name of an objectKey (a namespace holds no "/"; a key without one is a
 *  namespace alone, which starts a page at that namespace). */
export function splitObjectKey(key: string): { namespace: string; name: string } {
  const cut = key.indexOf('/');
  return cut < 0 ? { namespace: key, name: '' } : { namespace: key.slice(0, cut), name: key.slice(cut + 1) };
}

export type ObjectStore = ReturnType<typeof objectStore<ObjectRow>>;
export type WorkSetStore = ReturnType<typeof objectStore<WorkSetRow>>;

export function placementStore(sql: Sql): ObjectStore {
  return objectStore(sql, 'placements', rowFrom);
}

/** ManagedClusterSets: placements' columns, no namespace, no status (it is computed). */
export function clusterSetStore(sql: Sql): ObjectStore {
  return objectStore(sql, 'cluster_sets', rowFrom);
}

/** GitRepos (gitrepos/): placements' columns; the status is the GitRepo controller's. */
export function gitRepoStore(sql: Sql): ObjectStore {
  return objectStore(sql, 'gitrepos', rowFrom);
}

export function workSetStore(sql: Sql, texts: WorkStore): WorkSetStore {
  return objectStore(sql, 'worksets', metaFrom, texts);
}
