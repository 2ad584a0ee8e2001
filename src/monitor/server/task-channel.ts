/**
 * Remote task attempts, server side: `run()` sends a RunTask down the named agent's CommandStream (waiting
 * for the agent to connect, up to `agentWaitMs`), hands every TaskLog line to the caller once (repeats after
 * a reconnect are dropped by seq) and resolves with the TaskResult. Lines and the result are acked
 * (TaskAck) so the agent can forget them.
 *
 * An attempt is `lost` (told apart from a task failure) when its agent comes back as a new process (a new
 * incarnation: the attempt died with the old one) or stays disconnected longer than `lostAfterMs`. A
 * reconnect of the same agent process within that time keeps the attempt: the agent sends what it buffered.
 * Events for an attempt the server does not follow (lost already, or unknown) are acked and the attempt is
 * cancelled on the agent, so nothing runs orphaned there.
 */
import { Code, FlotillaError } from '../../core/errors.js';
import type { Logger } from '../../core/log.js';
import { labelsMatch } from '../agent/agent-labels.js';
import type { TaskProcessPlan, TaskProcessResult } from '../agent/task-runner.js';
import type { AgentSession } from './agent-session.js';

export type RemoteTaskOutcome = ({ kind: 'exit' } & TaskProcessResult) | { kind: 'lost'; reason: string };

export interface RemoteTaskRequest {
  /** Unique per attempt. */
  attemptId: string;
  /** The agent's hostname. */
  host: string;
  plan: TaskProcessPlan;
  /** Aborting it cancels the attempt on the agent. */
  signal: AbortSignal;
  onLine: (stream: 'stdout' | 'stderr', line: string) => void;
}

/** What the workflow scheduler uses to run a task on an agent (through src/monitor/index.ts). */
export interface RemoteTaskChannel {
  run(req: RemoteTaskRequest): Promise<RemoteTaskOutcome>;
  /**
   * A connected agent with every label of `selector`: of those, one with the fewest attempts in flight,
   * ties taken in turn (round robin). Undefined when none is connected.
   */
  pick(selector: Readonly<Record<string, string>>): string | undefined;
  /** Calls `fn` whenever an agent (re)connects; returns the unsubscribe. */
  onAgentConnected(fn: () => void): () => void;
}

/** Server-to-agent task messages, in domain terms (converted at the edge). */
export type TaskOutgoing =
  | { kind: 'run'; attemptId: string; plan: TaskProcessPlan }
  | { kind: 'cancel'; attemptId: string; reason: string }
  | { kind: 'ack'; attemptId: string; seq: number; resultTaken: boolean };

export interface TaskLogIn { attemptId: string; seq: number; stream: string; line: string; dropped: number }
export interface TaskResultIn { attemptId: string; result: TaskProcessResult }

export interface TaskChannelOptions {
  logger: Logger;
  /** The open stream of a host, if any. */
  session: (host: string) => AgentSession | undefined;
  /** Every open stream (for runs_on by labels). Default: none. */
  sessions?: () => Iterable<AgentSession>;
  /** How long a disconnected agent may stay away before its attempts are lost. Default 10 000 ms. */
  lostAfterMs?: number;
  /** How long run() waits for the agent to connect. Default 300 000 ms. */
  agentWaitMs?: number;
}

interface Attempt {
  req: RemoteTaskRequest;
  resolve: (o: RemoteTaskOutcome) => void;
  incarnation: string | undefined;
  seq: number;
  graceTimer?: NodeJS.Timeout;
  ackTimer?: NodeJS.Timeout;
}

export class TaskChannel implements RemoteTaskChannel {
  private readonly attempts = new Map<string, Attempt>();
  private readonly waiters = new Map<string, Set<() => void>>();
  private readonly lostAfterMs: number;
  private readonly agentWaitMs: number;
  private readonly connectedListeners = new Set<() => void>();
  private turn = 0;

  constructor(private readonly o: TaskChannelOptions) {
    this.lostAfterMs = o.lostAfterMs ?? 10_000;
    this.agentWaitMs = o.agentWaitMs ?? 300_000;
  }

  /** Attempts in flight. */
  get size(): number {
    return this.attempts.size;
  }

  run(req: RemoteTaskRequest): Promise<RemoteTaskOutcome> {
    if (this.attempts.has(req.attemptId)) return Promise.reject(new FlotillaError(Code.ALREADY_EXISTS, `attempt ${req.attemptId} is running already`));
    return new Promise<RemoteTaskOutcome>((resolve) => {
      const a: Attempt = { req, resolve, incarnation: undefined, seq: 0 };
      this.attempts.set(req.attemptId, a);
      const onAbort = (): void => this.cancel(a);
      req.signal.addEventListener('abort', onAbort, { once: true });
      a.resolve = (outcome) => {
        req.signal.removeEventListener('abort', onAbort);
        clearTimeout(a.graceTimer);
        clearTimeout(a.ackTimer);
        this.attempts.delete(req.attemptId);
        resolve(outcome);
      };
      if (req.signal.aborted) return a.resolve({ kind: 'lost', reason: 'cancelled before it was sent' });
      void this.dispatch(a);
    });
  }

  pick(selector: Readonly<Record<string, string>>): string | undefined {
    const load = new Map<string, number>();
    for (const s of this.o.sessions?.() ?? []) if (!s.isClosed && labelsMatch(s.labels, selector)) load.set(s.hostname, 0);
    if (load.size === 0) return undefined;
    for (const a of this.attempts.values()) if (load.has(a.req.host)) load.set(a.req.host, load.get(a.req.host)! + 1);
    const least = Math.min(...load.values());
    const candidates = [...load].filter(([, n]) => n === least).map(([h]) => h).sort();
    return candidates[this.turn++ % candidates.length];
  }

