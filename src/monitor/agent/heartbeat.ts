/**
 * The agent's heartbeat: `/monitor/heartbeat/<hostname>` attached to a lease (TTL default 5 s) kept alive
 * by the Coord client. When the lease is lost (expired during a coordination outage, revoked by someone)
 * or the key is deleted while the lease lives, a new lease is granted and the key written again, with
 * backoff until the store answers. stop() revokes the lease, so the key goes at once on a clean stop; a
 * killed agent's key goes when its TTL runs out.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { backoffDelayMs } from '../../core/backoff.js';
import { FlotillaError } from '../../core/errors.js';
import type { Logger } from '../../core/log.js';
import type { Coord, Lease, Watch } from '../../coord/index.js';
import { heartbeatKey } from '../monitor-config.js';

export interface HeartbeatOptions {
  coord: Coord;
  hostname: string;
  /** Lease TTL in seconds. Default: 5. */
  ttlSeconds?: number;
  /** The key's value (JSON), read at each (re)registration. */
  value: () => string;
  logger: Logger;
}

export const DEFAULT_HEARTBEAT_TTL_SECONDS = 5;

export class Heartbeat {
  private lease: Lease | undefined;
  private watch: Watch | undefined;
  private stopped = false;
  private readonly stopController = new AbortController();
  private loop: Promise<void> | undefined;
  private wake: (() => void) | undefined;
  private readonly key: string;
  private readonly ttlSeconds: number;

  constructor(private readonly options: HeartbeatOptions) {
    this.key = heartbeatKey(options.hostname);
    this.ttlSeconds = options.ttlSeconds ?? DEFAULT_HEARTBEAT_TTL_SECONDS;
  }

  /** True while the key is believed present under a live lease. */
  get alive(): boolean {
    return this.lease !== undefined && !this.lease.closed;
  }

  /** Registers once (waiting at most `firstTimeoutMs`), then keeps registering in the background. */
  async start(firstTimeoutMs = 5000): Promise<void> {
    const registered = new Promise<void>((resolve) => {
      this.loop = this.run(resolve);
    });
    const ok = await Promise.race([registered.then(() => true), sleep(firstTimeoutMs, false, { ref: false })]);
    if (!ok) this.options.logger.warn({ key: this.key }, 'heartbeat not registered yet (coordination store unreachable); retrying in the background');
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.stopController.abort();
    this.wake?.();
    await this.loop;
    await this.watch?.close().catch(() => undefined);
    const lease = this.lease;
    this.lease = undefined;
    if (lease !== undefined && !lease.closed) {
      await lease.revoke().catch((err: unknown) => this.options.logger.debug({ err: FlotillaError.from(err).message }, 'heartbeat lease revoke failed'));
    }
  }

  private async run(onFirst: () => void): Promise<void> {
    const { coord, logger } = this.options;
    let attempt = 0;
    while (!this.stopped) {
      try {
        const lease = await coord.grantLease(this.ttlSeconds);
        if (this.stopped) {
          await lease.revoke().catch(() => undefined);
          return;
        }
        const lost = new Promise<string>((resolve) => {
          lease.on('lease:lost', (err) => resolve(err.rawMessage));
          this.wake = () => resolve('stopping');
        });
        await coord.put(this.key, this.options.value(), { lease });
        this.lease = lease;
        attempt = 0;
        logger.info({ key: this.key, lease: lease.id, ttlSeconds: lease.ttlSeconds }, 'heartbeat registered');
        onFirst();
        const deleted = this.watchKey(lease);
        const why = await Promise.race([lost, deleted]);
        if (this.stopped) return;
        logger.warn({ key: this.key, reason: why }, 'heartbeat lost; registering again');
        if (!lease.closed) await lease.revoke().catch(() => undefined);
        this.lease = undefined;
      } catch (err) {
        if (this.stopped) return;
        const delay = backoffDelayMs(attempt++, { baseMs: 250, maxMs: Math.max(1000, (this.ttlSeconds * 1000) / 3), jitter: 'equal' });
        logger.debug({ key: this.key, err: FlotillaError.from(err).message, retryInMs: delay }, 'heartbeat registration failed; retrying');
        await sleep(delay, undefined, { signal: this.stopController.signal }).catch(() => undefined);
      }
    }
  }

  /** Resolves when the key is deleted while the lease lives (someone ran etcdctl del). */
  private watchKey(lease: Lease): Promise<string> {
    const old = this.watch;
    void old?.close().catch(() => undefined);
    const watch = this.options.coord.watch({ key: this.key, only: 'delete' });
    this.watch = watch;
    return new Promise<string>((resolve) => {
      watch.on('watch:event', () => {
        if (!lease.closed) resolve('key deleted');
      });
      watch.on('watch:error', () => undefined);
    });
  }
}
