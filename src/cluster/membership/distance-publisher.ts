/**
 * Publishes this node's measured RTT to every peer at `/flotilla/distances/<name>` (OBJ-7), under its
 * registration lease, every `intervalMs`. Best effort: a failed write (store down) is retried next time.
 */
import { FlotillaError } from '../../core/errors.js';
import { silentLogger, type Logger } from '../../core/log.js';
import type { Coord, Lease } from '../../coord/index.js';
import { distancesKey } from './node-record.js';

export interface DistancePublisherOptions {
  coord: Coord;
  name: string;
  /** The current distance map, peer name -> RTT ms. */
  distances: () => Record<string, number>;
  /** The lease to publish under; nothing is written while there is none. */
  lease: () => Lease | undefined;
  /** Default: 3000 ms. */
  intervalMs?: number;
  logger?: Logger;
}

export interface DistancePublisher {
  start(): void;
  stop(): Promise<void>;
}

export function createDistancePublisher(options: DistancePublisherOptions): DistancePublisher {
  const logger = options.logger ?? silentLogger();
  let timer: NodeJS.Timeout | undefined;
  let inFlight: Promise<void> | undefined;
  let lastValue = '';
  let lastLease = '';

  function publish(): void {
    const lease = options.lease();
    if (lease === undefined || inFlight !== undefined) return;
    const value = JSON.stringify(options.distances());
    if (value === lastValue && lease.id === lastLease) return;
    inFlight = options.coord
      .put(distancesKey(options.name), value, { lease })
      .then(() => {
        lastValue = value;
        lastLease = lease.id;
      })
      .catch((err: unknown) => logger.debug({ err: FlotillaError.from(err).message }, 'cannot publish distances yet'))
      .finally(() => {
        inFlight = undefined;
      });
  }

  return {
    start() {
      timer = setInterval(publish, options.intervalMs ?? 3000);
      timer.unref();
      publish();
    },
    async stop() {
      if (timer !== undefined) clearInterval(timer);
      timer = undefined;
      await inFlight;
    },
  };
}
