/**
 * Workflows, their versions, runs, task instances, attempts and attempt logs in the server's SQL store
 * (SQLite or PostgreSQL). Every state change is written before it is acted on, so a restarted or newly
 * elected scheduler resumes from here. Times are integer ms since the epoch.
 */
import { createHash } from 'node:crypto';
import type { SqlStore } from '../../core/sql/index.js';
import type { RunState, TaskState } from '../dag/task-states.js';
import type { SpecBundle } from '../spec/index.js';
import { GroupCommit } from './group-commit.js';

const table = (pgType: string, sqliteType: string) => ({ pg: pgType, sqlite: sqliteType });
const T = { ms: table('BIGINT', 'INTEGER'), id: table('BIGSERIAL PRIMARY KEY', 'INTEGER PRIMARY KEY AUTOINCREMENT') };

function schema(d: 'pg' | 'sqlite'): string {
  return `
CREATE TABLE flow_flows (key TEXT PRIMARY KEY, version TEXT NOT NULL, paused INTEGER NOT NULL DEFAULT 0,
  last_tick_ms ${T.ms[d]}, created_ms ${T.ms[d]} NOT NULL, updated_ms ${T.ms[d]} NOT NULL);
CREATE TABLE flow_versions (flow_key TEXT NOT NULL, version TEXT NOT NULL, bundle TEXT NOT NULL, created_ms ${T.ms[d]} NOT NULL,
  PRIMARY KEY (flow_key, version));
CREATE TABLE flow_runs (id TEXT PRIMARY KEY, flow_key TEXT NOT NULL, version TEXT NOT NULL, run_key TEXT NOT NULL,
  state TEXT NOT NULL, trigger TEXT NOT NULL, logical_ms ${T.ms[d]} NOT NULL, created_ms ${T.ms[d]} NOT NULL,
  started_ms ${T.ms[d]}, ended_ms ${T.ms[d]}, reason TEXT NOT NULL DEFAULT '');
CREATE UNIQUE INDEX flow_runs_key ON flow_runs (flow_key, run_key);
CREATE INDEX flow_runs_state ON flow_runs (state);
CREATE TABLE flow_tasks (run_id TEXT NOT NULL, task_key TEXT NOT NULL, state TEXT NOT NULL, try_number INTEGER NOT NULL,
  max_tries INTEGER NOT NULL, next_ms ${T.ms[d]}, scheduled_ms ${T.ms[d]}, started_ms ${T.ms[d]}, ended_ms ${T.ms[d]},
  lateness_ms ${T.ms[d]}, host TEXT NOT NULL DEFAULT '', reason TEXT NOT NULL DEFAULT '', updated_ms ${T.ms[d]} NOT NULL,
  PRIMARY KEY (run_id, task_key));
CREATE TABLE flow_attempts (run_id TEXT NOT NULL, task_key TEXT NOT NULL, try_number INTEGER NOT NULL, host TEXT NOT NULL,
  started_ms ${T.ms[d]} NOT NULL, ended_ms ${T.ms[d]}, exit_code INTEGER, outcome TEXT NOT NULL DEFAULT 'running',
  reason TEXT NOT NULL DEFAULT '', PRIMARY KEY (run_id, task_key, try_number));
CREATE TABLE flow_logs (id ${T.id[d]}, run_id TEXT NOT NULL, task_key TEXT NOT NULL, try_number INTEGER NOT NULL,
  stream TEXT NOT NULL, line TEXT NOT NULL, time_ms ${T.ms[d]} NOT NULL);
CREATE INDEX flow_logs_run ON flow_logs (run_id, id);
CREATE TABLE flow_events (id ${T.id[d]}, run_id TEXT NOT NULL, task_key TEXT NOT NULL, state TEXT NOT NULL,
  reason TEXT NOT NULL, time_ms ${T.ms[d]} NOT NULL);
CREATE INDEX flow_events_run ON flow_events (run_id, id);
`;
}

