/**
 * The run engine: drives every active run's task instances through the 14 states. Readiness is evaluated
 * the moment an upstream finishes (no polling loop); queued instances start as slots free up (a global
 * limit and each flow's `concurrency`); retries, reschedules and one-off task triggers wait on timers.
 * Every change is written to the store first, then acted on, so another engine can resume the runs. All
 * mutations go through one promise chain, so the in-memory view and the store never disagree.
 */
import { EventEmitter } from 'node:events';
import { watch, existsSync, type FSWatcher } from 'node:fs';
import { dirname, basename } from 'node:path';
import type { Logger } from '../../core/log.js';
import { buildGraph, type Graph } from '../dag/graph.js';
import { canTransition, isFinished, type RunState, type TaskState } from '../dag/task-states.js';
import { evaluateTriggerRule } from '../dag/trigger-rules.js';
import { planAttempt } from '../executors/index.js';
import type { FlowSpec, TaskSpec } from '../spec/index.js';
import type { FlowStore, LogRow, RunRow, TaskRow } from '../store/index.js';
import { localHostname, type AttemptOutcome, type TaskDispatcher } from './dispatch.js';
import { occurrenceAtOrAfter, retryDelayMs, timerAt } from './timing.js';

export interface TaskStateEvent {
  runId: string; flow: string; task: string; state: TaskState; reason: string; tryNumber: number; timeMs: number;
  /** On `running` for a new attempt: its start minus its scheduled time. */
  latenessMs?: number;
}
export interface RunStateEvent { runId: string; flow: string; state: RunState; reason: string; timeMs: number }
export interface EngineEvents {
  'task:state:changed': [TaskStateEvent];
  'run:state:changed': [RunStateEvent];
  'task:log:appended': [{ runId: string; task: string }];
}

export interface RunEngineOptions {
  store: FlowStore;
  dispatcher: TaskDispatcher;
  /** Loads the spec of a flow version (pinned per run). */
  loadSpec: (flowKey: string, version: string) => Promise<FlowSpec>;
  logger: Logger;
  /** Directory for relative sqlite: connections. */
  sqlDir: string;
  /** Most attempts running at once on this scheduler. Default 64. */
  maxParallel?: number;
  now?: () => number;
}

/** Exit code by which a task says "skip me" (Airflow's skip_on_exit_code). */
export const SKIP_EXIT_CODE = 99;

type Pending = 'shutdown' | 'restarting' | 'removed';

interface ActiveRun {
  row: RunRow;
  spec: FlowSpec;
  specByKey: Map<string, TaskSpec>;
  graph: Graph;
  tasks: Map<string, TaskRow>;
  controllers: Map<string, AbortController>;
  pending: Map<string, Pending>;
  timers: Map<string, { cancel(): void }>;
  watchers: Map<string, FSWatcher>;
  /** Instances resumed from up_for_reschedule or deferred keep their try number. */
  resumed: Set<string>;
  runTimer?: { cancel(): void };
}

export class RunEngine extends EventEmitter<EngineEvents> {
  private readonly runs = new Map<string, ActiveRun>();
  private readonly queue: { runId: string; key: string }[] = [];
  private runningTotal = 0;
  private readonly runningByFlow = new Map<string, number>();
  private chain: Promise<void> = Promise.resolve();
  private stopped = false;
  private readonly now: () => number;
  private readonly maxParallel: number;
  /** Instances whose `runs_on: {labels}` matched no connected agent: queued until an agent connects. */
  private readonly agentWaiters = new Map<string, { run: ActiveRun; key: string }>();
  private unsubscribeAgents: (() => void) | undefined;

  constructor(private readonly o: RunEngineOptions) {
    super();
    this.now = o.now ?? Date.now;
    this.maxParallel = o.maxParallel ?? 64;
  }

  /** Runs fn after every earlier mutation; errors are logged, never unhandled. */
  exec<T>(fn: () => Promise<T>): Promise<T> {
    const p = this.chain.then(fn);
    this.chain = p.then(
      () => undefined,
      (err: unknown) => {
        this.o.logger.error({ err }, 'flows engine step failed');
      },
    );
    return p;
  }

