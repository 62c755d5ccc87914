// Numbered schema migrations. Append only: a released migration is never edited, a
// change is a new number. Each runs in its own transaction with its version row.

import { changeLogSql } from './migration-17.ts';
import { inventorySql } from './migration-19.ts';
import { gitRepoSql } from './migration-20.ts';

export interface Migration {
  version: number;
  name: string;
  sql: string;
}

/** SQL for a UUID-shaped uid from 32 hex digits in column `h` (rows a migration inserts). */
const uuidOfHex = (h: string) =>
  `substr(${h}, 1, 8) || '-' || substr(${h}, 9, 4) || '-' || substr(${h}, 13, 4) || '-' || substr(${h}, 17, 4) || '-' || substr(${h}, 21)`;

export const migrations: readonly Migration[] = [
  {
    version: 1,
    name: 'hub identity',
    sql: `
      CREATE TABLE hub_meta (
        key   TEXT PRIMARY KEY,
        value TEXT NOT NULL
      ) STRICT;
    `,
  },
  {
    version: 2,
    name: 'trust and registration',
    sql: `
      -- Bearer tokens of the admin API. Only a SHA-256 of the secret is kept.
      CREATE TABLE api_tokens (
        id           TEXT PRIMARY KEY,
        name         TEXT NOT NULL,
        scope        TEXT NOT NULL CHECK (scope IN ('admin', 'read-only')),
        secret_hash  BLOB NOT NULL,
        created_at   TEXT NOT NULL,
        created_by   TEXT NOT NULL,
        expires_at   TEXT,
        revoked_at   TEXT,
        last_used_at TEXT
      ) STRICT;

      -- kubeadm-style ID.SECRET bootstrap tokens. bound_cluster is set for recovery tokens.
      CREATE TABLE bootstrap_tokens (
        id            TEXT PRIMARY KEY,
        secret_hash   BLOB NOT NULL,
        description   TEXT NOT NULL,
        labels        TEXT NOT NULL,
        auto_approve  INTEGER NOT NULL,
        usage_limit   INTEGER NOT NULL,
        usage_count   INTEGER NOT NULL DEFAULT 0,
        bound_cluster TEXT,
        created_at    TEXT NOT NULL,
        created_by    TEXT NOT NULL,
        expires_at    TEXT NOT NULL,
        last_used_at  TEXT,
        revoked_at    TEXT
      ) STRICT;

      CREATE TABLE clusters (
        name               TEXT PRIMARY KEY,
        uid                TEXT NOT NULL UNIQUE,
        resource_version   INTEGER NOT NULL,
        labels             TEXT NOT NULL,
        hub_accepts_client INTEGER NOT NULL,
        denied             INTEGER NOT NULL DEFAULT 0,
        taints             TEXT NOT NULL DEFAULT '[]',
        claims             TEXT NOT NULL DEFAULT '{}',
        agent_version      TEXT,
        created_at         TEXT NOT NULL,
        joined_at          TEXT,
        last_seen          TEXT
      ) STRICT;

      -- One row per join attempt; the id is the capability the joiner polls with.
      CREATE TABLE registrations (
        id                 TEXT PRIMARY KEY,
        cluster_name       TEXT NOT NULL,
        token_id           TEXT NOT NULL,
        csr_pem            TEXT NOT NULL,
        state              TEXT NOT NULL CHECK (state IN ('Pending', 'Approved', 'Denied')),
        message            TEXT,
        certificate_serial TEXT,
        created_at         TEXT NOT NULL,
        decided_at         TEXT
      ) STRICT;
      CREATE INDEX registrations_cluster ON registrations (cluster_name, state);

      -- Every agent certificate ever issued; revocation is per serial and kept forever.
      CREATE TABLE certificates (
        serial        TEXT PRIMARY KEY,
        cluster_name  TEXT NOT NULL,
        ca_hash       TEXT NOT NULL,
        cert_pem      TEXT NOT NULL,
        not_before    TEXT NOT NULL,
        not_after     TEXT NOT NULL,
        issued_at     TEXT NOT NULL,
        revoked_at    TEXT,
        revoke_reason TEXT
      ) STRICT;
      CREATE INDEX certificates_cluster ON certificates (cluster_name, issued_at);

      CREATE TABLE audit_log (
        id       INTEGER PRIMARY KEY AUTOINCREMENT,
        at       TEXT NOT NULL,
        actor    TEXT NOT NULL,
        action   TEXT NOT NULL,
        resource TEXT NOT NULL,
        result   TEXT NOT NULL,
        details  TEXT
      ) STRICT;
    `,
  },
  {
    version: 3,
    name: 'manifest works',
    sql: `
      -- One row per ManifestWork; its manifests live in work_manifests so that a change
      -- to one manifest of a large work touches (and sends) only that manifest.
      CREATE TABLE works (
        cluster          TEXT NOT NULL,
        name             TEXT NOT NULL,
        uid              TEXT NOT NULL UNIQUE,
        generation       INTEGER NOT NULL,
        resource_version INTEGER NOT NULL,
        labels           TEXT NOT NULL,
        annotations      TEXT NOT NULL,
        spec             TEXT NOT NULL,
        spec_hash        TEXT NOT NULL,
        content_hash     TEXT NOT NULL,
        manifest_count   INTEGER NOT NULL,
        size_bytes       INTEGER NOT NULL,
        status           TEXT,
        status_seq       INTEGER NOT NULL DEFAULT 0,
        created_at       TEXT NOT NULL,
        updated_at       TEXT NOT NULL,
        deletion_at      TEXT,
        PRIMARY KEY (cluster, name)
      ) STRICT;

      -- content NULL is a tombstone: the manifest left the work at changed_generation.
      CREATE TABLE work_manifests (
        work_uid           TEXT NOT NULL,
        key                TEXT NOT NULL,
        ordinal            INTEGER NOT NULL,
        content            TEXT,
        hash               TEXT NOT NULL,
        changed_generation INTEGER NOT NULL,
        PRIMARY KEY (work_uid, key)
      ) STRICT;
      CREATE INDEX work_manifests_changed ON work_manifests (work_uid, changed_generation);

      -- Bumped on every change of a cluster's desired state; long-polls compare it.
      CREATE TABLE cluster_desired (
        cluster  TEXT PRIMARY KEY,
        revision INTEGER NOT NULL
      ) STRICT;
    `,
  },
  {
    version: 4,
    name: 'epoch adoption',
    sql: `
      -- Set by \`outpost-hub cluster adopt NAME\`: the cluster's agent may take this
      -- database's epoch although it remembers another one. Cleared once it has.
      ALTER TABLE clusters ADD COLUMN adopt_epoch INTEGER NOT NULL DEFAULT 0;
    `,
  },
  {
    version: 5,
    name: 'cluster removal waits for the agent',
    sql: `
      -- Set by \`cluster remove\` while the agent deletes the cluster's works under their
      -- delete policies; the cluster row goes when the last work is gone.
      ALTER TABLE clusters ADD COLUMN removal_requested_at TEXT;
    `,
  },
  {
    version: 6,
    name: 'held deletions released by an admin',
    sql: `
      -- Set by \`cluster confirm-deletions\`: the agent may carry out the deletions its
      -- mass-delete breaker held. Cleared when the hub passes it on.
      ALTER TABLE clusters ADD COLUMN release_held_deletions INTEGER NOT NULL DEFAULT 0;
    `,
  },
  {
    version: 7,
    name: 'placements and manifest work replica sets',
    sql: `
      -- Placements and ManifestWorkReplicaSets are keyed by name (migration 9 adds the
      -- namespace they were written in). generation counts spec changes,
      -- resource_version every write (status included). status is owned by the hub: the
      -- placement scheduler writes a placement's decisions, the workset controller a
      -- workset's summary.
      CREATE TABLE placements (
        name             TEXT PRIMARY KEY,
        uid              TEXT NOT NULL UNIQUE,
        generation       INTEGER NOT NULL,
        resource_version INTEGER NOT NULL,
        labels           TEXT NOT NULL,
        annotations      TEXT NOT NULL,
        spec             TEXT NOT NULL,
        status           TEXT,
        created_at       TEXT NOT NULL,
        updated_at       TEXT NOT NULL
      ) STRICT;

      CREATE TABLE worksets (
        name             TEXT PRIMARY KEY,
        uid              TEXT NOT NULL UNIQUE,
        generation       INTEGER NOT NULL,
        resource_version INTEGER NOT NULL,
        labels           TEXT NOT NULL,
        annotations      TEXT NOT NULL,
        spec             TEXT NOT NULL,
        status           TEXT,
        created_at       TEXT NOT NULL,
        updated_at       TEXT NOT NULL
      ) STRICT;
    `,
  },
  {
    version: 8,
    name: 'workset deletion in the foreground',
    sql: `
      -- Set when a workset with cascadeDeletionPolicy Foreground is deleted: the row stays
      -- (shown with metadata.deletionTimestamp) until the works it owns are gone.
      ALTER TABLE worksets ADD COLUMN deletion_at TEXT;
    `,
  },
  {
    version: 9,
    name: 'placement and workset namespaces',
    sql: `
      -- The namespace an object was written in (OCM's metadata.namespace, default
      -- "default"). Names stay unique across namespaces: a write of a name that lives in
      -- another namespace is refused (NAMESPACE_CONFLICT), never applied over it. A
      -- workset's placementRefs name placements of its own namespace, as in OCM. Rows
      -- written before this kept no namespace: NULL, and their next write adopts the
      -- namespace it names (their YAML may well say team-a; "default" would refuse it).
      ALTER TABLE placements ADD COLUMN namespace TEXT;
      ALTER TABLE worksets ADD COLUMN namespace TEXT;
    `,
  },
  {
    version: 10,
    name: 'cluster work delivery',
    sql: `
      -- What the agent's heartbeats say: 1 it delivers work (it runs with a cluster), 0 it
      -- runs heartbeat-only (outpost-agent run --heartbeat-only), NULL not said (older agents).
      ALTER TABLE clusters ADD COLUMN work_delivery INTEGER;
    `,
  },
  {
    version: 11,
    name: 'claims the agent reads from its cluster',
    sql: `
      -- Claims the running agent read from its cluster (version, nodes, ClusterClaim
      -- objects), kept apart from the claims set at join (clusters.claims), which win
      -- where both name the same claim.
      ALTER TABLE clusters ADD COLUMN reported_claims TEXT NOT NULL DEFAULT '{}';
    `,
  },
  {
    version: 12,
    name: 'texts by hash, work status summary',
    sql: `
      -- Manifest texts and the parts of large statuses, each stored once under its hash
      -- (work_manifests.hash, work_status_parts.hash) and never changed: a large work's
      -- texts are written in many small transactions before the one that links them, so no
      -- transaction writes megabytes. size (UTF-8 bytes) comes before content: reading it
      -- never walks a large text's overflow pages.
      CREATE TABLE texts (
        hash    TEXT PRIMARY KEY,
        size    INTEGER NOT NULL,
        content TEXT NOT NULL
      ) STRICT;
      INSERT OR IGNORE INTO texts (hash, size, content)
        SELECT hash, length(CAST(content AS BLOB)), content FROM work_manifests WHERE content IS NOT NULL;
      -- Texts that may have lost their last row, and since when: one the work's row stopped
      -- naming, or one written for a write that may never link it. The sweeper removes such
      -- a text a while after that time unless a row names it (again); see work/texts.ts.
      CREATE TABLE text_orphans (
        hash TEXT NOT NULL,
        at   TEXT NOT NULL
      ) STRICT;
      CREATE INDEX text_orphans_at ON text_orphans (at);
      CREATE INDEX text_orphans_hash ON text_orphans (hash);
      CREATE INDEX work_manifests_hash ON work_manifests (hash);
      -- A status larger than a part is kept as parts (works.status NULL), in order.
      CREATE TABLE work_status_parts (
        work_uid TEXT NOT NULL,
        idx      INTEGER NOT NULL,
        hash     TEXT NOT NULL,
        PRIMARY KEY (work_uid, idx)
      ) STRICT;
      CREATE INDEX work_status_parts_hash ON work_status_parts (hash);
      -- A removed manifest's tombstone row now has the empty hash alone (it always had).
      ALTER TABLE work_manifests DROP COLUMN content;

      -- What the hub reads of a work's status besides the agent's own text: the hub's keys
      -- (observedAt, reportedGeneration, completedAt) and what its controllers and /metrics
      -- read (conditions, observedGeneration), so that none of them parses a status that
      -- may be megabytes. works.status (or its parts) keeps the agent's report alone.
      ALTER TABLE works ADD COLUMN status_summary TEXT;
      UPDATE works SET status_summary = json_object(
          'conditions', CASE WHEN json_type(status, '$.conditions') = 'array' THEN status -> '$.conditions'
                        ELSE json('[]') END,
          'observedGeneration', status ->> '$.observedGeneration',
          'observedAt', status ->> '$.observedAt',
          'reportedGeneration', status ->> '$.reportedGeneration',
          'completedAt', status ->> '$.completedAt')
        WHERE status IS NOT NULL AND json_valid(status);
      -- The agent's own text, without the keys the hub writes or the API adds.
      UPDATE works SET status = json_remove(status, '$.observedAt', '$.reportedGeneration', '$.completedAt',
          '$.manifestCount', '$.sizeBytes')
        WHERE status IS NOT NULL AND json_valid(status);
    `,
  },
  {
    version: 13,
    name: 'workset specs in parts',
    sql: `
      -- A workset's spec carries its template, which may be as large as a work (16 MiB).
      -- Kept in the workset's row, every write of the row (each status the controller
      -- writes) rewrote it in one transaction, and every read read it. Now its canonical
      -- text is stored in parts of about 512 KiB in texts (by hash, written ahead in small
      -- transactions, as a work's manifests are) and linked in order here; the row keeps
      -- the spec without its template (spec_head), the text's hash and its UTF-8 size.
      CREATE TABLE workset_spec_parts (
        workset TEXT NOT NULL,
        idx     INTEGER NOT NULL,
        hash    TEXT NOT NULL,
        PRIMARY KEY (workset, idx)
      ) STRICT;
      CREATE INDEX workset_spec_parts_hash ON workset_spec_parts (hash);
      -- Specs written before this stay whole here until their workset's next write (SQL
      -- cannot hash them into parts); spec_hash is NULL for them.
      CREATE TABLE workset_specs (
        name TEXT PRIMARY KEY,
        spec TEXT NOT NULL
      ) STRICT;
      INSERT INTO workset_specs (name, spec) SELECT name, spec FROM worksets;
      -- json_remove keeps the key order of a canonical text: spec_head stays canonical.
      ALTER TABLE worksets ADD COLUMN spec_head TEXT NOT NULL DEFAULT '{}';
      UPDATE worksets SET spec_head = json_remove(spec, '$.manifestWorkTemplate') WHERE json_valid(spec);
      ALTER TABLE worksets ADD COLUMN spec_bytes INTEGER NOT NULL DEFAULT 0;
      UPDATE worksets SET spec_bytes = octet_length(spec);
      ALTER TABLE worksets DROP COLUMN spec;
      ALTER TABLE worksets ADD COLUMN spec_hash TEXT;
      -- Hash of what the per-cluster works are rendered from (template, overrides,
      -- templating): the controller keeps its renders while it stays (a pause, a new
      -- placementRef). NULL for rows from before: their renders last one generation.
      ALTER TABLE worksets ADD COLUMN render_hash TEXT;
    `,
  },
  {
    version: 14,
    name: 'cluster sets and their bindings',
    sql: `
      -- OCM's ManagedClusterSets (cluster-scoped: namespace is ''): the same columns as
      -- placements, so one object store serves both.
      CREATE TABLE cluster_sets (
        name             TEXT PRIMARY KEY,
        namespace        TEXT NOT NULL DEFAULT '',
        uid              TEXT NOT NULL UNIQUE,
        generation       INTEGER NOT NULL,
        resource_version INTEGER NOT NULL,
        labels           TEXT NOT NULL,
        annotations      TEXT NOT NULL,
        spec             TEXT NOT NULL,
        status           TEXT,
        created_at       TEXT NOT NULL,
        updated_at       TEXT NOT NULL
      ) STRICT;
      -- The two sets OCM's hub makes, and keeps: default (clusters labelled with it, and
      -- those with no set label) and global (every cluster).
      INSERT INTO cluster_sets (name, uid, generation, resource_version, labels, annotations, spec, created_at, updated_at)
        SELECT name,
               ${uuidOfHex('h')},
               1, 1, '{}', '{}', spec, strftime('%Y-%m-%dT%H:%M:%fZ'), strftime('%Y-%m-%dT%H:%M:%fZ')
        FROM (SELECT 'default' AS name, lower(hex(randomblob(16))) AS h,
                     '{"clusterSelector":{"selectorType":"ExclusiveClusterSetLabel"}}' AS spec
              UNION ALL
              SELECT 'global', lower(hex(randomblob(16))),
                     '{"clusterSelector":{"labelSelector":{},"selectorType":"LabelSelector"}}');
      -- ManagedClusterSetBindings: namespace N may select from set NAME (OCM's name is the
      -- set's). Keyed by both: every namespace binds sets of the same names.
      CREATE TABLE cluster_set_bindings (
        namespace        TEXT NOT NULL,
        name             TEXT NOT NULL,
        uid              TEXT NOT NULL UNIQUE,
        resource_version INTEGER NOT NULL,
        labels           TEXT NOT NULL,
        annotations      TEXT NOT NULL,
        created_at       TEXT NOT NULL,
        updated_at       TEXT NOT NULL,
        PRIMARY KEY (namespace, name)
      ) STRICT;
      -- As in OCM, a Placement selects only from sets bound to its namespace. Bound here:
      -- global to default and to every namespace that holds placements or worksets now, so
      -- they select what they selected before sets existed.
      INSERT INTO cluster_set_bindings (namespace, name, uid, resource_version, labels, annotations, created_at, updated_at)
        SELECT ns, 'global',
               ${uuidOfHex('h')},
               1, '{}', '{}', strftime('%Y-%m-%dT%H:%M:%fZ'), strftime('%Y-%m-%dT%H:%M:%fZ')
        FROM (SELECT ns, lower(hex(randomblob(16))) AS h FROM (
                SELECT 'default' AS ns
                UNION SELECT namespace FROM placements WHERE namespace IS NOT NULL
                UNION SELECT namespace FROM worksets WHERE namespace IS NOT NULL));
    `,
  },
  {
    version: 15,
    name: 'placements and worksets keyed by namespace and name',
    sql: `
      -- OCM's Placements and ManifestWorkReplicaSets are namespaced: p in team-a and p in
      -- team-b are two objects. Until now names were unique across namespaces.
      -- Rows from before namespaces were kept (NULL) take one now: a placement the namespace
      -- of a workset that names it (they resolved for it), a workset that of a placement it
      -- names; else "default".
      UPDATE placements SET namespace = COALESCE(
          (SELECT w.namespace FROM worksets w, json_each(w.spec_head, '$.placementRefs') r
            WHERE w.namespace IS NOT NULL AND json_extract(r.value, '$.name') = placements.name
            ORDER BY w.namespace LIMIT 1),
          'default')
        WHERE namespace IS NULL;
      UPDATE worksets SET namespace = COALESCE(
          (SELECT p.namespace FROM placements p, json_each(worksets.spec_head, '$.placementRefs') r
            WHERE p.name = json_extract(r.value, '$.name') ORDER BY p.namespace LIMIT 1),
          'default')
        WHERE namespace IS NULL;

      CREATE TABLE placements_by_namespace (
        namespace        TEXT NOT NULL,
        name             TEXT NOT NULL,
        uid              TEXT NOT NULL UNIQUE,
        generation       INTEGER NOT NULL,
        resource_version INTEGER NOT NULL,
        labels           TEXT NOT NULL,
        annotations      TEXT NOT NULL,
        spec             TEXT NOT NULL,
        status           TEXT,
        created_at       TEXT NOT NULL,
        updated_at       TEXT NOT NULL,
        PRIMARY KEY (namespace, name)
      ) STRICT;
      INSERT INTO placements_by_namespace
        SELECT namespace, name, uid, generation, resource_version, labels, annotations, spec, status,
               created_at, updated_at
        FROM placements;
      DROP TABLE placements;
      ALTER TABLE placements_by_namespace RENAME TO placements;

      CREATE TABLE worksets_by_namespace (
        namespace        TEXT NOT NULL,
        name             TEXT NOT NULL,
        uid              TEXT NOT NULL UNIQUE,
        generation       INTEGER NOT NULL,
        resource_version INTEGER NOT NULL,
        labels           TEXT NOT NULL,
        annotations      TEXT NOT NULL,
        status           TEXT,
        created_at       TEXT NOT NULL,
        updated_at       TEXT NOT NULL,
        deletion_at      TEXT,
        spec_head        TEXT NOT NULL,
        spec_bytes       INTEGER NOT NULL,
        spec_hash        TEXT,
        render_hash      TEXT,
        PRIMARY KEY (namespace, name)
      ) STRICT;
      INSERT INTO worksets_by_namespace
        SELECT namespace, name, uid, generation, resource_version, labels, annotations, status,
               created_at, updated_at, deletion_at, spec_head, spec_bytes, spec_hash, render_hash
        FROM worksets;

      CREATE TABLE workset_spec_parts_by_namespace (
        namespace TEXT NOT NULL,
        workset   TEXT NOT NULL,
        idx       INTEGER NOT NULL,
        hash      TEXT NOT NULL,
        PRIMARY KEY (namespace, workset, idx)
      ) STRICT;
      INSERT INTO workset_spec_parts_by_namespace
        SELECT w.namespace, p.workset, p.idx, p.hash
        FROM workset_spec_parts p JOIN worksets w ON w.name = p.workset;
      DROP TABLE workset_spec_parts;
      ALTER TABLE workset_spec_parts_by_namespace RENAME TO workset_spec_parts;
      CREATE INDEX workset_spec_parts_hash ON workset_spec_parts (hash);

      CREATE TABLE workset_specs_by_namespace (
        namespace TEXT NOT NULL,
        name      TEXT NOT NULL,
        spec      TEXT NOT NULL,
        PRIMARY KEY (namespace, name)
      ) STRICT;
      INSERT INTO workset_specs_by_namespace
        SELECT w.namespace, s.name, s.spec FROM workset_specs s JOIN worksets w ON w.name = s.name;
      DROP TABLE workset_specs;
      ALTER TABLE workset_specs_by_namespace RENAME TO workset_specs;

      -- A workset's works (named after it, in their cluster, as OCM names them) say its
      -- namespace too, so two worksets of one name never take each other's works.
      UPDATE works SET labels = json_set(labels, '$."outpost.dev/workset-namespace"',
          COALESCE((SELECT w.namespace FROM worksets w
                     WHERE w.name = json_extract(works.labels, '$."outpost.dev/workset"')), 'default'))
        WHERE json_extract(labels, '$."outpost.dev/workset"') IS NOT NULL;

      DROP TABLE worksets;
      ALTER TABLE worksets_by_namespace RENAME TO worksets;
    `,
  },
  {
    version: 16,
    name: 'hub PKI in the database (sealed CA keys) and leases of singleton duties, for replicas',
    sql: `
      -- The CAs of hubs that keep their PKI in the database (hubs on PostgreSQL: every replica
      -- signs with the same CA). The private key is sealed (AES-256-GCM) under a key-encryption
      -- key the database never holds; a retired CA keeps its certificate and loses its key.
      -- Which CA signs, and the serving certificate, are hub_meta rows (pki.state, pki.serving).
      -- A hub on SQLite keeps its PKI in its data directory: these tables stay empty there.
      CREATE TABLE pki_cas (
        id         TEXT PRIMARY KEY,
        cert_pem   TEXT NOT NULL,
        key_sealed TEXT,
        created_at TEXT NOT NULL
      ) STRICT;

      -- Which replica does the duties one hub at a time may do (the controllers), until when
      -- (milliseconds since 1970 by the database's clock, so replicas' clocks never matter).
      CREATE TABLE hub_leases (
        name        TEXT PRIMARY KEY,
        holder      TEXT NOT NULL,
        expires_ms  INTEGER NOT NULL,
        acquired_at TEXT NOT NULL
      ) STRICT;
    `,
  },
  {
    version: 17,
    name: 'a log of changes to the API objects, for watches',
    sql: changeLogSql('sqlite'),
  },
  {
    version: 18,
    name: 'browser sessions of the dashboard, each bound to the API token it was made with',
    sql: `
      -- A session is a cookie the dashboard holds instead of its API token. Its secret is
      -- stored hashed, as the token's is; the session dies with its token (revoked or
      -- expired: checked on every request through the token's row) and at expires_at.
      -- In the database, not in one hub's memory: every replica of a shared database knows it.
      CREATE TABLE ui_sessions (
        id          TEXT PRIMARY KEY,
        token_id    TEXT NOT NULL REFERENCES api_tokens (id) ON DELETE CASCADE,
        secret_hash BLOB NOT NULL,
        created_at  TEXT NOT NULL,
        expires_at  TEXT NOT NULL
      ) STRICT;
      CREATE INDEX ui_sessions_expires ON ui_sessions (expires_at);
    `,
  },
  {
    version: 19,
    name: 'the declared objects of works, searchable: work_manifests say their work and object by column',
    sql: inventorySql('sqlite'),
  },
  {
    version: 20,
    name: 'GitRepos: Git repositories of manifests rendered into worksets, watched as the other objects',
    sql: gitRepoSql('sqlite'),
  },
];
