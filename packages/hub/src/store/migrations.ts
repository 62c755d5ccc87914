// Numbered schema migrations. Append only: a released migration is never edited, a
// change is a new number. Each runs in its own transaction with its version row.

export interface Migration {
  version: number;
  name: string;
  sql: string;
}

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
];