  activeRunIds(): string[] {
    return [...this.runs.keys()];
  }

  /** Resumes every run the store holds as queued or running (after a restart or a takeover). */
  async resumeAll(): Promise<void> {
    for (const row of await this.o.store.activeRuns()) await this.exec(() => this.resume(row));
  }

  /** Stops timers, watchers and local attempts without writing state: the next engine resumes them. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.unsubscribeAgents?.();
    this.unsubscribeAgents = undefined;
    this.agentWaiters.clear();
    for (const run of this.runs.values()) this.dispose(run, true);
    this.runs.clear();
    await this.chain;
    await this.o.store.committed().catch(() => undefined);
  }

  /**
   * Writes are group-committed (FlowStore): the engine goes on deciding while they are in flight, and
   * anything seen from outside (an event, an attempt sent to an executor) waits for their commit.
   */
  private afterCommit(write: Promise<void>, fn: () => void): void {
    write.then(fn, (err: unknown) => this.o.logger.error({ err }, 'flows: a state change could not be written to the store'));
  }

  private track(write: Promise<void>): void {
    write.catch((err: unknown) => this.o.logger.error({ err }, 'flows: a write to the store failed'));
  }

  startRun(row: RunRow): Promise<void> {
    return this.exec(() => this.resume(row));
  }

  private async load(row: RunRow): Promise<ActiveRun> {
    const spec = await this.o.loadSpec(row.flow_key, row.version);
    const run: ActiveRun = {
      row, spec, specByKey: new Map(spec.tasks.map((t) => [t.key, t])), graph: buildGraph(spec.tasks.map((t) => t.key), spec.edges),
      tasks: new Map((await this.o.store.tasks(row.id)).map((t) => [t.task_key, t])),
      controllers: new Map(), pending: new Map(), timers: new Map(), watchers: new Map(), resumed: new Set(),
    };
    return run;
  }

  private async resume(row: RunRow): Promise<void> {
    if (this.stopped || this.runs.has(row.id)) return;
    const active = [...this.runs.values()].filter((r) => r.row.flow_key === row.flow_key).length;
    const run = await this.load(row);
    if (row.state === 'queued' && active >= run.spec.maxActiveRuns) return;
    this.runs.set(row.id, run);
    if (row.state === 'queued') await this.setRunState(run, 'running', '');
    this.armRunTimeout(run);
    for (const ti of run.tasks.values()) {
      if (!run.specByKey.has(ti.task_key) && ti.state !== 'removed') {
        await this.setState(run, ti.task_key, 'removed', 'not in the spec version of this run');
        continue;
      }
      switch (ti.state) {
        case 'running':
        case 'restarting':
          await this.o.store.endAttempt(row.id, ti.task_key, ti.try_number, { endedMs: this.now(), exitCode: null, outcome: 'lost', reason: 'scheduler stopped while it ran' });
          if (ti.state === 'running') await this.setState(run, ti.task_key, 'restarting', 'its scheduler stopped mid-attempt; restarted by the scheduler now in charge', { max_tries: ti.max_tries + 1 });
          await this.schedule(run, ti.task_key, 'restarted');
          break;
        case 'scheduled':
        case 'queued':
          this.enqueue(run, ti.task_key);
          break;
        case 'up_for_retry':
        case 'up_for_reschedule':
          this.armWake(run, ti.task_key, ti.next_ms ?? this.now());
          break;
        case 'deferred':
          this.armDeferred(run, ti.task_key);
          break;
        default:
          break;
      }
    }
    for (const key of run.graph.nodes) await this.evaluate(run, key);
    await this.checkRunDone(run);
    this.pump();
  }

  private armRunTimeout(run: ActiveRun): void {
    if (run.spec.timeoutMs === undefined) return;
    const startedMs = run.row.started_ms ?? this.now();
    run.runTimer = timerAt(startedMs + run.spec.timeoutMs, this.now, () => {
      void this.exec(() => this.stopRun(run.row.id, 'failed', `run timed out after ${run.spec.timeoutMs} ms`)).catch(() => undefined);
    });
  }

