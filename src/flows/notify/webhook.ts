/**
 * Webhook delivery: one JSON POST per event. Network errors, timeouts, 408, 429 and 5xx answers are
 * retried with exponential backoff and jitter (src/core/backoff.ts); other 4xx answers are final.
 */
import { retry, type BackoffOptions } from '../../core/backoff.js';
import { Code, FlotillaError } from '../../core/errors.js';

export interface DeliveryOptions extends BackoffOptions {
  /** Retries after the first try. Default 5. */
  retries?: number;
  /** Per-try time limit in ms. Default 10 000. */
  timeoutMs?: number;
  signal?: AbortSignal;
}

export async function postWebhook(url: string, body: unknown, options: DeliveryOptions = {}): Promise<void> {
  const payload = JSON.stringify(body);
  await retry(
    async () => {
      let res: Response;
      try {
        res = await fetch(url, {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'user-agent': 'flotilla-flows' },
          body: payload,
          signal: AbortSignal.timeout(options.timeoutMs ?? 10_000),
        });
      } catch (err) {
        throw new FlotillaError(Code.UNAVAILABLE, `webhook ${url}: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
      }
      await res.arrayBuffer().catch(() => undefined);
      if (res.ok) return;
      const transient = res.status === 408 || res.status === 429 || res.status >= 500;
      throw new FlotillaError(transient ? Code.UNAVAILABLE : Code.FAILED_PRECONDITION, `webhook ${url} answered ${res.status}`);
    },
    { baseMs: 500, maxMs: 30_000, ...options, retries: options.retries ?? 5 },
  );
}
