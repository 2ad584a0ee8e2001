/**
 * Workflow task attempts on the agent (`run_task` / `cancel_task` on the CommandStream). Each attempt runs
 * with runTaskProcess (fresh working directory with the task's files, own process group, the whole group
 * killed on timeout or cancel). Its output lines and its result become events numbered per attempt; the
 * events stay here until the server acks them (TaskAck), so a stream that breaks mid-task loses nothing:
 * the next session of the same agent process sends every unacked event again, and the server drops the
 * repeats by seq. Lines past `maxBufferedLines` per attempt are dropped (counted and reported on the next
 * kept line); the result is always kept. A restarted agent process has lost its attempts (they died with
 * it): the server sees the new incarnation and fails them as `lost`.
 */
import type { Logger } from '../../core/log.js';
import { runTaskProcess, type TaskProcessPlan, type TaskProcessResult } from './task-runner.js';

export interface AgentRunTask {
  attemptId: string;
  plan: TaskProcessPlan;
}

export type AgentTaskEvent =
  | { kind: 'log'; attemptId: string; seq: number; stream: 'stdout' | 'stderr'; line: string; timeMs: number; dropped: number }
  | { kind: 'result'; attemptId: string; lastSeq: number; result: TaskProcessResult };

export interface AgentTasksOptions {
  /** The agent's name, given to every task as FLOTILLA_AGENT_HOSTNAME. */
  hostname: string;
  logger: Logger;
  /** Most unacked lines kept per attempt while the server does not ack. Default 10 000. */
  maxBufferedLines?: number;
  /** Most attempts running at once; more are refused with a result carrying an error. Default 32. */
  maxRunning?: number;
  /** Parent of the attempts' working directories. Default: the OS temp dir. */
  workRoot?: string;
}

interface Attempt {
  id: string;
  events: AgentTaskEvent[];
  /** Index of the first event not yet sent in this session. */
  sent: number;
  nextSeq: number;
  dropped: number;
  controller: AbortController;
  done: Promise<void>;
  finished: boolean;
}

export class AgentTasks {
  private readonly attempts = new Map<string, Attempt>();
  private wake: (() => void) | undefined;
  private readonly maxLines: number;
  private readonly maxRunning: number;

  constructor(private readonly o: AgentTasksOptions) {
    this.maxLines = o.maxBufferedLines ?? 10_000;
    this.maxRunning = o.maxRunning ?? 32;
  }

  /** Attempts still running. */
  get running(): number {
    let n = 0;
    for (const a of this.attempts.values()) if (!a.finished) n++;
    return n;
  }

  /** Called when there is something new to send. */
  setWake(wake: (() => void) | undefined): void {
    this.wake = wake;
  }

  /** Starts an attempt; a repeat of an attempt this agent knows already is ignored. */
  run(req: AgentRunTask): void {
    if (this.attempts.has(req.attemptId)) return;
    const a: Attempt = { id: req.attemptId, events: [], sent: 0, nextSeq: 1, dropped: 0, controller: new AbortController(), done: Promise.resolve(), finished: false };
    this.attempts.set(a.id, a);
    if (this.running > this.maxRunning) {
      this.finish(a, { exitCode: null, signal: null, timedOut: false, cancelled: false, lastStdoutLine: '', spawnError: `the agent runs ${this.maxRunning} tasks already` });
      return;
    }
    this.o.logger.info({ attempt: a.id, argv: req.plan.argv.slice(0, 2) }, 'task started');
    const plan: TaskProcessPlan = { ...req.plan, env: { ...req.plan.env, FLOTILLA_AGENT_HOSTNAME: this.o.hostname } };
    a.done = runTaskProcess(plan, {
      signal: a.controller.signal,
      onLine: (stream, line) => this.line(a, stream, line),
      ...(this.o.workRoot !== undefined ? { workRoot: this.o.workRoot } : {}),
    }).then(
      (r) => this.finish(a, r),
      (err: unknown) => this.finish(a, { exitCode: null, signal: null, timedOut: false, cancelled: false, lastStdoutLine: '', spawnError: String(err) }),
    );
  }

  /** Kills the attempt's process group; its result follows (cancelled). */
  cancel(attemptId: string, reason: string): void {
    const a = this.attempts.get(attemptId);
    if (a === undefined || a.finished) return;
    this.o.logger.info({ attempt: attemptId, reason }, 'task cancelled');
    a.controller.abort();
  }

  /** The server recorded lines up to `seq` (and the result, when `resultTaken`). */
  ack(attemptId: string, seq: number, resultTaken: boolean): void {
    const a = this.attempts.get(attemptId);
    if (a === undefined) return;
    const keep = a.events.filter((e) => (e.kind === 'log' ? e.seq > seq : !resultTaken));
    a.sent = Math.max(0, a.sent - (a.events.length - keep.length));
    a.events = keep;
    if (resultTaken && a.finished) this.attempts.delete(attemptId);
  }

  /** A new session: every unacked event is sent again. */
  sessionStarted(): void {
    for (const a of this.attempts.values()) a.sent = 0;
  }

  /** The next event to send in this session, if any. */
  next(): AgentTaskEvent | undefined {
    for (const a of this.attempts.values()) {
      const e = a.events[a.sent];
      if (e !== undefined) {
        a.sent++;
        return e;
      }
    }
    return undefined;
  }

  /** Kills every running attempt and waits for them (agent shutdown). */
  async stop(): Promise<void> {
    for (const a of this.attempts.values()) a.controller.abort();
    await Promise.all([...this.attempts.values()].map((a) => a.done));
  }

  private line(a: Attempt, stream: 'stdout' | 'stderr', line: string): void {
    if (a.events.length >= this.maxLines) {
      a.dropped++;
      return;
    }
    a.events.push({ kind: 'log', attemptId: a.id, seq: a.nextSeq++, stream, line, timeMs: Date.now(), dropped: a.dropped });
    a.dropped = 0;
    this.wake?.();
  }

  private finish(a: Attempt, result: TaskProcessResult): void {
    a.finished = true;
    a.events.push({ kind: 'result', attemptId: a.id, lastSeq: a.nextSeq - 1, result });
    this.o.logger.info({ attempt: a.id, exitCode: result.exitCode, signal: result.signal, timedOut: result.timedOut, cancelled: result.cancelled }, 'task ended');
    this.wake?.();
  }
}
