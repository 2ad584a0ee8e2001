/**
 * The `SqlStore` seam: the server's relational store for workflows, messages and tokens. SQLite (embedded,
 * the default) or PostgreSQL (by URL); callers write `?` placeholders and get the same behaviour from both.
 * Booleans are stored as 0/1 integers and times as integer milliseconds in both dialects; JSON as TEXT.
 */
export type SqlDialect = 'sqlite' | 'postgres';

export interface RunResult {
  changes: number;
  /** SQLite's rowid of an INSERT; undefined on PostgreSQL (use RETURNING). */
  lastInsertRowid?: number;
}

/** A schema change, applied once: one script for both dialects, or one per dialect where they differ. */
export type Migration =
  | {
      /** Applied in ascending order, each once. */
      id: number;
      /** SQL that SQLite and PostgreSQL both accept. */
      sql: string;
    }
  | {
      id: number;
      sqlite: string;
      postgres: string;
    };

export interface SqlStore {
  readonly dialect: SqlDialect;
  /** Statements that return no rows. Placeholders are `?` (translated to $1.. for PostgreSQL). */
  run(sql: string, params?: readonly unknown[]): Promise<RunResult>;
  all<T>(sql: string, params?: readonly unknown[]): Promise<T[]>;
  get<T>(sql: string, params?: readonly unknown[]): Promise<T | undefined>;
  /** Runs fn in one transaction; on SQLite transactions are serialized. Nested calls join the outer one. */
  transaction<T>(fn: (tx: SqlStore) => Promise<T>): Promise<T>;
  /** Applies each migration once, in id order, recorded per module in table flotilla_migrations. */
  migrate(module: string, migrations: readonly Migration[]): Promise<void>;
  close(): Promise<void>;
}

/** Replaces `?` placeholders outside string literals and quoted identifiers with $1, $2, ... */
export function toPostgresPlaceholders(sql: string): string {
  let out = '';
  let n = 0;
  let quote: string | undefined;
  for (let i = 0; i < sql.length; i++) {
    const c = sql[i]!;
    if (quote !== undefined) {
      out += c;
      if (c === quote) quote = undefined;
    } else if (c === "'" || c === '"') {
      quote = c;
      out += c;
    } else if (c === '?') {
      n += 1;
      out += `$${n}`;
    } else {
      out += c;
    }
  }
  return out;
}

const MIGRATIONS_TABLE = `CREATE TABLE IF NOT EXISTS flotilla_migrations (
  module TEXT NOT NULL,
  id INTEGER NOT NULL,
  applied_at_ms BIGINT NOT NULL,
  PRIMARY KEY (module, id)
)`;

/** The migration runner both dialects share: one transaction per migration, recorded with it. */
export async function applyMigrations(store: SqlStore, module: string, migrations: readonly Migration[]): Promise<void> {
  await store.run(MIGRATIONS_TABLE);
  const done = new Set((await store.all<{ id: number | string }>('SELECT id FROM flotilla_migrations WHERE module = ?', [module])).map((r) => Number(r.id)));
  for (const m of [...migrations].sort((a, b) => a.id - b.id)) {
    if (done.has(m.id)) continue;
    await store.transaction(async (tx) => {
      const sql = 'sql' in m ? m.sql : tx.dialect === 'sqlite' ? m.sqlite : m.postgres;
      for (const statement of splitStatements(sql)) await tx.run(statement);
      await tx.run('INSERT INTO flotilla_migrations (module, id, applied_at_ms) VALUES (?, ?, ?)', [module, m.id, Date.now()]);
    });
  }
}

/** Splits a migration script on semicolons that end a statement (outside quotes). */
export function splitStatements(sql: string): string[] {
  const out: string[] = [];
  let current = '';
  let quote: string | undefined;
  for (const c of sql) {
    if (quote !== undefined) {
      if (c === quote) quote = undefined;
    } else if (c === "'" || c === '"') {
      quote = c;
    } else if (c === ';') {
      if (current.trim() !== '') out.push(current.trim());
      current = '';
      continue;
    }
    current += c;
  }
  if (current.trim() !== '') out.push(current.trim());
  return out;
}
