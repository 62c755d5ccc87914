// The store's one way to reach its database: statements by text, answered asynchronously,
// and transactions that the statements inside them join by themselves. The store's modules
// (works.ts, trust.ts …) are written once against this; sqlite.ts answers it from a
// better-sqlite3 connection (the embedded default), a PostgreSQL pool answers it for
// several hub replicas. A statement names its parameters `@name` (an object) or takes
// them in order (`?`, an array).

import { StoreError } from './errors.ts';

export type Row = Record<string, unknown>;
export type Params = readonly unknown[] | Readonly<Record<string, unknown>>;

export type Dialect = 'sqlite' | 'postgres';

/**
 * Whether a text parameter holds U+0000. Both backends treat one alike: PostgreSQL's text
 * cannot hold one (SQLite can), and a request must not get further on one backend than on
 * the other. No stored text has one (the hub writes none; JSON escapes it), so a read that
 * looks one up finds nothing, and a write of one is refused (nulText; the API answers 400
 * TEXT_INVALID). A name or other raw value a caller sent may hold one.
 */
export function hasNul(params: Params): boolean {
  const values = Array.isArray(params) ? params : Object.values(params);
  return values.some((v) => typeof v === 'string' && v.includes('\u0000'));
}

export const nulText = () => new StoreError('STORE_TEXT_NUL', 'a text with a NUL character (U+0000) cannot be stored');

export interface Sql {
  readonly dialect: Dialect;
  /** Every row of a query. */
  all<T = Row>(text: string, params?: Params): Promise<T[]>;
  /** The first row of a query, or undefined. */
  get<T = Row>(text: string, params?: Params): Promise<T | undefined>;
  /** Runs a write; how many rows it changed. */
  run(text: string, params?: Params): Promise<number>;
  /**
   * Runs `fn` in one transaction: every statement made while it runs (awaited from it, in
   * its async context) is part of it, and it commits when `fn` settles without throwing.
   * A transaction inside another is a savepoint of it. `fn` may run again when the
   * database answers that the transaction lost a race with another writer (PostgreSQL's
   * serialisation failures): it must do nothing but statements until it returns.
   */
  transaction<T>(fn: () => Promise<T> | T): Promise<T>;
  /** Whether the caller runs inside a transaction of this database. */
  inTransaction(): boolean;
  /** Runs `fn` outside the caller's transaction: what it starts (a timer, a promise) makes
   *  its statements on its own, even while that transaction is still open. */
  outside<T>(fn: () => T): T;
  close(): Promise<void>;
}
