/**
 * The workflow service of a server: keeps flows, versions and run history in the SQL store, and — while
 * this server holds the scheduler leadership (`coord.election('/flotilla/flows/leader')`) — runs the
 * engine and the triggers. Exactly one server schedules; a new leader resumes the runs in flight. Reads
 * work on every server; commands that act on runs are answered by the leader (`leaderAddress()` tells
 * the others where to forward them).
 */
import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { mkdirSync } from 'node:fs';
import { Code, FlotillaError } from '../../core/errors.js';
import type { Component } from '../../core/lifecycle.js';
import type { Logger } from '../../core/log.js';
import type { SqlStore } from '../../core/sql/index.js';
import type { Coord, Leadership } from '../../coord/index.js';
import { isRunFinished } from '../dag/task-states.js';
import { formatProblems, parseBundle, type FlowSpec, type SpecBundle } from '../spec/index.js';
import { FlowStore, type RunRow } from '../store/index.js';
import { combineDispatchers, createLocalDispatcher, type TaskDispatcher } from './dispatch.js';
import { RunEngine, type EngineEvents } from './run-engine.js';
import { FlowTriggers } from './triggers.js';
import { FlowMetrics } from './flow-metrics.js';
import { FlowNotifier, type DeliveryOptions } from '../notify/index.js';

export const FLOWS_LEADER_PREFIX = '/flotilla/flows/leader';

export interface FlowServiceOptions {
  sql: () => SqlStore;
  /** Absent: this server is the only scheduler (no election). */
  coord?: () => Coord;
  logger: Logger;
  /** Where relative sqlite: task connections live. */
  dataDir: string;
  /** What this server announces as leader (its HTTP address, for forwarding). */
  advertise: string;
  /** Agents for tasks with runs_on. */
  remote?: TaskDispatcher;
  /** Runs the tasks without runs_on. Default: a process per attempt on this server (createLocalDispatcher). */
  localDispatcher?: TaskDispatcher;
  /** Leader lease TTL in seconds. Default 5. */
  leaseTtlSeconds?: number;
  maxParallel?: number;
  /** Retry policy of notification deliveries. Default: 5 retries, backoff from 500 ms to 30 s. */
  notifyDelivery?: DeliveryOptions;
  /** Publishes a notification on a message channel (`notify.channel`); without it such targets fail. */
  notifyPublish?: (channel: string, payload: unknown) => Promise<void>;
  now?: () => number;
}

export class FlowService extends EventEmitter<EngineEvents & { 'scheduler:leadership:changed': [boolean]; 'service:stopping': [] }> implements Component {
  readonly name = 'flows';
  private store_: FlowStore | undefined;
  private engine: RunEngine | undefined;
  private triggers: FlowTriggers | undefined;
  private leadership: Leadership | undefined;
  private readonly abort = new AbortController();
  private campaign: Promise<void> | undefined;
  private readonly specs = new Map<string, FlowSpec>();
  private readonly now: () => number;
  private leaderAddr: string | undefined;
  private remote: TaskDispatcher | undefined;
  /** Lateness and outcome metrics of the runs this server schedules. */
  readonly metrics = new FlowMetrics();
  private notifier: FlowNotifier | undefined;

  constructor(private readonly o: FlowServiceOptions) {
    super();
    this.now = o.now ?? Date.now;
    this.remote = o.remote;
  }

  get store(): FlowStore {
    if (this.store_ === undefined) throw new FlotillaError(Code.UNAVAILABLE, 'the flows service is not started');
    return this.store_;
  }

  get isLeader(): boolean {
    return this.engine !== undefined;
  }

  /** The announced address of the active scheduler, when known. */
  leaderAddress(): string | undefined {
    return this.isLeader ? this.o.advertise : this.leaderAddr;
  }

  /** Sets the dispatcher for runs_on tasks (the monitor server's task channel). */
  setRemoteDispatcher(remote: TaskDispatcher): void {
    this.remote = remote;
  }

  async start(): Promise<void> {
    mkdirSync(this.o.dataDir, { recursive: true });
    this.store_ = new FlowStore(this.o.sql());
    await this.store_.migrate();
    const notifier = new FlowNotifier({
      logger: this.o.logger,
      specOf: async (runId) => {
        const run = await this.store.getRun(runId);
        return run === undefined ? undefined : this.loadSpec(run.flow_key, run.version);
      },
      ...(this.o.notifyDelivery !== undefined ? { delivery: this.o.notifyDelivery } : {}),
      ...(this.o.notifyPublish !== undefined ? { publish: this.o.notifyPublish } : {}),
    });
    this.notifier = notifier;
    this.metrics.notifications = () => ({ delivered: notifier.deliveredTotal, failed: notifier.failedTotal, dropped: notifier.droppedTotal });
    this.on('run:state:changed', (e) => notifier.onRun(e));
    this.on('task:state:changed', (e) => {
      this.metrics.observe(e);
      notifier.onTask(e);
    });
    if (this.o.coord === undefined) {
      await this.becomeLeader();
      return;
    }
    this.campaign = this.campaignLoop();
  }