export interface FlowRow { key: string; version: string; paused: number; last_tick_ms: number | null; created_ms: number; updated_ms: number }
export interface RunRow {
  id: string; flow_key: string; version: string; run_key: string; state: RunState; trigger: string; logical_ms: number;
  created_ms: number; started_ms: number | null; ended_ms: number | null; reason: string;
}
export interface TaskRow {
  run_id: string; task_key: string; state: TaskState; try_number: number; max_tries: number; next_ms: number | null;
  scheduled_ms: number | null; started_ms: number | null; ended_ms: number | null; lateness_ms: number | null;
  host: string; reason: string; updated_ms: number;
}
export interface AttemptRow {
  run_id: string; task_key: string; try_number: number; host: string; started_ms: number; ended_ms: number | null;
  exit_code: number | null; outcome: string; reason: string;
}
export interface LogRow { id: number; run_id: string; task_key: string; try_number: number; stream: string; line: string; time_ms: number }
export interface EventRow { id: number; run_id: string; task_key: string; state: string; reason: string; time_ms: number }

export function bundleVersion(bundle: SpecBundle): string {
  const h = createHash('sha256');
  h.update(bundle.yaml);
  for (const name of Object.keys(bundle.files).sort()) h.update(`\0${name}\0${bundle.files[name]}`);
  return h.digest('hex').slice(0, 12);
}

/**
 * Writes of task instances, runs, attempts and logs go through a group commit (see group-commit.ts): the
 * promise of each settles when its transaction commits, and `committed()` is the barrier the scheduler
 * waits on before it acts on a state change. Reads wait for the writes added before them.
 */
export class FlowStore {
  private readonly group: GroupCommit;

  constructor(readonly sql: SqlStore) {
    this.group = new GroupCommit(sql);
  }

  /** Resolves once every write added so far is committed (rejects if one of them failed). */
  committed(): Promise<void> {
    return this.group.committed();
  }

  /** Group transactions committed so far. */
  get commits(): number {
    return this.group.commits;
  }

  private async settled(): Promise<void> {
    await this.group.committed().catch(() => undefined);
  }

  async migrate(): Promise<void> {
    await this.sql.migrate('flows', [{ id: 1, sqlite: schema('sqlite'), postgres: schema('pg') }]);
  }

  /** Stores a version (idempotent) and makes it the flow's current one. Returns the version id. */
  async putFlow(key: string, bundle: SpecBundle, nowMs: number): Promise<{ version: string; created: boolean }> {
    const version = bundleVersion(bundle);
    return this.sql.transaction(async (tx) => {
      const exists = await tx.get<{ version: string }>('SELECT version FROM flow_versions WHERE flow_key = ? AND version = ?', [key, version]);
      if (exists === undefined) await tx.run('INSERT INTO flow_versions (flow_key, version, bundle, created_ms) VALUES (?, ?, ?, ?)', [key, version, JSON.stringify(bundle), nowMs]);
      const flow = await tx.get<FlowRow>('SELECT * FROM flow_flows WHERE key = ?', [key]);
      if (flow === undefined) await tx.run('INSERT INTO flow_flows (key, version, paused, last_tick_ms, created_ms, updated_ms) VALUES (?, ?, 0, ?, ?, ?)', [key, version, nowMs, nowMs, nowMs]);
      else await tx.run('UPDATE flow_flows SET version = ?, updated_ms = ? WHERE key = ?', [version, nowMs, key]);
      return { version, created: flow === undefined };
    });
  }

  async getFlow(key: string): Promise<FlowRow | undefined> {
    return this.sql.get<FlowRow>('SELECT * FROM flow_flows WHERE key = ?', [key]);
  }
  listFlows(): Promise<FlowRow[]> {
    return this.sql.all<FlowRow>('SELECT * FROM flow_flows ORDER BY key');
  }
  async setPaused(key: string, paused: boolean, nowMs: number): Promise<boolean> {
    const r = await this.sql.run('UPDATE flow_flows SET paused = ?, updated_ms = ? WHERE key = ?', [paused ? 1 : 0, nowMs, key]);
    return r.changes > 0;
  }
  async setLastTick(key: string, tickMs: number): Promise<void> {
    await this.sql.run('UPDATE flow_flows SET last_tick_ms = ? WHERE key = ?', [tickMs, key]);
  }
  async getBundle(key: string, version: string): Promise<SpecBundle | undefined> {
    const row = await this.sql.get<{ bundle: string }>('SELECT bundle FROM flow_versions WHERE flow_key = ? AND version = ?', [key, version]);
    return row === undefined ? undefined : (JSON.parse(row.bundle) as SpecBundle);
  }

