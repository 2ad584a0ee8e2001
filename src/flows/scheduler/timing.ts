/** Time arithmetic of the scheduler: retry delays, trigger occurrences, timers longer than setTimeout allows. */
import { Cron } from 'croner';
import type { RetryPolicy, Trigger } from '../spec/index.js';

/** Delay before the retry that follows failed try `tryNumber` (1-based): fixed, or doubling per retry. */
export function retryDelayMs(policy: RetryPolicy, tryNumber: number): number {
  if (!policy.exponential) return policy.delayMs;
  return Math.min(policy.maxDelayMs, policy.delayMs * 2 ** Math.max(0, tryNumber - 1));
}

/** The first occurrence of `trigger` at or after `fromMs` (a one-off trigger: its instant). */
export function occurrenceAtOrAfter(trigger: Trigger, fromMs: number): number | undefined {
  if (trigger.kind === 'once') return trigger.atMs;
  const next = new Cron(trigger.expr, { paused: true }).nextRun(new Date(fromMs - 1));
  return next === null ? undefined : next.getTime();
}

/** Cron ticks in (afterMs, untilMs], at most `limit`. */
export function cronTicks(expr: string, afterMs: number, untilMs: number, limit: number): number[] {
  const cron = new Cron(expr, { paused: true });
  const out: number[] = [];
  let cursor = new Date(afterMs);
  while (out.length < limit) {
    const next = cron.nextRun(cursor);
    if (next === null || next.getTime() > untilMs) break;
    out.push(next.getTime());
    cursor = next;
  }
  return out;
}

const MAX_TIMEOUT_MS = 2 ** 31 - 1;

/**
 * A timer that fires at an absolute time, never before it by `now()`, however far (setTimeout alone
 * overflows past ~24.8 days; it runs on a monotonic clock and may fire a millisecond before the wall
 * clock reaches the time, so each wake-up checks and re-arms).
 */
export function timerAt(atMs: number, now: () => number, fn: () => void): { cancel(): void } {
  let handle: NodeJS.Timeout | undefined;
  const arm = (): void => {
    const wait = atMs - now();
    if (wait <= 0) {
      handle = setTimeout(fn, 0);
      return;
    }
    handle = setTimeout(arm, Math.min(wait, MAX_TIMEOUT_MS));
  };
  arm();
  return { cancel: () => clearTimeout(handle) };
}
