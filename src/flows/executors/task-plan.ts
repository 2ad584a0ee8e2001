/**
 * Turns a task of a spec into the process that runs one attempt: `.sh` with bash, `.py` with python3,
 * `command:` with `bash -c`, `.sql` with the SQL child (better-sqlite3 or pg) on the server. On an
 * agent, `.sql` runs with python3's sqlite3 module (SQLite) or psql (PostgreSQL), which an agent host has
 * without Flotilla's Node dependencies. The executor file travels in `files`.
 */
import { dirname, isAbsolute, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Code, FlotillaError } from '../../core/errors.js';
import type { TaskProcessPlan } from '../../monitor/index.js';
import type { TaskSpec } from '../spec/index.js';

export interface AttemptContext {
  flowKey: string;
  runId: string;
  tryNumber: number;
  /** ms since the epoch: the run's logical (scheduled) time. */
  logicalTimeMs: number;
  flowEnv: Record<string, string>;
  flowParams: Record<string, unknown>;
  /** Where relative `sqlite:` connections and the default SQLite database live (on the server). */
  sqlDir: string;
}

const sqliteRemote = [
  'import sqlite3, sys, json',
  'db = sqlite3.connect(sys.argv[1])',
  'cur = db.cursor()',
  'cur.executescript("BEGIN;" + open(sys.argv[2]).read() + ";COMMIT;")',
  'print("ok")',
].join('\n');

function sqlChildArgv(): string[] {
  const isTs = import.meta.url.endsWith('.ts');
  const child = fileURLToPath(new URL(`./sql-child.${isTs ? 'ts' : 'js'}`, import.meta.url));
  return isTs ? [process.execPath, '--import', 'tsx', child] : [process.execPath, child];
}

function connectionFor(task: TaskSpec, ctx: AttemptContext, remote: boolean): string {
  const conn = task.connection ?? `sqlite:${ctx.flowKey}.db`;
  if (!conn.startsWith('sqlite:')) return conn;
  const path = conn.slice('sqlite:'.length);
  if (remote) return conn;
  // On the server the task gets its own database only, never the server's files: sqlDir is
  // <data-dir>/flows, next to the server's SQL store (flotilla.db), coordination store and tokens.
  const full = resolve(ctx.sqlDir, path);
  const serverDir = dirname(resolve(ctx.sqlDir));
  if (!isInside(full, resolve(ctx.sqlDir)) && (!isAbsolute(path) || isInside(full, serverDir))) {
    throw new FlotillaError(
      Code.PERMISSION_DENIED,
      `task ${task.key}: connection ${conn} points outside the workflows' database directory into the server's own files; use a path relative to it (default sqlite:<flow key>.db) or a database of your own`,
    );
  }
  return `sqlite:${full}`;
}

function isInside(path: string, dir: string): boolean {
  const rel = relative(dir, path);
  return rel === '' || (!rel.startsWith('..') && !isAbsolute(rel));
}

export function planAttempt(task: TaskSpec, ctx: AttemptContext, where: 'local' | 'remote'): TaskProcessPlan {
  const env: Record<string, string> = {
    ...ctx.flowEnv,
    ...task.env,
    FLOTILLA_FLOW: ctx.flowKey,
    FLOTILLA_RUN_ID: ctx.runId,
    FLOTILLA_TASK: task.key,
    FLOTILLA_TRY_NUMBER: String(ctx.tryNumber),
    FLOTILLA_LOGICAL_TIME: new Date(ctx.logicalTimeMs).toISOString(),
    FLOTILLA_PARAMS: JSON.stringify({ ...ctx.flowParams, ...task.params }),
  };
  const timeout = task.timeoutMs !== undefined ? { timeoutMs: task.timeoutMs } : {};
  const a = task.action;
  switch (a.kind) {
    case 'command':
      return { argv: ['bash', '-c', a.command], files: {}, env, ...timeout };
    case 'sh':
      return { argv: ['bash', 'task.sh'], files: { 'task.sh': a.content }, env, ...timeout };
    case 'py':
      return { argv: ['python3', '-u', 'task.py'], files: { 'task.py': a.content }, env, ...timeout };
    case 'sql': {
      const conn = connectionFor(task, ctx, where === 'remote');
      if (where === 'local') return { argv: [...sqlChildArgv(), conn, 'task.sql'], files: { 'task.sql': a.content }, env, ...timeout };
      if (conn.startsWith('sqlite:')) return { argv: ['python3', '-c', sqliteRemote, conn.slice(7), 'task.sql'], files: { 'task.sql': a.content }, env, ...timeout };
      return { argv: ['psql', conn, '-v', 'ON_ERROR_STOP=1', '-1', '-f', 'task.sql'], files: { 'task.sql': a.content }, env, ...timeout };
    }
    case 'sensor':
      throw new FlotillaError(Code.INTERNAL, `task ${task.key} is a sensor: the scheduler evaluates it, no process runs`);
  }
}
