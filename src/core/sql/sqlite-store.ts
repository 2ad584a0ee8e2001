/**
 * SQLite through better-sqlite3: WAL journal with synchronous=FULL, so a committed transaction survives
 * kill -9 and power loss. better-sqlite3 is synchronous; transactions are serialized through a queue so
 * that an async `fn` never interleaves with another transaction's statements.
 */
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import { Code, FlotillaError } from '../errors.js';
import { applyMigrations, type Migration, type RunResult, type SqlStore } from './sql-store.js';

type Db = Database.Database;

function toSqliteParams(params: readonly unknown[] | undefined): unknown[] {
  return (params ?? []).map((p) => (typeof p === 'boolean' ? (p ? 1 : 0) : p instanceof Date ? p.getTime() : p));
}

function sqlError(err: unknown, sql: string): FlotillaError {
  const code = (err as { code?: string }).code ?? '';
  if (code.startsWith('SQLITE_CONSTRAINT')) return new FlotillaError(Code.ALREADY_EXISTS, `constraint failed: ${(err as Error).message}`, { cause: err });
  if (code === 'SQLITE_BUSY') return new FlotillaError(Code.UNAVAILABLE, `database is busy: ${(err as Error).message}`, { cause: err });
  return new FlotillaError(Code.INTERNAL, `SQL failed (${sql.split('\n')[0]!.slice(0, 80)}): ${(err as Error).message}`, { cause: err });
}

/** Prepared statements per database, by SQL text (preparing is most of a small statement's cost). */
const statementCache = new WeakMap<Db, Map<string, Database.Statement>>();
const MAX_CACHED_STATEMENTS = 512;

function prepared(db: Db, sql: string): Database.Statement {
  let cache = statementCache.get(db);
  if (cache === undefined) statementCache.set(db, (cache = new Map<string, Database.Statement>()));
  let stmt = cache.get(sql);
  if (stmt === undefined) {
    stmt = db.prepare(sql);
    if (cache.size >= MAX_CACHED_STATEMENTS) cache.clear();
    cache.set(sql, stmt);
  }
  return stmt;
}

class SqliteStatements implements SqlStore {
  readonly dialect = 'sqlite' as const;
  constructor(
    protected readonly db: Db,
    private readonly tx: (fn: (tx: SqlStore) => Promise<unknown>) => Promise<unknown>,
  ) {}

  async run(sql: string, params?: readonly unknown[]): Promise<RunResult> {
    try {
      const r = prepared(this.db, sql).run(...toSqliteParams(params));
      return { changes: r.changes, lastInsertRowid: Number(r.lastInsertRowid) };
    } catch (err) {
      throw sqlError(err, sql);
    }
  }

  async all<T>(sql: string, params?: readonly unknown[]): Promise<T[]> {
    try {
      return prepared(this.db, sql).all(...toSqliteParams(params)) as T[];
    } catch (err) {
      throw sqlError(err, sql);
    }
  }

  async get<T>(sql: string, params?: readonly unknown[]): Promise<T | undefined> {
    try {
      return prepared(this.db, sql).get(...toSqliteParams(params)) as T | undefined;
    } catch (err) {
      throw sqlError(err, sql);
    }
  }

  transaction<T>(fn: (tx: SqlStore) => Promise<T>): Promise<T> {
    return this.tx(fn) as Promise<T>;
  }

  migrate(module: string, migrations: readonly Migration[]): Promise<void> {
    return applyMigrations(this, module, migrations);
  }

  async close(): Promise<void> {
    // Only the root store closes the database.
  }
}

class SqliteStore extends SqliteStatements {
  private queue: Promise<unknown> = Promise.resolve();
  private closed = false;

  constructor(db: Db) {
    super(db, (fn) => this.serialized(fn));
  }

  private serialized(fn: (tx: SqlStore) => Promise<unknown>): Promise<unknown> {
    const inner: SqlStore = new SqliteStatements(this.db, (nested): Promise<unknown> => nested(inner));
    const next = this.queue.then(async () => {
      if (this.closed) throw new FlotillaError(Code.UNAVAILABLE, 'the SQL store is closed');
      this.db.exec('BEGIN IMMEDIATE');
      try {
        const value = await fn(inner);
        this.db.exec('COMMIT');
        return value;
      } catch (err) {
        if (this.db.inTransaction) this.db.exec('ROLLBACK');
        throw err;
      }
    });
    this.queue = next.catch(() => undefined);
    return next;
  }

  override async close(): Promise<void> {
    if (this.closed) return;
    await this.queue;
    this.closed = true;
    this.db.close();
  }
}

export function openSqliteStore(path: string): SqlStore {
  if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
  let db: Db;
  try {
    db = new Database(path);
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = FULL');
    db.pragma('foreign_keys = ON');
    db.pragma('busy_timeout = 5000');
  } catch (err) {
    throw new FlotillaError(Code.UNAVAILABLE, `cannot open SQLite database ${path}: ${(err as Error).message}`, { cause: err });
  }
  return new SqliteStore(db);
}