  async stop(): Promise<void> {
    this.abort.abort();
    this.emit('service:stopping');
    await this.stepDown();
    await this.notifier?.stop();
    await this.campaign?.catch(() => undefined);
    await this.leadership?.resign().catch(() => undefined);
  }

  private async campaignLoop(): Promise<void> {
    const election = this.o.coord!().election(FLOWS_LEADER_PREFIX);
    const observer = election.observe();
    void (async () => {
      try {
        for await (const leader of observer) this.leaderAddr = leader?.value.toString('utf8');
      } catch {
        // Observation ends with the client.
      }
    })();
    this.abort.signal.addEventListener('abort', () => void observer.close().catch(() => undefined), { once: true });
    while (!this.abort.signal.aborted) {
      try {
        const leadership = await election.campaign(this.o.advertise, { ttlSeconds: this.o.leaseTtlSeconds ?? 5, signal: this.abort.signal });
        if (this.abort.signal.aborted) {
          await leadership.resign().catch(() => undefined);
          return;
        }
        this.leadership = leadership;
        const lost = new Promise<void>((resolve) => leadership.on('leadership:lost', () => resolve()));
        this.o.logger.info('flows scheduler: elected leader');
        await this.becomeLeader();
        await Promise.race([lost, new Promise((r) => this.abort.signal.addEventListener('abort', r, { once: true }))]);
        if (!this.abort.signal.aborted) this.o.logger.warn('flows scheduler: leadership lost');
        await this.stepDown();
      } catch (err) {
        if (this.abort.signal.aborted) return;
        this.o.logger.warn({ err: FlotillaError.from(err).message }, 'flows scheduler: campaign failed; retrying');
        await new Promise((r) => setTimeout(r, 1000));
      }
    }
  }

  private async becomeLeader(): Promise<void> {
    const engine = new RunEngine({
      store: this.store,
      dispatcher: combineDispatchers(this.o.localDispatcher ?? createLocalDispatcher(), {
        run: (host, req) => (this.remote ?? missingRemote).run(host, req),
        pick: (labels) => this.remote?.pick?.(labels),
        onAgentConnected: (fn) => this.remote?.onAgentConnected?.(fn) ?? (() => undefined),
      }),
      loadSpec: (k, v) => this.loadSpec(k, v),
      logger: this.o.logger,
      sqlDir: this.o.dataDir,
      ...(this.o.maxParallel !== undefined ? { maxParallel: this.o.maxParallel } : {}),
      now: this.now,
    });
    for (const e of ['task:state:changed', 'run:state:changed', 'task:log:appended'] as const) {
      engine.on(e, (...args: unknown[]) => (this.emit as (e: string, ...a: unknown[]) => boolean)(e, ...args));
    }
    this.engine = engine;
    this.triggers = new FlowTriggers({
      now: this.now,
      logger: this.o.logger,
      fire: async (flowKey, runKey, trigger, logicalMs) => {
        await this.createRun(flowKey, { runKey, trigger, logicalMs });
      },
      setLastTick: (k, ms) => this.store.setLastTick(k, ms),
    });
    this.emit('scheduler:leadership:changed', true);
    await engine.resumeAll();
    for (const f of await this.store.listFlows()) await this.armFlow(f.key);
  }

  private async stepDown(): Promise<void> {
    const engine = this.engine;
    this.engine = undefined;
    this.triggers?.stop();
    this.triggers = undefined;
    if (engine !== undefined) {
      await engine.stop();
      this.emit('scheduler:leadership:changed', false);
    }
  }

  private async armFlow(key: string): Promise<void> {
    const flow = await this.store.getFlow(key);
    if (flow === undefined || this.triggers === undefined) return;
    const spec = await this.loadSpec(key, flow.version).catch(() => undefined);
    await this.triggers.arm(key, spec, flow.paused === 1, flow.last_tick_ms ?? flow.created_ms);
  }

