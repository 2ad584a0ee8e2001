/**
 * Airflow's trigger rules: given the states of a task's direct upstreams, decide whether it waits, runs,
 * is skipped or is upstream_failed. Evaluated the moment an upstream finishes (event-driven).
 */
import type { TaskState } from './task-states.js';

export const triggerRules = [
  'all_success',
  'all_failed',
  'all_done',
  'all_skipped',
  'one_success',
  'one_failed',
  'one_done',
  'none_failed',
  'none_failed_min_one_success',
  'none_skipped',
  'always',
] as const;
export type TriggerRule = (typeof triggerRules)[number];

export type Readiness = 'wait' | 'run' | 'skip' | 'upstream_failed';

interface Counts {
  total: number;
  success: number;
  failed: number;
  skipped: number;
  done: number;
}

function count(states: readonly TaskState[]): Counts {
  const c: Counts = { total: states.length, success: 0, failed: 0, skipped: 0, done: 0 };
  for (const s of states) {
    if (s === 'success') c.success++;
    else if (s === 'failed' || s === 'upstream_failed' || s === 'shutdown') c.failed++;
    else if (s === 'skipped' || s === 'removed') c.skipped++;
    else continue;
    c.done++;
  }
  return c;
}

/** What a task with `rule` does given its upstreams' states (no upstreams: it runs). */
export function evaluateTriggerRule(rule: TriggerRule, upstream: readonly TaskState[]): Readiness {
  if (rule === 'always' || upstream.length === 0) return 'run';
  const c = count(upstream);
  const allDone = c.done === c.total;
  switch (rule) {
    case 'all_success':
      if (c.failed > 0) return 'upstream_failed';
      if (c.skipped > 0) return 'skip';
      return allDone ? 'run' : 'wait';
    case 'all_failed':
      if (c.success > 0 || c.skipped > 0) return 'skip';
      return allDone ? 'run' : 'wait';
    case 'all_done':
      return allDone ? 'run' : 'wait';
    case 'all_skipped':
      if (c.success > 0 || c.failed > 0) return 'skip';
      return allDone ? 'run' : 'wait';
    case 'one_success':
      if (c.success > 0) return 'run';
      if (!allDone) return 'wait';
      return c.failed === c.total ? 'upstream_failed' : 'skip';
    case 'one_failed':
      if (c.failed > 0) return 'run';
      return allDone ? 'skip' : 'wait';
    case 'one_done':
      if (c.success > 0 || c.failed > 0) return 'run';
      return allDone ? 'skip' : 'wait';
    case 'none_failed':
      if (c.failed > 0) return 'upstream_failed';
      return allDone ? 'run' : 'wait';
    case 'none_failed_min_one_success':
      if (c.failed > 0) return 'upstream_failed';
      if (!allDone) return 'wait';
      return c.success > 0 ? 'run' : 'skip';
    case 'none_skipped':
      if (c.skipped > 0) return 'skip';
      return allDone ? 'run' : 'wait';
  }
}
