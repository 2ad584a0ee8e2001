/** A FlowService on a real SQLite store in a temp dir, with helpers to submit specs and await runs. */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { mkdtempSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { openSqlStore, type SqlStore } from '../../src/core/sql/index.js';
import { silentLogger } from '../../src/core/log.js';
import { FlowService, loadFlowSpecFile, type FlowServiceOptions, type RunStateEvent, type TaskStateEvent } from '../../src/flows/index.js';

/**
 * With FLOWS_TEST_POSTGRES=postgres://... (set by test/flows/scheduler/postgres.test.ts), every harness
 * gets a database of its own on that server instead of a SQLite file.
 */
async function freshPostgresDb(): Promise<string | undefined> {
  const base = process.env.FLOWS_TEST_POSTGRES;
  if (base === undefined || base === '') return undefined;
  const name = `flows_${randomBytes(6).toString('hex')}`;
  const client = new pg.Client({ connectionString: base });
  await client.connect();
  try {
    await client.query(`CREATE DATABASE ${name}`);
  } finally {
    await client.end();
  }
  const url = new URL(base);
  url.pathname = `/${name}`;
  return url.toString();
}

export interface Harness {
  dir: string;
  service: FlowService;
  events: TaskStateEvent[];
  /** Writes files (relative to the harness dir) and submits the spec at `spec.yaml`. */
  submit(yaml: string, files?: Record<string, string>): Promise<string>;
  waitRun(runId: string, timeoutMs?: number): Promise<RunStateEvent>;
  waitTask(runId: string, task: string, state: string, timeoutMs?: number): Promise<void>;
  close(): Promise<void>;
}

export async function startHarness(opts: { db?: string; dir?: string; service?: Partial<FlowServiceOptions> } = {}): Promise<Harness> {
  const dir = opts.dir ?? mkdtempSync(join(tmpdir(), 'flows-test-'));
  const sql: SqlStore = await openSqlStore(opts.db ?? (await freshPostgresDb()) ?? `sqlite:${join(dir, 'flows.db')}`);
  const service = new FlowService({ sql: () => sql, logger: silentLogger(), dataDir: join(dir, 'data'), advertise: 'test', ...opts.service });
  const events: TaskStateEvent[] = [];
  const runEnds = new Map<string, RunStateEvent>();
  service.on('task:state:changed', (e) => events.push(e));
  service.on('run:state:changed', (e) => {
    if (e.state === 'success' || e.state === 'failed' || e.state === 'cancelled') runEnds.set(e.runId, e);
  });
  await service.start();
  const until = async (cond: () => boolean, what: string, timeoutMs: number): Promise<void> => {
    for (let i = 0; i < timeoutMs / 10; i++) {
      if (cond()) return;
      await new Promise((r) => setTimeout(r, 10));
    }
    throw new Error(`timed out waiting for ${what}; events: ${events.map((e) => `${e.task}:${e.state}`).join(' ')}`);
  };
  return {
    dir,
    service,
    events,
    async submit(yaml, files = {}) {
      for (const [name, content] of Object.entries(files)) {
        mkdirSync(dirname(join(dir, name)), { recursive: true });
        writeFileSync(join(dir, name), content);
      }
      writeFileSync(join(dir, 'spec.yaml'), yaml);
      const { bundle, result } = loadFlowSpecFile(join(dir, 'spec.yaml'));
      if (result.spec === undefined) throw new Error(JSON.stringify(result.problems));
      return (await service.submit(bundle)).key;
    },
    async waitRun(runId, timeoutMs = 20_000) {
      runEnds.delete(runId);
      const row = await service.store.getRun(runId);
      if (row !== undefined && (row.state === 'success' || row.state === 'failed' || row.state === 'cancelled')) {
        return { runId, flow: row.flow_key, state: row.state, reason: row.reason, timeMs: row.ended_ms ?? 0 };
      }
      await until(() => runEnds.has(runId), `run ${runId} to end`, timeoutMs);
      return runEnds.get(runId)!;
    },
    async waitTask(runId, task, state, timeoutMs = 20_000) {
      await until(() => events.some((e) => e.runId === runId && e.task === task && e.state === state), `${task} to be ${state}`, timeoutMs);
    },
    async close() {
      await service.stop();
      await sql.close();
      if (opts.dir === undefined) rmSync(dir, { recursive: true, force: true });
    },
  };
}
