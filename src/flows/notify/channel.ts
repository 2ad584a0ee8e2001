/**
 * Channel delivery: the notification JSON published on a message channel of scheduled messaging (the
 * server's pubsub broker, given by the composition root: flows does not depend on pubsub). Transient
 * failures (the broker not running yet, the store busy) are retried with backoff like webhooks;
 * refusals (a bad or reserved channel name) are final.
 */
import { retry } from '../../core/backoff.js';
import { Code, FlotillaError } from '../../core/errors.js';
import type { DeliveryOptions } from './webhook.js';

export async function publishToChannel<T>(channel: string, payload: T, publish: ((channel: string, payload: T) => Promise<void>) | undefined, options: DeliveryOptions = {}): Promise<void> {
  if (publish === undefined) throw new FlotillaError(Code.FAILED_PRECONDITION, `channel ${channel}: this process has no message broker to publish on`);
  await retry(() => publish(channel, payload), { baseMs: 500, maxMs: 30_000, ...options, retries: options.retries ?? 5 });
}
