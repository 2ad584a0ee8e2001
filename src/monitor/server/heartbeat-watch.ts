/**
 * Heartbeats (MON-6): every agent keeps `/monitor/heartbeat/<host>` under a TTL lease. The server follows
 * the prefix and logs exactly `[+] node <name> alive` when the key appears and `[-] node <name> dead`
 * when it goes (the lease expired or was revoked). Keys already present at start count as appearing.
 */
import type { Logger } from '../../core/log.js';
import { createPrefixWatch, type Coord, type KeyValue, type PrefixWatch } from '../../coord/index.js';
import { HEARTBEAT_PREFIX } from '../monitor-config.js';
import type { GlobalView } from './global-view.js';
import { checkHostname } from './sample-validate.js';

export interface HeartbeatWatchOptions {
  coord: Coord;
  view: GlobalView;
  logger: Logger;
  /** Called when a host becomes alive (e.g. to write its default config). */
  onAlive?: (hostname: string) => void;
}

/** The host name of a heartbeat key, or undefined for a key that is not one. */
export function heartbeatHost(key: string): string | undefined {
  const name = key.slice(HEARTBEAT_PREFIX.length);
  return key.startsWith(HEARTBEAT_PREFIX) && checkHostname(name) === undefined ? name : undefined;
}

export function createHeartbeatWatch(options: HeartbeatWatchOptions): PrefixWatch {
  const { view, logger } = options;
  const alive = (name: string): void => {
    if (view.setAlive(name, true)) {
      logger.info(`[+] node ${name} alive`);
      options.onAlive?.(name);
    }
  };
  const dead = (name: string): void => {
    if (view.setAlive(name, false)) logger.info(`[-] node ${name} dead`);
  };
  return createPrefixWatch({
    coord: options.coord,
    prefix: HEARTBEAT_PREFIX,
    logger,
    onReset(kvs: KeyValue[]) {
      const now = new Set(kvs.map((kv) => heartbeatHost(kv.key)).filter((n) => n !== undefined));
      for (const snap of view.snapshots()) if (snap.alive && !now.has(snap.hostname)) dead(snap.hostname);
      for (const name of now) alive(name);
    },
    onEvent(ev) {
      const name = heartbeatHost(ev.kv.key);
      if (name === undefined) {
        logger.debug({ key: ev.kv.key }, 'ignoring a key under the heartbeat prefix that names no valid host');
        return;
      }
      if (ev.type === 'put') alive(name);
      else dead(name);
    },
  });
}
