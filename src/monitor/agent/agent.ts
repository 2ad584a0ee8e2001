/**
 * The monitoring agent as one component (start/stop): collectors run every `interval` seconds and their
 * samples become a batch in the send buffer; the stream client delivers batches and applies commands;
 * the config watch keeps the settings in line with `/monitor/config/<hostname>`; the heartbeat keeps
 * `/monitor/heartbeat/<hostname>` under a lease. Neither the coordination store nor the monitor server
 * has to be up for the agent to start: it collects and buffers meanwhile, and catches up when they are.
 */
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { FlotillaError } from '../../core/errors.js';
import type { Component } from '../../core/lifecycle.js';
import { silentLogger, type Logger } from '../../core/log.js';
import { version as flotillaVersion } from '../../core/version.js';
import type { Coord } from '../../coord/index.js';
import { createCoord } from '../../coord/index.js';
import { defaultMonitorConfig } from '../monitor-config.js';
import type { Collector } from './collectors/index.js';
import { createDefaultCollectors } from './collectors/index.js';
import { applyCommand } from './commands.js';
import { ConfigWatch } from './config-watch.js';
import { DEFAULT_HEARTBEAT_TTL_SECONDS, Heartbeat } from './heartbeat.js';
import { MetricCatalog } from './metric-catalog.js';
import { AgentTasks } from './remote-tasks.js';
import type { BufferedSample } from './sample-buffer.js';
import { SampleBuffer } from './sample-buffer.js';
import { SettingsHolder } from './settings.js';
import { SpillStore } from './spill-store.js';
import { StreamClient } from './stream-client.js';

export interface AgentOptions {
  /** The name this agent reports as (keys /monitor/config/<hostname>, /monitor/heartbeat/<hostname>). */
  hostname: string;
  /** host:port of the monitor server's gRPC endpoint. */
  server: string;
  /** Coordination endpoints host:port; used when `coord` is not given. Default: ['127.0.0.1:2379']. */
  etcd?: string[];
  /** A Coord client to share (a node process passes its own); the agent then does not close it. */
  coord?: Coord;
  /** Heartbeat lease TTL in seconds. Default: 5. */
  heartbeatTtlSeconds?: number;
  /** Most samples buffered in memory while the server is unreachable. Default: 100 000. */
  bufferSamples?: number;
  /** When set, samples past the memory bound are spilled under `<dataDir>/agent-spill/`. Default: none. */
  dataDir?: string;
  /** Bound of the spill files in bytes (with dataDir). Default: 64 MiB. */
  spillBytes?: number;
  /** Default: every collector (cpu, memory, disk, network, filesystem). */
  collectors?: Collector[];
  /** Labels sent in the hello (workflow tasks select agents by them). Default: none. */
  labels?: Record<string, string>;
  logger?: Logger;
}

export const DEFAULT_BUFFER_SAMPLES = 100_000;
export const DEFAULT_SPILL_BYTES = 64 * 1024 * 1024;

export interface Agent extends Component {
  readonly hostname: string;
  /** The effective config, as the JSON of /monitor/config/<hostname>. */
  config(): { interval: number; metrics: string[] };
  /** Samples dropped since start (buffer full). */
  readonly droppedTotal: number;
  readonly connected: boolean;
}

class AgentImpl implements Agent {
  readonly name = 'monitor-agent';
  private readonly logger: Logger;
  private readonly collectors: Collector[];
  private readonly catalog: MetricCatalog;
  private readonly settings: SettingsHolder;
  private readonly buffer: SampleBuffer;
  private readonly incarnation = randomUUID();
  private readonly startedAtMs = Date.now();
  private coord: Coord | undefined;
  private ownsCoord = false;
  private configWatch: ConfigWatch | undefined;
  private heartbeat: Heartbeat | undefined;
  private stream: StreamClient | undefined;
  private tasks: AgentTasks | undefined;
  private loop: Promise<void> | undefined;
  private stopped = false;
  private wakeLoop: (() => void) | undefined;
  private readonly failing = new Set<string>();

  constructor(private readonly options: AgentOptions) {
    this.logger = (options.logger ?? silentLogger()).child({ hostname: options.hostname });
    this.collectors = options.collectors ?? createDefaultCollectors();
    this.catalog = new MetricCatalog(this.collectors);
    const d = defaultMonitorConfig();
    this.settings = new SettingsHolder({ intervalSeconds: d.interval, metrics: this.catalog.normalise(this.catalog.enabledMetrics(d.metrics)) });
    const spill =
      options.dataDir === undefined ? undefined : new SpillStore({ dir: join(options.dataDir, 'agent-spill'), maxBytes: options.spillBytes ?? DEFAULT_SPILL_BYTES });
    this.buffer = new SampleBuffer({ maxSamples: options.bufferSamples ?? DEFAULT_BUFFER_SAMPLES, ...(spill ? { spill } : {}) });
    this.settings.on('settings:changed', () => this.wakeLoop?.());
  }

  get hostname(): string {
    return this.options.hostname;
  }

  get droppedTotal(): number {
    return this.buffer.droppedTotal;
  }

