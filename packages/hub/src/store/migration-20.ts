// Migration 20: GitRepos (gitrepos/), one row each as a placement is (spec and status as
// JSON, keyed by namespace and name), and the change-log triggers that let them be watched.
// Its text is this migration's and never changes once released.
import { changeTriggersSql } from './migration-17.ts';

/** Migration 20 in either dialect. */
export function gitRepoSql(dialect: 'sqlite' | 'postgres'): string {
  const text = dialect === 'sqlite' ? 'TEXT' : 'TEXT COLLATE "C"';
  const int = dialect === 'sqlite' ? 'INTEGER' : 'BIGINT';
  return `
      -- A Git repository of manifests that the hub renders into worksets (gitrepos/). The
      -- worksets it made carry its name as a label; this row holds what was asked and what
      -- the hub last fetched and rendered (status).
      CREATE TABLE gitrepos (
        namespace        ${text} NOT NULL,
        name             ${text} NOT NULL,
        uid              ${text} NOT NULL UNIQUE,
        generation       ${int} NOT NULL,
        resource_version ${int} NOT NULL,
        labels           ${text} NOT NULL,
        annotations      ${text} NOT NULL,
        spec             ${text} NOT NULL,
        status           ${text},
        created_at       ${text} NOT NULL,
        updated_at       ${text} NOT NULL,
        PRIMARY KEY (namespace, name)
      )${dialect === 'sqlite' ? ' STRICT' : ''};
      ${changeTriggersSql(dialect, { resource: 'gitrepos', table: 'gitrepos', scope: 'namespace' })}
  `;
}
