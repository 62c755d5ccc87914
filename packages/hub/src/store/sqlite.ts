// The store's statements on one better-sqlite3 connection (sql.ts). SQLite answers at once,
// so a statement runs inside the call and its promise is settled already. A transaction
// holds the connection across its awaits: while one is open, statements from outside it
// wait until it commits or rolls back (run on the same connection they would otherwise see
// its uncommitted rows, or be committed, or rolled back, with it), and the transactions
// asked for meanwhile run one after another, in order. So a body awaits nothing but its
// statements: whatever else it waited for would hold up every other request. Savepoints
// (a transaction inside another) are taken one at a time.
import { AsyncLocalStorage } from 'node:async_hooks';
import type Database from 'better-sqlite3';
import { hasNul, nulText, type Params, type Sql } from './sql.ts';

type Statement = Database.Statement;

/** One open transaction: its savepoints are numbered by depth. */
interface Tx {
  open: boolean;
  depth: number;
}

export class SqliteSql implements Sql {
  readonly dialect = 'sqlite' as const;
  readonly #db: Database.Database;
  readonly #statements = new Map<string, Statement>();
  readonly #context = new AsyncLocalStorage<Tx>();
  /** The transaction holding the connection. */
  #holder: Tx | undefined;
  /** What waits for the connection, in the order it asked: statements (run as soon as it is
   *  free) and transactions (each holds it until it ends). */
  #queue: ({ statement: () => void } | { tx: Tx; start: () => void })[] = [];

  constructor(db: Database.Database) {
    this.#db = db;
  }

  /** The connection, for what only SQLite has (pragmas, migrations on open). */
  get db(): Database.Database {
    return this.#db;
  }

  #statement(text: string): Statement {
    let s = this.#statements.get(text);
    if (!s) {
      s = this.#db.prepare(text);
      this.#statements.set(text, s);
    }
    return s;
  }

  /** Whether a statement made now may use the connection: none holds it, or the caller. */
  #mine(): boolean {
    return !this.#holder || this.#context.getStore() === this.#holder;
  }

  /** The transaction ended: what waited runs, up to the next transaction, which takes the connection. */
  #release(): void {
    this.#holder = undefined;
    for (let next = this.#queue.shift(); next; next = this.#queue.shift()) {
      if ('statement' in next) {
        next.statement();
        continue;
      }
      this.#holder = next.tx;
      next.start();
      return;
    }
  }

  #exec<T>(fn: (s: Statement) => T, text: string): Promise<T> {
    if (!this.#mine()) {
      return new Promise<T>((resolve, reject) => {
        this.#queue.push({
          statement: () => {
            try {
              resolve(fn(this.#statement(text)));
            } catch (err) {
              reject(err);
            }
          },
        });
      });
    }
    try {
      return Promise.resolve(fn(this.#statement(text)));
    } catch (err) {
      return Promise.reject(err);
    }
  }

  all<T>(text: string, params: Params = []): Promise<T[]> {
    if (hasNul(params)) return Promise.resolve([]);
    return this.#exec((s) => (Array.isArray(params) ? s.all(...params) : s.all(params)) as T[], text);
  }

  get<T>(text: string, params: Params = []): Promise<T | undefined> {
    if (hasNul(params)) return Promise.resolve(undefined);
    return this.#exec((s) => (Array.isArray(params) ? s.get(...params) : s.get(params)) as T | undefined, text);
  }

  run(text: string, params: Params = []): Promise<number> {
    if (hasNul(params)) return Promise.reject(nulText());
    return this.#exec((s) => (Array.isArray(params) ? s.run(...params) : s.run(params)).changes, text);
  }

  outside<T>(fn: () => T): T {
    return this.#context.exit(fn);
  }

  inTransaction(): boolean {
    const tx = this.#context.getStore();
    return tx !== undefined && tx === this.#holder && tx.open;
  }

  async transaction<T>(fn: () => Promise<T> | T): Promise<T> {
    const outer = this.#context.getStore();
    if (outer && outer === this.#holder && outer.open) {
      const name = `s${++outer.depth}`;
      this.#db.exec(`SAVEPOINT ${name}`);
      try {
        const value = await fn();
        this.#db.exec(`RELEASE ${name}`);
        return value;
      } catch (err) {
        // SQLite may have rolled the whole transaction back already (a constraint with ON
        // CONFLICT ROLLBACK, a full disk): the body's error is the one to report.
        if (this.#db.inTransaction) this.#db.exec(`ROLLBACK TO ${name}; RELEASE ${name}`);
        throw err;
      } finally {
        outer.depth--;
      }
    }
    const tx: Tx = { open: true, depth: 0 };
    // Taken at once when free (a statement made after this call waits for the commit), or
    // handed over by the transaction before.
    if (this.#holder) await new Promise<void>((start) => this.#queue.push({ tx, start }));
    else this.#holder = tx;
    try {
      this.#db.exec('BEGIN');
      const value = await this.#context.run(tx, fn);
      this.#db.exec('COMMIT');
      return value;
    } catch (err) {
      if (this.#db.inTransaction) this.#db.exec('ROLLBACK');
      throw err;
    } finally {
      // Work the body left behind (a timer made inside it) finds it closed and waits its turn.
      tx.open = false;
      this.#release();
    }
  }

  async close(): Promise<void> {
    // After what is under way and waiting.
    if (this.#holder) await this.transaction(() => undefined);
    this.#db.close();
  }
}