  get connected(): boolean {
    return this.stream?.connected ?? false;
  }

  config(): { interval: number; metrics: string[] } {
    return this.settings.asConfig();
  }

  async start(): Promise<void> {
    const o = this.options;
    await this.buffer.init();
    if (o.coord !== undefined) {
      this.coord = o.coord;
    } else {
      this.coord = await createCoord({ endpoints: o.etcd ?? ['127.0.0.1:2379'], dialTimeoutMs: 0, requestTimeoutMs: 5000, logger: this.logger });
      this.ownsCoord = true;
    }
    this.configWatch = new ConfigWatch({ coord: this.coord, hostname: o.hostname, settings: this.settings, catalog: this.catalog, logger: this.logger });
    await this.configWatch.start();
    this.heartbeat = new Heartbeat({
      coord: this.coord,
      hostname: o.hostname,
      ttlSeconds: o.heartbeatTtlSeconds ?? DEFAULT_HEARTBEAT_TTL_SECONDS,
      logger: this.logger,
      value: () =>
        JSON.stringify({ hostname: o.hostname, incarnation: this.incarnation, version: flotillaVersion, pid: process.pid, startedAtMs: this.startedAtMs, server: o.server, labels: o.labels ?? {} }),
    });
    await this.heartbeat.start();
    this.tasks = new AgentTasks({ hostname: o.hostname, logger: this.logger });
    this.stream = new StreamClient({
      tasks: this.tasks,
      server: o.server,
      hostname: o.hostname,
      buffer: this.buffer,
      logger: this.logger,
      hello: () => ({
        hostname: o.hostname,
        version: flotillaVersion,
        incarnation: this.incarnation,
        configJson: JSON.stringify(this.settings.asConfig()),
        availableMetrics: this.catalog.available(),
        labels: o.labels ?? {},
      }),
      onCommand: (cmd) => applyCommand(cmd, { settings: this.settings, catalog: this.catalog, hostname: o.hostname }),
    });
    this.stream.start();
    this.loop = this.collectLoop();
    this.logger.info({ server: o.server, config: this.settings.asConfig() }, 'agent started');
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.wakeLoop?.();
    await this.loop;
    await this.tasks?.stop();
    await this.stream?.stop();
    await this.heartbeat?.stop();
    await this.configWatch?.stop();
    if (this.ownsCoord) await this.coord?.close().catch(() => undefined);
    this.logger.info({ pendingSamples: this.buffer.pendingSamples, droppedTotal: this.buffer.droppedTotal }, 'agent stopped');
  }

  private async sleepUntil(deadline: () => number): Promise<void> {
    while (!this.stopped) {
      const remaining = deadline() - performance.now();
      if (remaining <= 0) return;
      await new Promise<void>((resolve) => {
        const done = (): void => {
          clearTimeout(timer);
          if (this.wakeLoop === done) this.wakeLoop = undefined;
          resolve();
        };
        const timer = setTimeout(done, remaining);
        this.wakeLoop = done;
      });
    }
  }

  private async collectLoop(): Promise<void> {
    while (!this.stopped) {
      const startedMs = performance.now();
      try {
        await this.collectOnce();
      } catch (err) {
        this.logger.error({ err: FlotillaError.from(err).message }, 'collection round failed');
      }
      // Re-read the interval while waiting: a change takes effect at once.
      await this.sleepUntil(() => startedMs + this.settings.get().intervalSeconds * 1000);
    }
  }

  private async collectOnce(): Promise<void> {
    const enabled = this.catalog.enabledMetrics(this.settings.get().metrics);
    const active = this.collectors.filter((c) => c.metrics.some((m) => enabled.has(m)));
    if (active.length === 0) return;
    const now = { wallMs: Date.now(), monoMs: performance.now() };
    const results = await Promise.allSettled(active.map((c) => c.collect(now)));
    const samples: BufferedSample[] = [];
    results.forEach((r, i) => {
      const c = active[i]!;
      if (r.status === 'rejected') {
        if (!this.failing.has(c.name)) {
          this.failing.add(c.name);
          this.logger.warn({ collector: c.name, err: FlotillaError.from(r.reason).message }, 'collector failed');
        }
        return;
      }
      if (this.failing.delete(c.name)) this.logger.info({ collector: c.name }, 'collector works again');
      for (const s of r.value) {
        if (enabled.has(s.metric) && Number.isFinite(s.value)) samples.push({ timeMs: now.wallMs, metric: s.metric, value: s.value, labels: s.labels });
      }
    });
    if (samples.length === 0 || this.stopped) return;
    const seq = await this.buffer.append(samples, !(this.stream?.connected ?? false));
    this.logger.debug({ seq, samples: samples.length }, 'batch collected');
  }
}

/** Creates the agent; nothing runs before start(). */
export function createAgent(options: AgentOptions): Agent {
  if (options.hostname === '' || options.hostname.includes('/')) {
    throw new FlotillaError('INVALID_ARGUMENT', `invalid agent hostname ${JSON.stringify(options.hostname)}: it must be non-empty and contain no '/'`);
  }
  return new AgentImpl(options);
}