  private async setRunState(run: ActiveRun, state: RunState, reason: string): Promise<void> {
    const t = this.now();
    const fields: Partial<RunRow> = { state, reason };
    if (state === 'running' && run.row.started_ms === null) fields.started_ms = t;
    if (state === 'success' || state === 'failed' || state === 'cancelled') fields.ended_ms = t;
    if (state === 'running') fields.ended_ms = null;
    const write = this.o.store.updateRun(run.row.id, fields);
    Object.assign(run.row, fields);
    const ev: RunStateEvent = { runId: run.row.id, flow: run.row.flow_key, state, reason, timeMs: t };
    this.afterCommit(write, () => this.emit('run:state:changed', ev));
  }

  private async setState(run: ActiveRun, key: string, state: TaskState, reason: string, extra: Partial<TaskRow> = {}): Promise<void> {
    const ti = run.tasks.get(key)!;
    if (ti.state !== state && !canTransition(ti.state, state)) {
      this.o.logger.warn({ run: run.row.id, task: key, from: ti.state, to: state }, 'unexpected task state transition');
    }
    const t = this.now();
    const fields: Partial<TaskRow> = { ...extra, state, reason, updated_ms: t };
    if (isFinished(state)) fields.ended_ms = t;
    const write = this.o.store.updateTask(run.row.id, key, fields, { state, reason, timeMs: t });
    Object.assign(ti, fields);
    const ev: TaskStateEvent = {
      runId: run.row.id, flow: run.row.flow_key, task: key, state, reason, tryNumber: ti.try_number, timeMs: t,
      ...(state === 'running' && typeof extra.lateness_ms === 'number' ? { latenessMs: extra.lateness_ms } : {}),
    };
    this.afterCommit(write, () => this.emit('task:state:changed', ev));
  }

  /** Decides a `none` instance from its upstreams' states (called when one of them finishes). */
  private async evaluate(run: ActiveRun, key: string): Promise<void> {
    const ti = run.tasks.get(key);
    const task = run.specByKey.get(key);
    if (ti === undefined || task === undefined || ti.state !== 'none' || isFinishedRun(run.row.state)) return;
    const ups = run.graph.upstream(key).map((u) => run.tasks.get(u)?.state ?? 'removed');
    const readiness = evaluateTriggerRule(task.triggerRule, ups);
    if (readiness === 'wait') return;
    if (readiness === 'skip' || readiness === 'upstream_failed') {
      const why = readiness === 'skip' ? `trigger rule ${task.triggerRule}: upstream states ${ups.join(', ')}` : `an upstream failed (trigger rule ${task.triggerRule})`;
      await this.setState(run, key, readiness === 'skip' ? 'skipped' : 'upstream_failed', why);
      await this.afterFinished(run, key);
      return;
    }
    let due = this.now();
    if (task.trigger !== undefined) {
      const at = occurrenceAtOrAfter(task.trigger, run.row.logical_ms);
      if (at !== undefined && at > due) {
        if (!run.timers.has(key)) {
          run.timers.set(key, timerAt(at, this.now, () => {
            run.timers.delete(key);
            void this.exec(() => this.evaluate(run, key).then(() => this.pump())).catch(() => undefined);
          }));
        }
        return;
      }
      if (at !== undefined) due = Math.max(run.row.logical_ms, at);
    }
    const upstreamEnd = Math.max(run.row.logical_ms, ...run.graph.upstream(key).map((u) => run.tasks.get(u)?.ended_ms ?? 0));
    await this.schedule(run, key, 'its dependencies are met', Math.max(upstreamEnd, task.trigger !== undefined ? due : 0));
  }

  private async schedule(run: ActiveRun, key: string, reason: string, scheduledMs = this.now()): Promise<void> {
    await this.setState(run, key, 'scheduled', reason, { scheduled_ms: scheduledMs, next_ms: null });
    this.enqueue(run, key);
  }

  private enqueue(run: ActiveRun, key: string): void {
    this.queue.push({ runId: run.row.id, key });
  }

