/**
 * Our side: the workflow service (FlowService) in this process with its real SQLite store (WAL,
 * synchronous=FULL, in a temp dir) and its real run engine. It runs in-process rather than as a
 * `flotilla server` so that both peers' executors are functions of the bench process: the executor records
 * each task's start and end on the same clock as BullMQ's worker does, and no HTTP polling of run status
 * adds to what is measured. `noop` swaps the executor seam (TaskDispatcher) for one that returns at once;
 * `process` keeps the real one (a process group per attempt running `true`).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { silentLogger } from '../../src/core/log.js';
import { openSqlStore } from '../../src/core/sql/index.js';
import { createLocalDispatcher, FlowService, loadFlowSpecFile, type AttemptOutcome, type TaskDispatcher } from '../../src/flows/index.js';
import { nowMs, roundResult, toFlowYaml, type DagShape, type RoundResult, type TaskTimes } from './shape.js';

export type ExecutorKind = 'noop' | 'process';

export interface OursPeer {
  runRound(): Promise<RoundResult>;
  close(): Promise<void>;
}

function timedDispatcher(kind: ExecutorKind, times: () => TaskTimes): TaskDispatcher {
  const local = createLocalDispatcher();
  return {
    async run(host, req) {
      const key = req.attemptId.split('/')[1]!;
      times().start.set(key, nowMs());
      const out: AttemptOutcome =
        kind === 'noop'
          ? { kind: 'exit', exitCode: 0, signal: null, timedOut: false, cancelled: false, lastStdoutLine: '' }
          : await local.run(host, req);
      times().end.set(key, nowMs());
      return out;
    },
  };
}

export async function startOurs(shape: DagShape, opts: { executor: ExecutorKind; concurrency: number }): Promise<OursPeer> {
  const dir = mkdtempSync(join(tmpdir(), 'flotilla-bench-flows-'));
  const sql = await openSqlStore(`sqlite:${join(dir, 'flows.db')}`);
  let times: TaskTimes = { start: new Map(), end: new Map() };
  const service = new FlowService({
    sql: () => sql,
    logger: silentLogger(),
    dataDir: join(dir, 'data'),
    advertise: 'bench',
    maxParallel: opts.concurrency,
    localDispatcher: timedDispatcher(opts.executor, () => times),
  });
  const ended = new Map<string, string>();
  let wake: (() => void) | undefined;
  service.on('run:state:changed', (e) => {
    if (e.state === 'success' || e.state === 'failed' || e.state === 'cancelled') {
      ended.set(e.runId, e.state);
      wake?.();
    }
  });
  await service.start();
  writeFileSync(join(dir, 'bench.yaml'), toFlowYaml(shape, 'bench'));
  const { bundle, result } = loadFlowSpecFile(join(dir, 'bench.yaml'));
  if (result.spec === undefined) throw new Error(`the bench spec does not validate: ${JSON.stringify(result.problems.slice(0, 3))}`);
  await service.submit(bundle);
  return {
    async runRound() {
      times = { start: new Map(), end: new Map() };
      const t0 = nowMs();
      const row = await service.createRun('bench');
      if (row === undefined) throw new Error('the run was not created');
      while (!ended.has(row.id)) await new Promise<void>((resolve) => (wake = resolve));
      const wallMs = nowMs() - t0;
      if (ended.get(row.id) !== 'success') throw new Error(`our run ended ${ended.get(row.id)}: ${(await service.getRun(row.id)).reason}`);
      return roundResult(shape, times, wallMs);
    },
    async close() {
      await service.stop();
      await sql.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
