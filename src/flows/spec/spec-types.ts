/**
 * The validated form of a workflow spec (FLOW-1). Every duration is in milliseconds; every task is known
 * by its `key` (edges name keys), which defaults to its name under `tasks:`.
 */
import type { TriggerRule } from '../dag/trigger-rules.js';

/** When a collection (or a task inside a run) fires: a cron expression or one ISO instant. */
export type Trigger = { kind: 'cron'; expr: string } | { kind: 'once'; atMs: number; text: string };

/** What a task runs. `file` paths are absolute after validation; `content` is the file's text. */
export type TaskAction =
  | { kind: 'sh' | 'py' | 'sql'; file: string; content: string }
  | { kind: 'command'; command: string }
  | { kind: 'sensor'; file: string; mode: 'poke' | 'reschedule' | 'deferrable'; pokeIntervalMs: number };

export interface RetryPolicy {
  /** Retries after the first attempt. */
  retries: number;
  /** Delay before the first retry. */
  delayMs: number;
  /** Double the delay on each further retry (capped by maxDelayMs). */
  exponential: boolean;
  maxDelayMs: number;
}

export interface TaskSpec {
  /** The name under `tasks:`. */
  name: string;
  /** The key edges refer to (default: the name). */
  key: string;
  action: TaskAction;
  /** Wall-clock limit of one attempt; the whole process group is killed past it. Undefined: none. */
  timeoutMs: number | undefined;
  retry: RetryPolicy;
  triggerRule: TriggerRule;
  /** Agent hostname to run on (`runs_on: NAME`); undefined: on the server, or by `runsOnLabels`. */
  runsOn: string | undefined;
  /** `runs_on: {labels: {...}}`: any connected agent having every one of these labels. */
  runsOnLabels: Record<string, string> | undefined;
  env: Record<string, string>;
  params: Record<string, unknown>;
  /** Not before the next occurrence of this trigger at or after the run's logical time. */
  trigger: Trigger | undefined;
  /** For .sql: `sqlite:PATH` (relative to the spec file) or `postgres://...`. */
  connection: string | undefined;
  /** The task's last stdout line names the downstream keys to follow; the others are skipped. */
  branch: boolean;
}

export interface EmailTarget {
  /** SMTP server host:port. */
  smtp: string;
  from: string;
  to: string[];
}

export interface NotifySpec {
  webhooks: string[];
  email: EmailTarget | undefined;
  /** Message channels (scheduled messaging) the notification JSON is published on. */
  channels: string[];
  /** Which events notify. Default: run_failed, task_failed. */
  on: NotifyEvent[];
}
export type NotifyEvent = 'run_success' | 'run_failed' | 'task_failed';

export interface FlowSpec {
  key: string;
  description: string;
  trigger: Trigger | undefined;
  /** Wall-clock limit of a whole run. */
  timeoutMs: number | undefined;
  /** Most task instances of this flow running at once (all runs together). 0: unlimited. */
  concurrency: number;
  /** Most runs of this flow active at once. */
  maxActiveRuns: number;
  /** Start a run for every cron tick missed while the scheduler was down or the flow paused. */
  catchup: boolean;
  env: Record<string, string>;
  params: Record<string, unknown>;
  notify: NotifySpec;
  tasks: TaskSpec[];
  /** [upstream key, downstream key], deduplicated, in file order. */
  edges: [string, string][];
}

/** One validation problem, 1-based line and column. */
export interface SpecProblem {
  line: number;
  col: number;
  message: string;
}