  /** Creates a run with its task instances; undefined when a run with this run_key exists already. */
  async createRun(run: Omit<RunRow, 'started_ms' | 'ended_ms' | 'reason'>, tasks: { key: string; maxTries: number }[]): Promise<RunRow | undefined> {
    return this.sql.transaction(async (tx) => {
      const dup = await tx.get<{ id: string }>('SELECT id FROM flow_runs WHERE flow_key = ? AND run_key = ?', [run.flow_key, run.run_key]);
      if (dup !== undefined) return undefined;
      await tx.run(
        'INSERT INTO flow_runs (id, flow_key, version, run_key, state, trigger, logical_ms, created_ms, reason) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)',
        [run.id, run.flow_key, run.version, run.run_key, run.state, run.trigger, run.logical_ms, run.created_ms, ''],
      );
      for (const t of tasks) await this.insertTask(tx, run.id, t.key, t.maxTries, run.created_ms);
      return { ...run, started_ms: null, ended_ms: null, reason: '' };
    });
  }

  async insertTask(tx: SqlStore, runId: string, key: string, maxTries: number, nowMs: number): Promise<void> {
    await tx.run('INSERT INTO flow_tasks (run_id, task_key, state, try_number, max_tries, host, reason, updated_ms) VALUES (?, ?, ?, 0, ?, ?, ?, ?)', [runId, key, 'none', maxTries, '', '', nowMs]);
  }

  async getRun(id: string): Promise<RunRow | undefined> {
    await this.settled();
    return this.sql.get<RunRow>('SELECT * FROM flow_runs WHERE id = ?', [id]);
  }
  async listRuns(flowKey: string | undefined, limit: number): Promise<RunRow[]> {
    await this.settled();
    return flowKey === undefined
      ? this.sql.all<RunRow>('SELECT * FROM flow_runs ORDER BY created_ms DESC, id DESC LIMIT ?', [limit])
      : this.sql.all<RunRow>('SELECT * FROM flow_runs WHERE flow_key = ? ORDER BY created_ms DESC, id DESC LIMIT ?', [flowKey, limit]);
  }
  async activeRuns(): Promise<RunRow[]> {
    await this.settled();
    return this.sql.all<RunRow>("SELECT * FROM flow_runs WHERE state IN ('queued', 'running') ORDER BY created_ms, id");
  }
  updateRun(id: string, fields: Partial<Pick<RunRow, 'state' | 'version' | 'started_ms' | 'ended_ms' | 'reason'>>): Promise<void> {
    const keys = Object.keys(fields) as (keyof typeof fields)[];
    if (keys.length === 0) return this.group.committed();
    const args = [...keys.map((k) => fields[k]), id];
    return this.group.add((tx) => tx.run(`UPDATE flow_runs SET ${keys.map((k) => `${k} = ?`).join(', ')} WHERE id = ?`, args));
  }

  async tasks(runId: string): Promise<TaskRow[]> {
    await this.settled();
    return this.sql.all<TaskRow>('SELECT * FROM flow_tasks WHERE run_id = ? ORDER BY task_key', [runId]);
  }
  /** Writes a task instance's new fields and its state-change event in one transaction. */
  /** Writes a task instance's new fields and its state-change event in the same (group) transaction. */
  updateTask(runId: string, key: string, fields: Partial<Omit<TaskRow, 'run_id' | 'task_key'>>, event?: { state: string; reason: string; timeMs: number }): Promise<void> {
    const keys = Object.keys(fields) as (keyof typeof fields)[];
    const args = [...keys.map((k) => fields[k]), runId, key];
    return this.group.add(async (tx) => {
      if (keys.length > 0) await tx.run(`UPDATE flow_tasks SET ${keys.map((k) => `${k} = ?`).join(', ')} WHERE run_id = ? AND task_key = ?`, args);
      if (event !== undefined) await tx.run('INSERT INTO flow_events (run_id, task_key, state, reason, time_ms) VALUES (?, ?, ?, ?, ?)', [runId, key, event.state, event.reason, event.timeMs]);
    });
  }
  insertTaskInstance(runId: string, key: string, maxTries: number, nowMs: number): Promise<void> {
    return this.group.add((tx) => this.insertTask(tx, runId, key, maxTries, nowMs));
  }

