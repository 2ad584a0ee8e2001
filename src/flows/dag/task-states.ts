/**
 * The 14 task-instance states, with Airflow's meanings, and the transitions the engine may make.
 *
 * - none: no dependency met yet (a new instance, or one cleared for a rerun).
 * - scheduled: its dependencies are met and the scheduler decided it should run.
 * - queued: handed to an executor, waiting for a free slot (concurrency limits).
 * - running: an attempt is executing (locally or on an agent).
 * - success: the attempt finished without error.
 * - shutdown: externally asked to stop while running (a cancel).
 * - restarting: externally asked to restart while running (a rerun of a running task, or its scheduler
 *   died and the new leader restarts the attempt).
 * - failed: the attempt failed and no retry is left.
 * - skipped: skipped by a branch, by exit code 99, or by its trigger rule.
 * - upstream_failed: an upstream failed and the trigger rule needed it to succeed.
 * - up_for_retry: the attempt failed, a retry is left; waits out the retry delay.
 * - up_for_reschedule: a sensor in reschedule mode found its condition unmet; it frees its slot and pokes
 *   again after its poke interval.
 * - deferred: a deferrable sensor handed its wait to the scheduler's trigger (no slot held); it is
 *   scheduled again when the trigger fires.
 * - removed: the task is not in the spec version the run was moved to (rerun --latest).
 */
export const TaskState = {
  NONE: 'none',
  SCHEDULED: 'scheduled',
  QUEUED: 'queued',
  RUNNING: 'running',
  SUCCESS: 'success',
  SHUTDOWN: 'shutdown',
  RESTARTING: 'restarting',
  FAILED: 'failed',
  SKIPPED: 'skipped',
  UPSTREAM_FAILED: 'upstream_failed',
  UP_FOR_RETRY: 'up_for_retry',
  UP_FOR_RESCHEDULE: 'up_for_reschedule',
  DEFERRED: 'deferred',
  REMOVED: 'removed',
} as const;
export type TaskState = (typeof TaskState)[keyof typeof TaskState];

export const allTaskStates: readonly TaskState[] = Object.values(TaskState);

/** States after which nothing more happens to the instance (unless it is cleared). */
export const finishedStates: ReadonlySet<TaskState> = new Set<TaskState>(['success', 'failed', 'skipped', 'upstream_failed', 'shutdown', 'removed']);

export function isFinished(state: TaskState): boolean {
  return finishedStates.has(state);
}

const transitions: Record<TaskState, readonly TaskState[]> = {
  none: ['scheduled', 'skipped', 'upstream_failed', 'removed', 'shutdown'],
  scheduled: ['queued', 'shutdown', 'removed', 'none'],
  queued: ['running', 'shutdown', 'removed', 'scheduled'],
  running: ['success', 'failed', 'up_for_retry', 'up_for_reschedule', 'deferred', 'skipped', 'shutdown', 'restarting'],
  restarting: ['scheduled', 'shutdown'],
  up_for_retry: ['scheduled', 'shutdown'],
  up_for_reschedule: ['scheduled', 'shutdown'],
  deferred: ['scheduled', 'shutdown', 'failed'],
  // Finished states only go back to none, by a clear (rerun).
  success: ['none', 'removed'],
  failed: ['none', 'removed'],
  skipped: ['none', 'removed'],
  upstream_failed: ['none', 'removed'],
  shutdown: ['none', 'removed'],
  removed: ['none'],
};

export function canTransition(from: TaskState, to: TaskState): boolean {
  return transitions[from].includes(to);
}

/** Run states: queued (waiting for a run slot), running, and the three ends. */
export type RunState = 'queued' | 'running' | 'success' | 'failed' | 'cancelled';
export function isRunFinished(state: RunState): boolean {
  return state === 'success' || state === 'failed' || state === 'cancelled';
}