  /** Starts queued instances while slots are free. */
  private pump(): void {
    if (this.stopped) return;
    for (let i = 0; i < this.queue.length && this.runningTotal < this.maxParallel; ) {
      const item = this.queue[i]!;
      const run = this.runs.get(item.runId);
      const ti = run?.tasks.get(item.key);
      if (run === undefined || ti === undefined || (ti.state !== 'scheduled' && ti.state !== 'queued')) {
        this.queue.splice(i, 1);
        continue;
      }
      const flow = run.row.flow_key;
      const limit = run.spec.concurrency;
      if (limit > 0 && (this.runningByFlow.get(flow) ?? 0) >= limit) {
        if (ti.state === 'scheduled') void this.exec(() => this.setState(run, item.key, 'queued', `waiting for a slot (concurrency ${limit})`)).catch(() => undefined);
        i++;
        continue;
      }
      this.queue.splice(i, 1);
      this.runningTotal++;
      this.runningByFlow.set(flow, (this.runningByFlow.get(flow) ?? 0) + 1);
      void this.exec(() => this.launch(run, item.key)).catch(() => this.release(run));
    }
  }

  private release(run: ActiveRun): void {
    this.runningTotal--;
    this.runningByFlow.set(run.row.flow_key, (this.runningByFlow.get(run.row.flow_key) ?? 1) - 1);
  }

  private async launch(run: ActiveRun, key: string): Promise<void> {
    const ti = run.tasks.get(key)!;
    const task = run.specByKey.get(key)!;
    if (this.stopped || !this.runs.has(run.row.id) || (ti.state !== 'scheduled' && ti.state !== 'queued')) {
      this.release(run);
      return;
    }
    let remoteHost = task.runsOn;
    if (task.runsOnLabels !== undefined) {
      remoteHost = this.o.dispatcher.pick?.(task.runsOnLabels);
      if (remoteHost === undefined) {
        const why = `waiting for a connected agent with labels ${formatLabels(task.runsOnLabels)}; none is connected`;
        if (ti.state !== 'queued' || ti.reason !== why) await this.setState(run, key, 'queued', why);
        this.waitForAgent(run, key);
        this.release(run);
        return;
      }
    }
    if (ti.state === 'scheduled') await this.setState(run, key, 'queued', 'handed to the executor');
    const resumed = run.resumed.delete(key);
    const tryNumber = resumed ? ti.try_number : ti.try_number + 1;
    const host = remoteHost ?? localHostname;
    const t = this.now();
    const lateness = ti.scheduled_ms !== null ? Math.max(0, t - ti.scheduled_ms) : 0;
    await this.setState(run, key, 'running', `attempt ${tryNumber} on ${host}`, {
      try_number: tryNumber, host, ...(resumed ? {} : { started_ms: t, lateness_ms: lateness }),
    });
    if (!resumed) this.track(this.o.store.startAttempt({ run_id: run.row.id, task_key: key, try_number: tryNumber, host, started_ms: t }));
    const controller = new AbortController();
    run.controllers.set(key, controller);
    // The attempt starts once `running` is durable: a scheduler that dies before that never ran it.
    const committed = this.o.store.committed();
    if (task.action.kind === 'sensor') {
      void committed.then(
        () => this.runSensor(run, task, tryNumber, controller.signal),
        (err: unknown) => this.exec(() => this.finishAttempt(run, key, tryNumber, { kind: 'lost', reason: `the store did not record the start: ${String(err)}` })),
      ).catch(() => undefined);
      return;
    }
    const logs = this.logWriter(run.row.id, key, tryNumber);
    let plan;
    try {
      plan = planAttempt(task, {
        flowKey: run.row.flow_key, runId: run.row.id, tryNumber, logicalTimeMs: run.row.logical_ms,
        flowEnv: run.spec.env, flowParams: run.spec.params, sqlDir: this.o.sqlDir,
      }, remoteHost === undefined ? 'local' : 'remote');
    } catch (err) {
      void this.exec(() => this.finishAttempt(run, key, tryNumber, { kind: 'exit', exitCode: null, signal: null, timedOut: false, cancelled: false, lastStdoutLine: '', spawnError: String(err) })).catch(() => undefined);
      return;
    }
    void committed
      .then(() => this.o.dispatcher.run(remoteHost, { attemptId: `${run.row.id}/${key}/${tryNumber}`, plan, signal: controller.signal, onLine: logs.push }))
      .catch((err: unknown): AttemptOutcome => ({ kind: 'lost', reason: err instanceof Error ? err.message : String(err) }))
      .then(async (outcome) => {
        await logs.close();
        await this.exec(() => this.finishAttempt(run, key, tryNumber, outcome));
      })
      .catch(() => undefined);
  }

