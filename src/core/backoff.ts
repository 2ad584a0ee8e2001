/**
 * Retry with exponential backoff and full jitter (the AWS Architecture Blog's "Exponential Backoff And
 * Jitter": sleep = random(0, min(cap, base * 2^attempt))). Only errors that say they are retryable are
 * retried unless the caller decides otherwise.
 */
import { isRetryable } from './errors.js';
import { setTimeout as sleepMs } from 'node:timers/promises';

export interface BackoffOptions {
  /** First delay ceiling in ms. Default 100. */
  baseMs?: number;
  /** Largest delay ceiling in ms. Default 10 000. */
  maxMs?: number;
  /** Growth factor per attempt. Default 2. */
  factor?: number;
  /** 'full' picks uniformly in [0, ceiling]; 'equal' in [ceiling/2, ceiling]; 'none' uses the ceiling. Default 'full'. */
  jitter?: 'full' | 'equal' | 'none';
  /** Random source in [0, 1). Default Math.random. */
  random?: () => number;
}

/** The delay before retry number `attempt` (0 = the first retry). */
export function backoffDelayMs(attempt: number, options: BackoffOptions = {}): number {
  const base = options.baseMs ?? 100;
  const max = options.maxMs ?? 10_000;
  const factor = options.factor ?? 2;
  const ceiling = Math.min(max, base * Math.pow(factor, Math.max(0, attempt)));
  const random = options.random ?? Math.random;
  switch (options.jitter ?? 'full') {
    case 'full':
      return Math.floor(random() * ceiling);
    case 'equal':
      return Math.floor(ceiling / 2 + (random() * ceiling) / 2);
    case 'none':
      return ceiling;
  }
}

export interface RetryOptions extends BackoffOptions {
  /** Retries after the first try (so at most retries + 1 calls). Default 5. Infinity retries until aborted. */
  retries?: number;
  /** Decides whether an error is worth another try. Default: FlotillaError.retryable. */
  shouldRetry?: (err: unknown, attempt: number) => boolean;
  /** Stops retrying (and the current wait) when aborted. */
  signal?: AbortSignal;
  /** Called before each wait, e.g. to log. */
  onRetry?: (err: unknown, attempt: number, delayMs: number) => void;
  /** Sleep function; tests inject one that skips time. */
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
}

export async function retry<T>(fn: (attempt: number) => Promise<T>, options: RetryOptions = {}): Promise<T> {
  const retries = options.retries ?? 5;
  const shouldRetry = options.shouldRetry ?? ((err) => isRetryable(err));
  const sleep = options.sleep ?? ((ms: number, signal?: AbortSignal) => sleepMs(ms, undefined, { signal }));
  for (let attempt = 0; ; attempt++) {
    options.signal?.throwIfAborted();
    try {
      return await fn(attempt);
    } catch (err) {
      if (attempt >= retries || !shouldRetry(err, attempt) || options.signal?.aborted === true) throw err;
      const delay = backoffDelayMs(attempt, options);
      options.onRetry?.(err, attempt, delay);
      await sleep(delay, options.signal);
    }
  }
}
