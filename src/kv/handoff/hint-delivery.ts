/**
 * Hinted handoff, the delivering side: every `intervalMs`, hints held here for a node that is up again
 * are sent to it (oldest first, in batches) and removed once it has them on disk. A target that fails
 * keeps its hints for the next round.
 */
import { FlotillaError } from '../../core/errors.js';
import { silentLogger, type Logger } from '../../core/log.js';
import type { ReplicaAccess } from '../coordinator/replica-access.js';
import type { KvEngine } from '../engine/kv-engine.js';
import type { KvMembership } from '../types.js';

export interface HintDeliveryOptions {
  engine: KvEngine;
  replicas: ReplicaAccess;
  membership: KvMembership;
  /** Time between delivery rounds, ms. Default 1000. */
  intervalMs?: number;
  /** Hints per request. Default 500. */
  batchSize?: number;
  logger?: Logger;
}

export interface HintDelivery {
  start(): void;
  stop(): Promise<void>;
  /** Runs one delivery round now; resolves with the number of hints delivered. */
  deliverNow(): Promise<number>;
}

export function createHintDelivery(options: HintDeliveryOptions): HintDelivery {
  const { engine, replicas, membership } = options;
  const logger = options.logger ?? silentLogger();
  const intervalMs = options.intervalMs ?? 1000;
  const batchSize = options.batchSize ?? 500;
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<number> | undefined;
  let stopped = true;
  let closed = false;

  async function round(): Promise<number> {
    let delivered = 0;
    for (const target of engine.hintTargets().keys()) {
      if (target === membership.self || !membership.isUp(target)) continue;
      // Bounded: at most 20 batches per target per round.
      for (let i = 0; i < 20 && !closed; i++) {
        const hints = await engine.readHints(target, batchSize);
        if (hints.length === 0) break;
        try {
          await replicas.replicate(
            target,
            hints.map((h) => h.entry),
          );
        } catch (err) {
          logger.debug({ target, err: FlotillaError.from(err).message }, 'hint delivery failed; will retry');
          break;
        }
        await engine.deleteHints(hints);
        delivered += hints.length;
        if (hints.length < batchSize) break;
      }
      if (delivered > 0) logger.info({ target, delivered }, 'hints delivered');
    }
    return delivered;
  }

  function deliverNow(): Promise<number> {
    running ??= round().finally(() => {
      running = undefined;
    });
    return running;
  }

  function schedule(): void {
    if (stopped) return;
    timer = setTimeout(() => {
      deliverNow()
        .catch((err: unknown) => logger.warn({ err: FlotillaError.from(err).message }, 'hint delivery round failed'))
        .finally(schedule);
    }, intervalMs);
    timer.unref();
  }

  return {
    start() {
      if (!stopped) return;
      stopped = false;
      schedule();
    },
    async stop() {
      stopped = true;
      closed = true;
      if (timer !== undefined) clearTimeout(timer);
      await running?.catch(() => undefined);
    },
    deliverNow,
  };
}