  /** Queues the instance again when an agent connects (event-driven: no polling for agents). */
  private waitForAgent(run: ActiveRun, key: string): void {
    this.agentWaiters.set(`${run.row.id}\0${key}`, { run, key });
    this.unsubscribeAgents ??= this.o.dispatcher.onAgentConnected?.(() => this.wakeAgentWaiters());
  }

  private wakeAgentWaiters(): void {
    this.unsubscribeAgents?.();
    this.unsubscribeAgents = undefined;
    const waiting = [...this.agentWaiters.values()];
    this.agentWaiters.clear();
    for (const w of waiting) if (this.runs.get(w.run.row.id) === w.run) this.enqueue(w.run, w.key);
    this.pump();
  }

  private logWriter(runId: string, key: string, tryNumber: number): { push: (stream: 'stdout' | 'stderr', line: string) => void; close: () => Promise<void> } {
    let pending: Omit<LogRow, 'id'>[] = [];
    let flushing: Promise<void> = Promise.resolve();
    let timer: NodeJS.Timeout | undefined;
    const flush = (): Promise<void> => {
      timer = undefined;
      const batch = pending;
      pending = [];
      flushing = flushing.then(() => this.o.store.appendLogs(batch)).then(
        () => {
          if (batch.length > 0) this.emit('task:log:appended', { runId, task: key });
        },
        (err: unknown) => this.o.logger.warn({ err }, 'task log write failed'),
      );
      return flushing;
    };
    return {
      push: (stream, line) => {
        pending.push({ run_id: runId, task_key: key, try_number: tryNumber, stream, line, time_ms: this.now() });
        if (pending.length >= 500) void flush();
        else timer ??= setTimeout(() => void flush(), 50);
      },
      close: () => {
        if (timer !== undefined) clearTimeout(timer);
        return flush();
      },
    };
  }

  private async finishAttempt(run: ActiveRun, key: string, tryNumber: number, outcome: AttemptOutcome): Promise<void> {
    this.release(run);
    run.controllers.delete(key);
    const ti = run.tasks.get(key);
    if (this.stopped || ti === undefined) return;
    const task = run.specByKey.get(key)!;
    const t = this.now();
    const pending = run.pending.get(key);
    run.pending.delete(key);
    let exitCode: number | null = null;
    let result: 'success' | 'skipped' | 'failed' | 'lost';
    let reason: string;
    if (outcome.kind === 'lost') {
      result = 'lost';
      reason = `agent lost: ${outcome.reason}`;
    } else {
      exitCode = outcome.exitCode;
      if (outcome.spawnError !== undefined) [result, reason] = ['failed', `could not start: ${outcome.spawnError}`];
      else if (outcome.timedOut) [result, reason] = ['failed', `timed out after ${task.timeoutMs} ms; its process group was killed`];
      else if (outcome.exitCode === 0) [result, reason] = ['success', 'exit code 0'];
      else if (outcome.exitCode === SKIP_EXIT_CODE) [result, reason] = ['skipped', `exit code ${SKIP_EXIT_CODE} (skip)`];
      else [result, reason] = ['failed', outcome.exitCode !== null ? `exit code ${outcome.exitCode}` : `killed by ${outcome.signal}`];
    }
    this.track(this.o.store.endAttempt(run.row.id, key, tryNumber, { endedMs: t, exitCode, outcome: pending ?? result, reason: pending !== undefined ? `stopped: ${pending}` : reason }));
    // A cancelled run is gone from the engine: its attempt is recorded, nothing more happens.
    if (this.runs.get(run.row.id) !== run) return;
    if (pending !== undefined) return this.applyPending(run, key, pending);
    if (isFinished(ti.state)) return;
    if (result === 'success') {
      await this.setState(run, key, 'success', reason);
      if (task.branch && outcome.kind === 'exit') await this.applyBranch(run, key, outcome.lastStdoutLine);
      return this.afterFinished(run, key);
    }
    if (result === 'skipped') {
      await this.setState(run, key, 'skipped', reason);
      return this.afterFinished(run, key);
    }
    return this.failOrRetry(run, key, tryNumber, reason);
  }