  startAttempt(a: Pick<AttemptRow, 'run_id' | 'task_key' | 'try_number' | 'host' | 'started_ms'>): Promise<void> {
    return this.group.add((tx) => tx.run('INSERT INTO flow_attempts (run_id, task_key, try_number, host, started_ms) VALUES (?, ?, ?, ?, ?)', [a.run_id, a.task_key, a.try_number, a.host, a.started_ms]));
  }
  endAttempt(runId: string, key: string, tryNumber: number, f: { endedMs: number; exitCode: number | null; outcome: string; reason: string }): Promise<void> {
    return this.group.add((tx) =>
      tx.run('UPDATE flow_attempts SET ended_ms = ?, exit_code = ?, outcome = ?, reason = ? WHERE run_id = ? AND task_key = ? AND try_number = ?', [
        f.endedMs, f.exitCode, f.outcome, f.reason, runId, key, tryNumber,
      ]),
    );
  }
  async attempts(runId: string): Promise<AttemptRow[]> {
    await this.settled();
    return this.sql.all<AttemptRow>('SELECT * FROM flow_attempts WHERE run_id = ? ORDER BY task_key, try_number', [runId]);
  }

  appendLogs(lines: Omit<LogRow, 'id'>[]): Promise<void> {
    if (lines.length === 0) return Promise.resolve();
    return this.group.add(async (tx) => {
      for (const l of lines) await tx.run('INSERT INTO flow_logs (run_id, task_key, try_number, stream, line, time_ms) VALUES (?, ?, ?, ?, ?, ?)', [l.run_id, l.task_key, l.try_number, l.stream, l.line, l.time_ms]);
    });
  }
  async logs(runId: string, opts: { task?: string; afterId?: number; limit?: number }): Promise<LogRow[]> {
    await this.settled();
    const args: unknown[] = [runId, opts.afterId ?? 0];
    let where = 'run_id = ? AND id > ?';
    if (opts.task !== undefined) {
      where += ' AND task_key = ?';
      args.push(opts.task);
    }
    args.push(opts.limit ?? 10_000);
    return this.sql.all<LogRow>(`SELECT * FROM flow_logs WHERE ${where} ORDER BY id LIMIT ?`, args);
  }
  /**
   * For the dashboard's overview: runs by state, task failures (`failed` events) since `sinceMs`, and the
   * newest `recent` of those failures with their flow.
   */
  async overviewCounts(sinceMs: number, recent = 20): Promise<{ runsByState: Record<string, number>; failedTasks: number; recentFailures: (EventRow & { flow_key: string })[] }> {
    await this.settled();
    const rows = await this.sql.all<{ state: string; n: number }>('SELECT state, COUNT(*) AS n FROM flow_runs GROUP BY state');
    const failed = await this.sql.get<{ n: number }>("SELECT COUNT(*) AS n FROM flow_events WHERE state = 'failed' AND time_ms >= ?", [sinceMs]);
    const recentFailures = await this.sql.all<EventRow & { flow_key: string }>(
      "SELECT e.*, r.flow_key FROM flow_events e JOIN flow_runs r ON r.id = e.run_id WHERE e.state = 'failed' AND e.time_ms >= ? ORDER BY e.time_ms DESC, e.id DESC LIMIT ?",
      [sinceMs, recent],
    );
    return { runsByState: Object.fromEntries(rows.map((r) => [r.state, Number(r.n)])), failedTasks: Number(failed?.n ?? 0), recentFailures };
  }
  async events(runId: string): Promise<EventRow[]> {
    await this.settled();
    return this.sql.all<EventRow>('SELECT * FROM flow_events WHERE run_id = ? ORDER BY id', [runId]);
  }
}
