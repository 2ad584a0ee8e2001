/** PostgreSQL through `pg`: a pool for plain statements, one pooled client per transaction. */
import pg from 'pg';
import { Code, FlotillaError } from '../errors.js';
import { applyMigrations, toPostgresPlaceholders, type Migration, type RunResult, type SqlStore } from './sql-store.js';

type Queryable = pg.Pool | pg.PoolClient;

// BIGINT (int8) columns hold times in ms: read them as numbers, not strings (safe below 2^53).
pg.types.setTypeParser(20, (v) => Number(v));

function toPgParams(params: readonly unknown[] | undefined): unknown[] {
  return (params ?? []).map((p) => (typeof p === 'boolean' ? (p ? 1 : 0) : p instanceof Date ? p.getTime() : p));
}

function sqlError(err: unknown, sql: string): FlotillaError {
  const code = (err as { code?: string }).code ?? '';
  if (code === '23505' || code === '23503' || code === '23502') {
    return new FlotillaError(Code.ALREADY_EXISTS, `constraint failed: ${(err as Error).message}`, { cause: err });
  }
  if (code.startsWith('08') || code === 'ECONNREFUSED' || code === '57P01') {
    return new FlotillaError(Code.UNAVAILABLE, `PostgreSQL unavailable: ${(err as Error).message}`, { cause: err });
  }
  return new FlotillaError(Code.INTERNAL, `SQL failed (${sql.split('\n')[0]!.slice(0, 80)}): ${(err as Error).message}`, { cause: err });
}

class PostgresStatements implements SqlStore {
  readonly dialect = 'postgres' as const;
  constructor(
    protected readonly db: Queryable,
    private readonly pool: pg.Pool,
    private readonly inTransaction: boolean,
  ) {}

  private async query(sql: string, params?: readonly unknown[]): Promise<pg.QueryResult> {
    try {
      return await this.db.query(toPostgresPlaceholders(sql), toPgParams(params));
    } catch (err) {
      throw sqlError(err, sql);
    }
  }

  async run(sql: string, params?: readonly unknown[]): Promise<RunResult> {
    const r = await this.query(sql, params);
    return { changes: r.rowCount ?? 0 };
  }

  async all<T>(sql: string, params?: readonly unknown[]): Promise<T[]> {
    return (await this.query(sql, params)).rows as T[];
  }

  async get<T>(sql: string, params?: readonly unknown[]): Promise<T | undefined> {
    return (await this.query(sql, params)).rows[0] as T | undefined;
  }

  async transaction<T>(fn: (tx: SqlStore) => Promise<T>): Promise<T> {
    if (this.inTransaction) return fn(this);
    let client: pg.PoolClient;
    try {
      client = await this.pool.connect();
    } catch (err) {
      throw sqlError(err, 'BEGIN');
    }
    try {
      await client.query('BEGIN');
      const value = await fn(new PostgresStatements(client, this.pool, true));
      await client.query('COMMIT');
      return value;
    } catch (err) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw err instanceof FlotillaError ? err : sqlError(err, 'COMMIT');
    } finally {
      client.release();
    }
  }

  migrate(module: string, migrations: readonly Migration[]): Promise<void> {
    return applyMigrations(this, module, migrations);
  }

  async close(): Promise<void> {
    if (!this.inTransaction) await this.pool.end();
  }
}

export async function openPostgresStore(url: string): Promise<SqlStore> {
  const pool = new pg.Pool({ connectionString: url, max: 10, connectionTimeoutMillis: 5000 });
  pool.on('error', () => {
    // An idle client lost its connection; the pool replaces it on next use.
  });
  const store = new PostgresStatements(pool, pool, false);
  try {
    await pool.query('SELECT 1');
  } catch (err) {
    await pool.end().catch(() => undefined);
    throw new FlotillaError(Code.UNAVAILABLE, `cannot connect to PostgreSQL at ${redact(url)}: ${(err as Error).message}`, { cause: err });
  }
  return store;
}

/** The URL without its password, for messages. */
export function redact(url: string): string {
  return url.replace(/\/\/([^:/@]+):[^@/]*@/, '//$1:***@');
}