  private async failOrRetry(run: ActiveRun, key: string, tryNumber: number, reason: string): Promise<void> {
    const ti = run.tasks.get(key)!;
    const task = run.specByKey.get(key)!;
    if (tryNumber < ti.max_tries) {
      const next = this.now() + retryDelayMs(task.retry, tryNumber);
      await this.setState(run, key, 'up_for_retry', `${reason}; retry ${tryNumber} of ${ti.max_tries - 1} at ${new Date(next).toISOString()}`, { next_ms: next });
      this.armWake(run, key, next);
      return;
    }
    await this.setState(run, key, 'failed', reason);
    await this.afterFinished(run, key);
  }

  private async applyPending(run: ActiveRun, key: string, pending: Pending): Promise<void> {
    if (pending === 'restarting') {
      await this.schedule(run, key, 'restarted on request');
      this.pump();
      return;
    }
    await this.afterFinished(run, key);
  }

  private async applyBranch(run: ActiveRun, key: string, line: string): Promise<void> {
    const chosen = new Set(line.split(',').map((s) => s.trim()).filter((s) => s !== ''));
    for (const d of run.graph.downstream(key)) {
      const ti = run.tasks.get(d);
      if (ti?.state === 'none' && !chosen.has(d)) await this.setState(run, d, 'skipped', `branch ${key} chose ${[...chosen].join(', ') || 'nothing'}`);
    }
    for (const d of run.graph.downstream(key)) if (run.tasks.get(d)?.state === 'skipped') await this.afterFinished(run, d);
  }

  private armWake(run: ActiveRun, key: string, atMs: number): void {
    run.timers.get(key)?.cancel();
    run.timers.set(key, timerAt(atMs, this.now, () => {
      run.timers.delete(key);
      void this.exec(async () => {
        const ti = run.tasks.get(key);
        if (ti === undefined || this.runs.get(run.row.id) !== run) return;
        if (ti.state === 'up_for_reschedule') run.resumed.add(key);
        if (ti.state !== 'up_for_retry' && ti.state !== 'up_for_reschedule') return;
        await this.schedule(run, key, ti.state === 'up_for_retry' ? 'retry delay over' : 'poke interval over');
        this.pump();
      }).catch(() => undefined);
    }));
  }