  async loadSpec(flowKey: string, version: string): Promise<FlowSpec> {
    const id = `${flowKey}@${version}`;
    const cached = this.specs.get(id);
    if (cached !== undefined) return cached;
    const bundle = await this.store.getBundle(flowKey, version);
    if (bundle === undefined) throw new FlotillaError(Code.NOT_FOUND, `flow ${flowKey} has no version ${version}`);
    const r = parseBundle(bundle);
    if (r.spec === undefined) throw new FlotillaError(Code.INTERNAL, `stored spec ${id} no longer parses: ${formatProblems(bundle.fileName, r.problems)}`);
    this.specs.set(id, r.spec);
    return r.spec;
  }

  private requireLeader(): RunEngine {
    if (this.engine === undefined) {
      throw new FlotillaError(Code.FAILED_PRECONDITION, `this server is not the active workflow scheduler (leader: ${this.leaderAddr ?? 'unknown'})`, {
        details: { leader: this.leaderAddr ?? null },
      });
    }
    return this.engine;
  }

  /** Validates and stores a spec; a new version becomes current (running runs keep theirs). */
  async submit(bundle: SpecBundle): Promise<{ key: string; version: string; created: boolean }> {
    const r = parseBundle(bundle);
    if (r.spec === undefined) {
      throw new FlotillaError(Code.FLOW_SPEC_INVALID, `invalid workflow spec:\n${formatProblems(bundle.fileName, r.problems)}`, { details: { problems: r.problems } });
    }
    const out = await this.store.putFlow(r.spec.key, bundle, this.now());
    if (this.isLeader) await this.armFlow(r.spec.key);
    return { key: r.spec.key, ...out };
  }

  /** Creates and starts a run (leader only). Undefined when a run with this run key exists already. */
  async createRun(flowKey: string, opts: { runKey?: string; trigger?: 'manual' | 'cron' | 'once' | 'catchup'; logicalMs?: number } = {}): Promise<RunRow | undefined> {
    const engine = this.requireLeader();
    const flow = await this.store.getFlow(flowKey);
    if (flow === undefined) throw new FlotillaError(Code.NOT_FOUND, `no flow ${JSON.stringify(flowKey)}`);
    const spec = await this.loadSpec(flowKey, flow.version);
    const t = this.now();
    const logical = opts.logicalMs ?? t;
    const id = `${flowKey}-${new Date(logical).toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, '')}-${randomBytes(3).toString('hex')}`;
    const row = await this.store.createRun(
      { id, flow_key: flowKey, version: flow.version, run_key: opts.runKey ?? `manual:${id}`, state: 'queued', trigger: opts.trigger ?? 'manual', logical_ms: logical, created_ms: t },
      spec.tasks.map((task) => ({ key: task.key, maxTries: task.retry.retries + 1 })),
    );
    if (row !== undefined) await engine.startRun(row);
    return row === undefined ? undefined : ((await this.store.getRun(row.id)) ?? row);
  }

  async cancelRun(runId: string): Promise<void> {
    const engine = this.requireLeader();
    const run = await this.getRun(runId);
    if (isRunFinished(run.state)) throw new FlotillaError(Code.FAILED_PRECONDITION, `run ${runId} has already ended (${run.state})`);
    await engine.exec(() => engine.stopRun(runId, 'cancelled', 'cancelled on request'));
  }

  async rerun(runId: string, opts: { task?: string; latest?: boolean }): Promise<string[]> {
    const engine = this.requireLeader();
    const run = await this.getRun(runId);
    const version = opts.latest === true ? (await this.store.getFlow(run.flow_key))?.version : undefined;
    const spec = await this.loadSpec(run.flow_key, version ?? run.version);
    if (opts.task !== undefined && !spec.tasks.some((t) => t.key === opts.task)) throw new FlotillaError(Code.NOT_FOUND, `run ${runId} has no task ${JSON.stringify(opts.task)}`);
    return engine.exec(() => engine.rerun(run, { ...(opts.task !== undefined ? { task: opts.task } : {}), ...(version !== undefined ? { version } : {}) }));
  }

  async setPaused(flowKey: string, paused: boolean): Promise<void> {
    if (!(await this.store.setPaused(flowKey, paused, this.now()))) throw new FlotillaError(Code.NOT_FOUND, `no flow ${JSON.stringify(flowKey)}`);
    if (this.isLeader) await this.armFlow(flowKey);
  }

  async getRun(runId: string): Promise<RunRow> {
    const run = await this.store.getRun(runId);
    if (run === undefined) throw new FlotillaError(Code.NOT_FOUND, `no run ${JSON.stringify(runId)}`);
    return run;
  }
}

const missingRemote: TaskDispatcher = {
  run: (host) => Promise.resolve({ kind: 'lost', reason: `no agent channel on this server: cannot reach ${host}` }),
};
