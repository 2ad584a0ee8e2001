/**
 * Rate limits on the public APIs (docs/security.md, "Rate limits"): a token bucket per caller, the API
 * token's id when the request carries one, else the client's address. The guard (guard.ts) takes one
 * token from the caller's bucket for every HTTP API request and every gRPC call that needs a token, so
 * HTTP and gRPC share the budget; the cluster (join) token is exempt (internal traffic).
 *
 * Memory is bounded: at most `maxKeys` buckets are kept, in least-recently-used order; when the table is
 * full the least recently used one goes (a bucket idle long enough to have refilled is the same as a new
 * one, so dropping it loses nothing).
 */
import { Code, FlotillaError } from '../core/errors.js';

export interface RateLimiterOptions {
  /** Requests per second each caller may make on average (> 0). */
  ratePerSecond: number;
  /** Requests a caller may make at once after being idle. Default: 2 × ratePerSecond. */
  burst?: number;
  /** Most callers tracked at once. Default 10 000. */
  maxKeys?: number;
  /** Clock in ms. Default Date.now. */
  nowMs?: () => number;
}

interface Bucket {
  tokens: number;
  atMs: number;
}

/** The default of `--rate-limit`: requests/s per token (or per address without a token). */
export const DEFAULT_RATE_LIMIT = 200;

export class RateLimiter {
  private readonly buckets = new Map<string, Bucket>();
  readonly ratePerSecond: number;
  readonly burst: number;
  private readonly maxKeys: number;
  private readonly nowMs: () => number;

  constructor(o: RateLimiterOptions) {
    if (!(o.ratePerSecond > 0)) throw new FlotillaError(Code.CONFIG_INVALID, 'the rate limit must be > 0 requests/s (0 turns it off)');
    this.ratePerSecond = o.ratePerSecond;
    this.burst = Math.max(1, o.burst ?? 2 * o.ratePerSecond);
    this.maxKeys = Math.max(1, o.maxKeys ?? 10_000);
    this.nowMs = o.nowMs ?? Date.now;
  }

  /** Callers currently tracked. */
  get size(): number {
    return this.buckets.size;
  }

  /**
   * Takes one request from `key`'s bucket: undefined when allowed, else the seconds until one is
   * available (for Retry-After, at least 1).
   */
  take(key: string): number | undefined {
    const now = this.nowMs();
    let b = this.buckets.get(key);
    if (b === undefined) {
      if (this.buckets.size >= this.maxKeys) {
        const oldest = this.buckets.keys().next();
        if (oldest.done !== true) this.buckets.delete(oldest.value);
      }
      b = { tokens: this.burst, atMs: now };
    } else {
      this.buckets.delete(key); // re-inserted below: the map's order is least recently used first
      b.tokens = Math.min(this.burst, b.tokens + (Math.max(0, now - b.atMs) / 1000) * this.ratePerSecond);
      b.atMs = now;
    }
    this.buckets.set(key, b);
    if (b.tokens >= 1) {
      b.tokens -= 1;
      return undefined;
    }
    return Math.max(1, Math.ceil((1 - b.tokens) / this.ratePerSecond));
  }

  /** Throws RESOURCE_EXHAUSTED (HTTP 429, with details.retryAfterSeconds) when `key` is over its limit. */
  check(key: string, who: string): void {
    const wait = this.take(key);
    if (wait === undefined) return;
    throw new FlotillaError(
      Code.RESOURCE_EXHAUSTED,
      `rate limit: ${who} made more than ${this.ratePerSecond} requests/s (burst ${this.burst}); retry after ${wait} s`,
      { details: { retryAfterSeconds: wait } },
    );
  }
}

/** The guard's rate-limit option from `--rate-limit N` / `--rate-limit-burst M` (0: off). */
export function rateLimitOption(config: { rateLimit: number; rateLimitBurst?: number | undefined }): { rateLimiter?: RateLimiter } {
  if (config.rateLimit <= 0) return {};
  return { rateLimiter: new RateLimiter({ ratePerSecond: config.rateLimit, ...(config.rateLimitBurst !== undefined ? { burst: config.rateLimitBurst } : {}) }) };
}