  private async runSensor(run: ActiveRun, task: TaskSpec, tryNumber: number, signal: AbortSignal): Promise<void> {
    const a = task.action;
    if (a.kind !== 'sensor') return;
    const key = task.key;
    const startedMs = run.tasks.get(key)!.started_ms ?? this.now();
    const timedOut = (): boolean => task.timeoutMs !== undefined && this.now() - startedMs > task.timeoutMs;
    const finish = (fn: () => Promise<void>): Promise<void> =>
      this.exec(async () => {
        this.release(run);
        run.controllers.delete(key);
        const pending = run.pending.get(key);
        if (this.stopped || this.runs.get(run.row.id) !== run) return;
        if (pending !== undefined) {
          run.pending.delete(key);
          await this.o.store.endAttempt(run.row.id, key, tryNumber, { endedMs: this.now(), exitCode: null, outcome: pending, reason: `stopped: ${pending}` });
          return this.applyPending(run, key, pending);
        }
        await fn();
      }).catch(() => undefined);
    const end = (state: 'success' | 'failed', reason: string) => async (): Promise<void> => {
      await this.o.store.endAttempt(run.row.id, key, tryNumber, { endedMs: this.now(), exitCode: null, outcome: state, reason });
      if (state === 'failed') return this.failOrRetry(run, key, tryNumber, reason);
      await this.setState(run, key, 'success', reason);
      await this.afterFinished(run, key);
    };
    if (a.mode === 'poke') {
      while (!existsSync(a.file) && !signal.aborted && !timedOut()) await new Promise((r) => setTimeout(r, a.pokeIntervalMs));
      if (signal.aborted) return finish(async () => undefined);
      return finish(existsSync(a.file) ? end('success', `file ${a.file} exists`) : end('failed', `sensor timed out waiting for ${a.file}`));
    }
    if (existsSync(a.file)) return finish(end('success', `file ${a.file} exists`));
    if (timedOut()) return finish(end('failed', `sensor timed out waiting for ${a.file}`));
    if (a.mode === 'reschedule') {
      return finish(async () => {
        const next = this.now() + a.pokeIntervalMs;
        await this.setState(run, key, 'up_for_reschedule', `file ${a.file} not there yet; poke again in ${a.pokeIntervalMs} ms`, { next_ms: next });
        this.armWake(run, key, next);
      });
    }
    return finish(async () => {
      await this.setState(run, key, 'deferred', `waiting for file ${a.file} (trigger in the scheduler, no slot held)`);
      this.armDeferred(run, key);
    });
  }

  /** The trigger of a deferrable sensor: a directory watch; fires once the file exists. */
  private armDeferred(run: ActiveRun, key: string): void {
    const task = run.specByKey.get(key);
    if (task?.action.kind !== 'sensor' || run.watchers.has(key)) return;
    const file = task.action.file;
    const fire = (): void => {
      if (!existsSync(file)) return;
      run.watchers.get(key)?.close();
      run.watchers.delete(key);
      void this.exec(async () => {
        if (run.tasks.get(key)?.state !== 'deferred' || this.runs.get(run.row.id) !== run) return;
        run.resumed.add(key);
        await this.schedule(run, key, `trigger fired: ${basename(file)} appeared`);
        this.pump();
      }).catch(() => undefined);
    };
    try {
      run.watchers.set(key, watch(dirname(file), () => fire()));
    } catch (err) {
      this.o.logger.warn({ err, file }, 'deferred sensor: cannot watch the directory');
    }
    fire();
  }

  private async afterFinished(run: ActiveRun, key: string): Promise<void> {
    for (const d of run.graph.downstream(key)) await this.evaluate(run, d);
    await this.checkRunDone(run);
    this.pump();
  }

  private async checkRunDone(run: ActiveRun): Promise<void> {
    if (isFinishedRun(run.row.state)) return;
    const states = [...run.tasks.values()].map((t) => t.state);
    if (!states.every(isFinished)) return;
    const failed = states.some((s) => s === 'failed' || s === 'upstream_failed' || s === 'shutdown');
    await this.setRunState(run, failed ? 'failed' : 'success', failed ? 'a task failed' : 'every task succeeded or was skipped');
    this.finishRun(run);
  }

  private finishRun(run: ActiveRun): void {
    this.dispose(run, false);
    this.runs.delete(run.row.id);
    void this.startQueuedRuns(run.row.flow_key).catch(() => undefined);
  }

  private async startQueuedRuns(flowKey: string): Promise<void> {
    const queued = (await this.o.store.activeRuns()).filter((r) => r.flow_key === flowKey && r.state === 'queued');
    for (const r of queued) await this.exec(() => this.resume(r));
  }

  private dispose(run: ActiveRun, abort: boolean): void {
    run.runTimer?.cancel();
    for (const t of run.timers.values()) t.cancel();
    for (const w of run.watchers.values()) w.close();
    run.timers.clear();
    run.watchers.clear();
    if (abort) for (const c of run.controllers.values()) c.abort();
  }

