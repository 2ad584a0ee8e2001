/**
 * Reads `/monitor/config/<hostname>` at start and watches it. A good change replaces the agent's settings
 * at once and logs `config updated`; invalid JSON, an invalid value or an unknown metric name is rejected
 * with a logged error and the last good config stays; a deleted key keeps the current config. When the
 * store cannot be reached at start the agent runs on the defaults and keeps trying in the background.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { backoffDelayMs } from '../../core/backoff.js';
import { FlotillaError } from '../../core/errors.js';
import type { Logger } from '../../core/log.js';
import type { Coord, Watch, WatchEvent } from '../../coord/index.js';
import { configKey, parseMonitorConfig, type MonitorConfig } from '../monitor-config.js';
import type { MetricCatalog } from './metric-catalog.js';
import type { AgentSettings, SettingsHolder } from './settings.js';
import { sameSettings } from './settings.js';

export interface ConfigWatchOptions {
  coord: Coord;
  hostname: string;
  settings: SettingsHolder;
  catalog: MetricCatalog;
  logger: Logger;
  /** How long start() waits for the first read before going on with the defaults. Default: 5000. */
  firstReadTimeoutMs?: number;
}

/** Validates stored config text into settings; unknown metric names are an error. */
export function parseAgentConfig(text: string, catalog: MetricCatalog): { value: AgentSettings; error?: undefined } | { error: string } {
  const parsed = parseMonitorConfig(text);
  if (parsed.error !== undefined) return { error: parsed.error };
  const config: MonitorConfig = parsed.value;
  const unknown = catalog.unknown(config.metrics);
  if (unknown.length > 0) return { error: `invalid metrics: unknown ${unknown.map((u) => JSON.stringify(u)).join(', ')} (known: ${catalog.describeKnown()})` };
  return { value: { intervalSeconds: config.interval, metrics: catalog.normalise(catalog.enabledMetrics(config.metrics)) } };
}

export class ConfigWatch {
  private watch: Watch | undefined;
  private stopped = false;
  private readonly stopController = new AbortController();
  private background: Promise<void> | undefined;
  private readonly key: string;

  constructor(private readonly options: ConfigWatchOptions) {
    this.key = configKey(options.hostname);
  }

  async start(): Promise<void> {
    const first = this.connect();
    const timeoutMs = this.options.firstReadTimeoutMs ?? 5000;
    const ok = await Promise.race([first.then(() => true), sleep(timeoutMs, false, { ref: false })]).catch(() => false);
    if (!ok) {
      this.options.logger.warn({ key: this.key }, 'cannot read the config from the coordination store yet; running on the current settings and retrying');
    }
    this.background = first.catch(() => undefined);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.stopController.abort();
    await this.watch?.close().catch(() => undefined);
    await this.background;
  }

  /** Reads the key and opens the watch, retrying with backoff until it works or stop(). */
  private async connect(): Promise<void> {
    const { coord, logger } = this.options;
    for (let attempt = 0; !this.stopped; attempt++) {
      try {
        const revision = await coord.revision();
        const kv = await coord.get(this.key, { revision });
        if (kv !== undefined) this.apply(kv.value.toString('utf8'), 'read');
        else logger.info({ key: this.key, config: this.options.settings.asConfig() }, 'no stored config; using the defaults');
        if (this.stopped) return;
        const watch = coord.watch({ key: this.key, fromRevision: revision + 1 });
        this.watch = watch;
        watch.on('watch:event', (ev) => this.onEvent(ev));
        watch.on('watch:error', (err) => {
          logger.warn({ key: this.key, err: err.message }, 'config watch ended; reading the config again');
          if (this.watch === watch) this.watch = undefined;
          void watch.close().catch(() => undefined);
          if (!this.stopped) this.background = this.connect().catch(() => undefined);
        });
        await watch.ready;
        return;
      } catch (err) {
        if (this.stopped) return;
        const delay = backoffDelayMs(attempt, { baseMs: 250, maxMs: 5000, jitter: 'equal' });
        logger.debug({ key: this.key, err: FlotillaError.from(err).message, retryInMs: delay }, 'config read failed; retrying');
        await sleep(delay, undefined, { signal: this.stopController.signal }).catch(() => undefined);
      }
    }
  }

  private onEvent(ev: WatchEvent): void {
    if (ev.type === 'delete') {
      this.options.logger.warn({ key: this.key }, 'config deleted from the store; keeping the current config');
      return;
    }
    this.apply(ev.kv.value.toString('utf8'), 'change');
  }

  private apply(text: string, how: 'read' | 'change'): void {
    const { logger, settings, catalog } = this.options;
    const parsed = parseAgentConfig(text, catalog);
    if (parsed.error !== undefined) {
      logger.error({ key: this.key, err: parsed.error, kept: settings.asConfig() }, 'config rejected; keeping the last good config');
      return;
    }
    const changed = !sameSettings(parsed.value, settings.get());
    settings.set(parsed.value, 'store');
    const config = settings.asConfig();
    if (how === 'read') logger.info({ key: this.key, config }, 'config read');
    else logger.info({ key: this.key, config, changed }, 'config updated');
  }
}
