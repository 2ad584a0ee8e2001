/**
 * Config (MON-5): the server writes the default config to `/monitor/config/<host>` for a host it has not
 * seen, with a create-only transaction (it never overwrites a config someone wrote), and follows the
 * prefix so the global view always shows the config in the store.
 */
import { FlotillaError } from '../../core/errors.js';
import type { Logger } from '../../core/log.js';
import { createPrefixWatch, type Coord, type PrefixWatch } from '../../coord/index.js';
import { CONFIG_PREFIX, configKey, defaultMonitorConfig } from '../monitor-config.js';
import type { GlobalView } from './global-view.js';
import { checkHostname } from './sample-validate.js';

/**
 * Writes the default config for `hostname` unless a config exists. Returns true when it wrote it, false
 * when one was already there.
 */
export async function writeDefaultConfig(coord: Coord, hostname: string): Promise<boolean> {
  const key = configKey(hostname);
  const r = await coord.txn({
    compare: [{ key, target: 'version', op: '=', value: 0 }],
    then: [{ type: 'put', key, value: JSON.stringify(defaultMonitorConfig()) }],
  });
  return r.succeeded;
}

export interface DefaultConfigWriter {
  /** Makes sure `hostname` has a config (once per host per server run; retried on the next call after a failure). */
  ensure(hostname: string): void;
  /** Waits for writes under way. */
  idle(): Promise<void>;
}

export function createDefaultConfigWriter(options: { coord: Coord; logger: Logger }): DefaultConfigWriter {
  const done = new Set<string>();
  const inFlight = new Set<Promise<void>>();
  return {
    ensure(hostname) {
      if (done.has(hostname)) return;
      done.add(hostname);
      const p = writeDefaultConfig(options.coord, hostname).then(
        (wrote) => {
          if (wrote) options.logger.info({ host: hostname, key: configKey(hostname) }, `wrote the default config for ${hostname}`);
        },
        (err: unknown) => {
          done.delete(hostname);
          options.logger.warn({ host: hostname, err: FlotillaError.from(err).message }, `cannot write the default config for ${hostname}; will retry when it reconnects`);
        },
      );
      inFlight.add(p);
      void p.finally(() => inFlight.delete(p));
    },
    async idle() {
      await Promise.all([...inFlight]);
    },
  };
}

/** Keeps the view's config of every host equal to the store's. */
export function createConfigWatch(options: { coord: Coord; view: GlobalView; logger: Logger }): PrefixWatch {
  const { view } = options;
  const host = (key: string): string | undefined => {
    const name = key.slice(CONFIG_PREFIX.length);
    return checkHostname(name) === undefined ? name : undefined;
  };
  return createPrefixWatch({
    coord: options.coord,
    prefix: CONFIG_PREFIX,
    logger: options.logger,
    onReset(kvs) {
      const present = new Set<string>();
      for (const kv of kvs) {
        const name = host(kv.key);
        if (name === undefined) continue;
        present.add(name);
        view.setConfig(name, kv.value.toString('utf8'));
      }
      for (const snap of view.snapshots()) if (snap.configJson !== '' && !present.has(snap.hostname)) view.setConfig(snap.hostname, undefined);
    },
    onEvent(ev) {
      const name = host(ev.kv.key);
      if (name === undefined) return;
      view.setConfig(name, ev.type === 'put' ? ev.kv.value.toString('utf8') : undefined);
      options.logger.debug({ host: name, type: ev.type }, 'config changed in the store');
    },
  });
}
