/** The server's SQL store: `openSqlStore('sqlite:PATH')` (default) or `openSqlStore('postgres://...')`. */
import { Code, FlotillaError } from '../errors.js';
import type { Logger } from '../log.js';
import { openPostgresStore, redact } from './postgres-store.js';
import { openSqliteStore } from './sqlite-store.js';
import type { SqlStore } from './sql-store.js';

export type { Migration, RunResult, SqlDialect, SqlStore } from './sql-store.js';
export { toPostgresPlaceholders } from './sql-store.js';

/** `sqlite:PATH` (WAL, synchronous=FULL) or `postgres://user:pass@host:port/db` (also `postgresql://`). */
export async function openSqlStore(url: string, options: { logger?: Logger } = {}): Promise<SqlStore> {
  let store: SqlStore;
  if (url.startsWith('sqlite:')) {
    const path = url.slice('sqlite:'.length);
    if (path === '') throw new FlotillaError(Code.CONFIG_INVALID, 'invalid database URL "sqlite:": give a file path, e.g. sqlite:./data/flotilla.db');
    store = openSqliteStore(path);
  } else if (url.startsWith('postgres://') || url.startsWith('postgresql://')) {
    store = await openPostgresStore(url);
  } else {
    throw new FlotillaError(Code.CONFIG_INVALID, `invalid database URL ${JSON.stringify(redact(url))}: expected sqlite:PATH or postgres://...`);
  }
  options.logger?.info({ db: redact(url), dialect: store.dialect }, 'SQL store opened');
  return store;
}