  onAgentConnected(fn: () => void): () => void {
    this.connectedListeners.add(fn);
    return () => this.connectedListeners.delete(fn);
  }

  /** A stream from `session.hostname` opened (new, or a reconnect). */
  sessionOpened(session: AgentSession): void {
    for (const a of [...this.attempts.values()]) {
      if (a.req.host !== session.hostname || a.incarnation === undefined) continue;
      if (a.incarnation !== session.incarnation) {
        a.resolve({ kind: 'lost', reason: `agent ${session.hostname} restarted while the attempt ran (the attempt died with its previous process)` });
      } else {
        clearTimeout(a.graceTimer);
        a.graceTimer = undefined;
      }
    }
    const w = this.waiters.get(session.hostname);
    if (w !== undefined) for (const wake of [...w]) wake();
    for (const fn of [...this.connectedListeners]) fn();
  }

  /** The current stream of `session.hostname` closed. */
  sessionClosed(session: AgentSession): void {
    for (const a of this.attempts.values()) {
      if (a.req.host !== session.hostname || a.incarnation !== session.incarnation || a.graceTimer !== undefined) continue;
      a.graceTimer = setTimeout(() => {
        a.resolve({ kind: 'lost', reason: `agent ${session.hostname} disconnected and did not come back within ${this.lostAfterMs} ms` });
      }, this.lostAfterMs);
    }
  }

  taskLog(session: AgentSession, log: TaskLogIn): void {
    const a = this.attempts.get(log.attemptId);
    if (a === undefined || a.req.host !== session.hostname) {
      session.sendTask({ kind: 'cancel', attemptId: log.attemptId, reason: 'the server does not follow this attempt (it was lost or cancelled)' });
      session.sendTask({ kind: 'ack', attemptId: log.attemptId, seq: log.seq, resultTaken: false });
      return;
    }
    if (log.seq <= a.seq) return this.ackSoon(a);
    a.seq = log.seq;
    if (log.dropped > 0) a.req.onLine('stderr', `[flotilla: the agent dropped ${log.dropped} lines of this task while the server was away]`);
    a.req.onLine(log.stream === 'stderr' ? 'stderr' : 'stdout', log.line);
    this.ackSoon(a);
  }

  taskResult(session: AgentSession, r: TaskResultIn): void {
    const a = this.attempts.get(r.attemptId);
    session.sendTask({ kind: 'ack', attemptId: r.attemptId, seq: a?.seq ?? 0, resultTaken: true });
    if (a === undefined || a.req.host !== session.hostname) return;
    a.resolve({ kind: 'exit', ...r.result });
  }

  /** Every attempt in flight ends `lost` (the server is stopping). */
  close(): void {
    for (const a of [...this.attempts.values()]) a.resolve({ kind: 'lost', reason: 'the server stopped' });
    for (const w of this.waiters.values()) for (const wake of [...w]) wake();
  }

  private async dispatch(a: Attempt): Promise<void> {
    const host = a.req.host;
    const session = await this.waitForSession(host, a);
    if (!this.attempts.has(a.req.attemptId)) return;
    if (session === undefined) {
      a.resolve({ kind: 'lost', reason: `agent ${host} did not connect within ${this.agentWaitMs} ms` });
      return;
    }
    a.incarnation = session.incarnation;
    session.sendTask({ kind: 'run', attemptId: a.req.attemptId, plan: a.req.plan });
    this.o.logger.info({ host, attempt: a.req.attemptId }, `task ${a.req.attemptId} sent to ${host}`);
  }

  private async waitForSession(host: string, a: Attempt): Promise<AgentSession | undefined> {
    const deadline = Date.now() + this.agentWaitMs;
    for (;;) {
      const s = this.o.session(host);
      if (s !== undefined && !s.isClosed) return s;
      if (!this.attempts.has(a.req.attemptId) || Date.now() >= deadline) return undefined;
      await new Promise<void>((resolve) => {
        const set = this.waiters.get(host) ?? new Set();
        this.waiters.set(host, set);
        const done = (): void => {
          clearTimeout(timer);
          set.delete(done);
          if (set.size === 0) this.waiters.delete(host);
          resolve();
        };
        const timer = setTimeout(done, Math.min(1000, Math.max(0, deadline - Date.now())));
        set.add(done);
      });
    }
  }

  private cancel(a: Attempt): void {
    const s = this.o.session(a.req.host);
    if (a.incarnation !== undefined && s !== undefined && !s.isClosed && s.incarnation === a.incarnation) {
      // The agent kills the process group and reports the result (cancelled).
      s.sendTask({ kind: 'cancel', attemptId: a.req.attemptId, reason: 'cancelled by the scheduler' });
      return;
    }
    // Not sent yet, or the agent is away: nothing to wait for. If it comes back with the attempt, its
    // events are refused and the attempt is cancelled there (taskLog).
    a.resolve({ kind: 'lost', reason: `cancelled while agent ${a.req.host} was not connected` });
  }

  private ackSoon(a: Attempt): void {
    if (a.ackTimer !== undefined) return;
    a.ackTimer = setTimeout(() => {
      a.ackTimer = undefined;
      const s = this.o.session(a.req.host);
      if (s !== undefined && !s.isClosed && s.incarnation === a.incarnation) s.sendTask({ kind: 'ack', attemptId: a.req.attemptId, seq: a.seq, resultTaken: false });
    }, 20);
  }
}
