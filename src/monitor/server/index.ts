/**
 * The monitoring server: agent streams (MonitorService), the global view, heartbeat and config
 * following through the coordination store, the default config of new hosts, and the HTTP routes of the
 * view. A composition root builds it with `createMonitorServer`, adds it to its lifecycle, and registers
 * its gRPC routes on its gRPC listener and its HTTP routes on its Fastify app (both before they start).
 */
import type { ConnectRouter } from '@connectrpc/connect';
import type { FastifyInstance } from 'fastify';
import type { Component } from '../../core/lifecycle.js';
import type { Logger } from '../../core/log.js';
import { version } from '../../core/version.js';
import type { Coord, PrefixWatch } from '../../coord/index.js';
import { createAgentStreamHandler, type AgentStreamHandler } from './agent-stream.js';
import { createConfigWatch, createDefaultConfigWriter } from './default-config.js';
import { GlobalView, type TakenScrape } from './global-view.js';
import { createHeartbeatWatch } from './heartbeat-watch.js';
import { registerAgentRoutes, type AgentRoutes } from './http-routes.js';
import { createMonitorServiceImpl, registerMonitorService, SessionRegistry, type SampleStore } from './monitor-service.js';
import { createSampleLog } from './sample-log.js';
import { TaskChannel, type RemoteTaskChannel } from './task-channel.js';

export interface MonitorServerOptions {
  /** The coordination client; a function when it only exists once an earlier component has started. */
  coord: Coord | (() => Coord);
  logger: Logger;
  /** Log every received sample `(time, hostname, metric, value)` at info level (else debug). Default false. */
  logSamples?: boolean;
  /** Most series remembered per host (new ones beyond are refused and counted). Default 10 000. */
  maxSeriesPerHost?: number;
  /** Most hosts remembered. Default 10 000. */
  maxHosts?: number;
  /** Ack wait for a command when the caller gives none. Default 10 000 ms. */
  defaultCommandTimeoutMs?: number;
  /** Longest wait for AgentHello on a new stream. Default 10 000 ms. */
  helloTimeoutMs?: number;
  /** Coalescing period of the HTTP event stream. Default 500 ms. */
  eventFlushMs?: number;
  /** Receives the samples of every batch taken, by scrape (remote write); called synchronously, must not block. */
  onSamples?: (hostname: string, scrapes: readonly TakenScrape[]) => void;
  /** How long an agent may stay disconnected before its running workflow tasks are lost. Default 10 000 ms. */
  taskLostAfterMs?: number;
  /** Stores every accepted sample before its batch is acked (the time-series store). Default: none. */
  store?: SampleStore;
}

export interface MonitorServer extends Component {
  readonly view: GlobalView;
  /** Registers MonitorService on a ConnectRPC router (the gRPC listener's). */
  registerGrpc(router: ConnectRouter): void;
  /**
   * The agents' CommandStream without ConnectRPC (agent-stream.ts): give it to the gRPC listener as its
   * fast path (before ConnectRPC, which keeps serving the rest, this stream included when it is not taken).
   */
  readonly streamHandler: AgentStreamHandler;
  /** Registers /api/v1/agents, /api/v1/agents/:host, /api/v1/agents/:host/config and /api/v1/agents/events. */
  registerHttp(app: FastifyInstance): void;
  /** Resolves once heartbeats and configs have been read from the store once. */
  synced(): Promise<void>;
  /** Number of open agent streams. */
  readonly connectedAgents: number;
  /** Runs workflow task attempts on agents over their streams (the flows scheduler's `runs_on`). */
  readonly tasks: RemoteTaskChannel;
}

export function createMonitorServer(options: MonitorServerOptions): MonitorServer {
  const logger = options.logger;
  const coord = (): Coord => (typeof options.coord === 'function' ? options.coord() : options.coord);
  const view = new GlobalView({ maxSeriesPerHost: options.maxSeriesPerHost, maxHosts: options.maxHosts });
  const sessions = new SessionRegistry();
  const tasks = new TaskChannel({ logger, session: (host) => sessions.get(host), sessions: () => sessions.all(), ...(options.taskLostAfterMs !== undefined ? { lostAfterMs: options.taskLostAfterMs } : {}) });
  let writer: ReturnType<typeof createDefaultConfigWriter> | undefined;
  let watches: PrefixWatch[] = [];
  const routes: AgentRoutes[] = [];
  let markSynced!: () => void;
  const syncedPromise = new Promise<void>((resolve) => (markSynced = resolve));

  const impl = createMonitorServiceImpl(
    {
      view,
      logger,
      sampleLog: createSampleLog({ logger, logSamples: options.logSamples }),
      ...(options.store !== undefined ? { store: options.store } : {}),
      serverVersion: version,
      onHello: (host) => writer?.ensure(host),
      onSamples: options.onSamples,
      // Room for every series the host may have, and as many again for series the agent replaced.
      maxSeriesRefs: 2 * (options.maxSeriesPerHost ?? 10_000),
      tasks,
      helloTimeoutMs: options.helloTimeoutMs,
      defaultCommandTimeoutMs: options.defaultCommandTimeoutMs,
    },
    sessions,
  );

  const streamHandler = createAgentStreamHandler({ serve: impl.serveCommandStream, logger });

  return {
    name: 'monitor-server',
    view,
    tasks,
    streamHandler,
    get connectedAgents() {
      return sessions.size;
    },
    registerGrpc(router) {
      registerMonitorService(router, impl);
    },
    registerHttp(app) {
      routes.push(registerAgentRoutes(app, { view, flushMs: options.eventFlushMs, coord }));
    },
    synced: () => syncedPromise,
    async start() {
      const c = coord();
      const w = createDefaultConfigWriter({ coord: c, logger });
      writer = w;
      const heartbeats = createHeartbeatWatch({ coord: c, view, logger, onAlive: (host) => w.ensure(host) });
      const configs = createConfigWatch({ coord: c, view, logger });
      watches = [configs, heartbeats];
      for (const watch of watches) watch.start();
      void Promise.all(watches.map((x) => x.synced)).then(markSynced);
      // Hosts that connected before the first read of the store get their default config too.
      for (const host of view.hostnames()) w.ensure(host);
    },
    async stop() {
      tasks.close();
      sessions.closeAll();
      for (const r of routes) r.closeStreams();
      await Promise.all(watches.map((w) => w.stop()));
      await writer?.idle();
    },
  };
}

export { GlobalView } from './global-view.js';
export type { SampleStore } from './monitor-service.js';
export type { AgentSnapshot, GlobalViewEventMap, GlobalViewOptions, IngestResult, TakenScrape, ViewSeries } from './global-view.js';
export { COMMAND_ACTIONS, validateCommand, type CommandAction } from './command-validate.js';
export { toAgentJson, type AgentJson } from './http-routes.js';
export { writeDefaultConfig } from './default-config.js';
export { formatSample } from './sample-log.js';
export type { RemoteTaskChannel, RemoteTaskOutcome, RemoteTaskRequest } from './task-channel.js';
export { createMonitorClient, type MonitorClient, type MonitorClientOptions, type AgentRow, type CommandAckResult } from './monitor-client.js';