  /** Stops a run: running attempts are killed (shutdown), the rest shut down; the run ends in `state`. */
  async stopRun(runId: string, state: 'cancelled' | 'failed', reason: string): Promise<boolean> {
    const run = this.runs.get(runId);
    if (run === undefined) return false;
    for (const [key, ti] of run.tasks) {
      if (isFinished(ti.state)) continue;
      run.timers.get(key)?.cancel();
      run.timers.delete(key);
      if (ti.state === 'running') {
        run.pending.set(key, 'shutdown');
        run.controllers.get(key)?.abort();
      }
      await this.setState(run, key, 'shutdown', reason);
    }
    await this.setRunState(run, state, reason);
    this.finishRun(run);
    return true;
  }

  /**
   * Reruns from the failure point (failed, upstream_failed and shutdown instances and everything
   * downstream of them), or from `task` and its downstream. With `version`, the run moves to that spec
   * version first: instances of tasks gone from it become removed, new tasks get instances.
   */
  async rerun(row: RunRow, opts: { task?: string; version?: string }): Promise<string[]> {
    let run = this.runs.get(row.id);
    if (run === undefined) {
      const moved = opts.version !== undefined ? { ...row, version: opts.version } : row;
      run = await this.load(moved);
      this.runs.set(row.id, run);
      this.armRunTimeout(run);
    } else if (opts.version !== undefined && opts.version !== run.row.version) {
      const fresh = await this.load({ ...run.row, version: opts.version });
      Object.assign(run, { spec: fresh.spec, specByKey: fresh.specByKey, graph: fresh.graph });
    }
    if (opts.version !== undefined) {
      await this.o.store.updateRun(row.id, { version: opts.version });
      run.row.version = opts.version;
      for (const [key, ti] of run.tasks) {
        if (run.specByKey.has(key) || ti.state === 'removed') continue;
        if (ti.state === 'running') {
          run.pending.set(key, 'removed');
          run.controllers.get(key)?.abort();
        }
        await this.setState(run, key, 'removed', `task deleted from spec version ${opts.version}`);
      }
      for (const t of run.spec.tasks) {
        if (run.tasks.has(t.key)) continue;
        await this.o.store.insertTaskInstance(row.id, t.key, t.retry.retries + 1, this.now());
        const created = (await this.o.store.tasks(row.id)).find((x) => x.task_key === t.key)!;
        run.tasks.set(t.key, created);
      }
    }
    if (opts.task !== undefined && !run.specByKey.has(opts.task)) throw new Error(`unknown task ${opts.task}`);
    const starts = opts.task !== undefined ? [opts.task] : [...run.tasks.values()].filter((t) => t.state === 'failed' || t.state === 'upstream_failed' || t.state === 'shutdown').map((t) => t.task_key);
    const clear = new Set<string>();
    const visit = (k: string): void => {
      if (clear.has(k) || !run.specByKey.has(k)) return;
      clear.add(k);
      for (const d of run.graph.downstream(k)) visit(d);
    };
    for (const s of starts) visit(s);
    if (isFinishedRun(run.row.state) || run.row.state === 'queued') await this.setRunState(run, 'running', `rerun from ${starts.join(', ') || 'nothing'}`);
    for (const key of clear) {
      const ti = run.tasks.get(key)!;
      const task = run.specByKey.get(key)!;
      if (ti.state === 'running') {
        run.pending.set(key, 'restarting');
        await this.setState(run, key, 'restarting', 'rerun requested while running', { max_tries: ti.try_number + task.retry.retries + 1 });
        run.controllers.get(key)?.abort();
        continue;
      }
      run.timers.get(key)?.cancel();
      run.timers.delete(key);
      if (ti.state !== 'none') await this.setState(run, key, 'none', 'cleared for a rerun', { max_tries: ti.try_number + task.retry.retries + 1, next_ms: null, ended_ms: null });
    }
    for (const key of run.graph.nodes) await this.evaluate(run, key);
    await this.checkRunDone(run);
    this.pump();
    return [...clear];
  }
}

function isFinishedRun(state: RunState): boolean {
  return state === 'success' || state === 'failed' || state === 'cancelled';
}

function formatLabels(labels: Readonly<Record<string, string>>): string {
  return Object.entries(labels).map(([k, v]) => `${k}=${v}`).join(',');
}
