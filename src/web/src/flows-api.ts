/** The workflow API's shapes (src/flows/http-routes.ts, src/flows/store/flow-store.ts) and their calls. */
import { getJson, sendJson } from './api.js';

export interface FlowRow {
  key: string;
  version: string;
  paused: number;
  last_tick_ms: number | null;
  created_ms: number;
  updated_ms: number;
}

export type RunState = 'queued' | 'running' | 'success' | 'failed' | 'cancelled';

export interface RunRow {
  id: string;
  flow_key: string;
  version: string;
  run_key: string;
  state: RunState;
  trigger: string;
  logical_ms: number;
  created_ms: number;
  started_ms: number | null;
  ended_ms: number | null;
  reason: string;
}

export interface TaskRow {
  run_id: string;
  task_key: string;
  state: string;
  try_number: number;
  max_tries: number;
  scheduled_ms: number | null;
  started_ms: number | null;
  ended_ms: number | null;
  lateness_ms: number | null;
  host: string;
  reason: string;
  updated_ms: number;
}

export interface AttemptRow {
  run_id: string;
  task_key: string;
  try_number: number;
  host: string;
  started_ms: number;
  ended_ms: number | null;
  exit_code: number | null;
  outcome: string;
  reason: string;
}

export interface LogRow {
  id: number;
  task_key: string;
  try_number: number;
  stream: string;
  line: string;
  time_ms: number;
}

export interface FlowTask {
  key: string;
  kind: string;
  runsOn: string | null;
  triggerRule: string;
  retries: number;
}

export interface FlowDetail {
  flow: FlowRow;
  tasks: FlowTask[];
  edges: [string, string][];
  runs: RunRow[];
}

export interface RunDetail {
  run: RunRow;
  tasks: TaskRow[];
  attempts: AttemptRow[];
}

/** `event: task` of /api/v1/flows/events. */
export interface TaskEvent {
  runId: string;
  flow: string;
  task: string;
  state: string;
  reason: string;
  tryNumber: number;
  timeMs: number;
}

/** `event: run` of /api/v1/flows/events. */
export interface RunEvent {
  runId: string;
  flow: string;
  state: RunState;
  reason: string;
  timeMs: number;
}

const enc = encodeURIComponent;

export const flowsApi = {
  list: () => getJson<{ flows: FlowRow[]; leader: string | null }>('/api/v1/flows'),
  get: (key: string) => getJson<FlowDetail>(`/api/v1/flows/${enc(key)}`),
  run: (id: string) => getJson<RunDetail>(`/api/v1/flows/runs/${enc(id)}`),
  logs: (id: string, task: string, after: number) => getJson<{ state: RunState; lines: LogRow[] }>(`/api/v1/flows/runs/${enc(id)}/logs?task=${enc(task)}&after=${after}&limit=2000`),
  trigger: (key: string) => sendJson<RunRow>('POST', `/api/v1/flows/${enc(key)}/runs`, {}),
  pause: (key: string, paused: boolean) => sendJson<{ paused: boolean }>('POST', `/api/v1/flows/${enc(key)}/${paused ? 'pause' : 'resume'}`, {}),
  cancel: (id: string) => sendJson<RunRow>('POST', `/api/v1/flows/runs/${enc(id)}/cancel`, {}),
  rerun: (id: string, task?: string) => sendJson<{ run: RunRow; cleared: unknown }>('POST', `/api/v1/flows/runs/${enc(id)}/rerun`, task !== undefined ? { task } : {}),
};

/** Colour class of a task or run state (see the flow-state-* rules in styles.css). */
export function stateTone(state: string): string {
  switch (state) {
    case 'success':
      return 'good';
    case 'failed':
    case 'upstream_failed':
    case 'shutdown':
    case 'cancelled':
      return 'bad';
    case 'running':
    case 'restarting':
      return 'run';
    case 'queued':
    case 'scheduled':
    case 'up_for_retry':
    case 'up_for_reschedule':
    case 'deferred':
      return 'wait';
    case 'skipped':
    case 'removed':
      return 'skip';
    default:
      return 'none';
  }
}
