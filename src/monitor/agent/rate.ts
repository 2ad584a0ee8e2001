/**
 * Counter-to-rate conversion. Kernel counters only grow, except when they wrap (a 32-bit field passing
 * 2^32) or restart (a device or interface re-created, a driver reloaded). Rules, per counter:
 *
 * - first reading: no rate yet (nothing is emitted, never NaN);
 * - it grew: rate = (now - before) / elapsed seconds;
 * - it shrank from the upper half of the 32-bit range to the lower half: a 32-bit wrap, the increase is
 *   2^32 - before + now;
 * - it shrank otherwise: a reset; the counter restarted from zero during the interval, so the increase is
 *   `now` (Prometheus's rule for rate());
 * - the elapsed time is not positive or a value is not a finite non-negative number: no rate.
 */

const TWO_32 = 2 ** 32;

/** The increase of a counter from `before` to `now`, with wrap and reset handling (see the file comment). */
export function counterIncrease(before: number, now: number): number {
  if (now >= before) return now - before;
  if (before < TWO_32 && before >= TWO_32 / 2 && now < TWO_32 / 2) return TWO_32 - before + now;
  return now;
}

/** A rate in units per second, or undefined when there is no honest value. */
export function counterRate(before: number, now: number, elapsedSeconds: number): number | undefined {
  if (!(elapsedSeconds > 0) || !Number.isFinite(elapsedSeconds)) return undefined;
  if (!Number.isFinite(before) || !Number.isFinite(now) || before < 0 || now < 0) return undefined;
  const rate = counterIncrease(before, now) / elapsedSeconds;
  return Number.isFinite(rate) ? rate : undefined;
}

/**
 * Remembers the last reading of many counters (keyed by series) and turns each new reading into a rate.
 * Series not seen in a round are forgotten (a device that went away), so a returning device starts over.
 */
export class RateTracker {
  private previous = new Map<string, { value: number; atMs: number }>();
  private current = new Map<string, { value: number; atMs: number }>();

  /**
   * Records `value` for `key` taken at monotonic time `atMs`; returns the rate per second since the
   * previous reading of the same key, or undefined on the first one.
   */
  rate(key: string, value: number, atMs: number): number | undefined {
    this.current.set(key, { value, atMs });
    const prev = this.previous.get(key);
    if (prev === undefined) return undefined;
    return counterRate(prev.value, value, (atMs - prev.atMs) / 1000);
  }

  /** Ends a round: what was read in it becomes the baseline of the next one. */
  endRound(): void {
    this.previous = this.current;
    this.current = new Map();
  }
}
