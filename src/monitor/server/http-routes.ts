/**
 * The global view over HTTP (MON-7):
 *   GET /api/v1/agents                 every host (add ?metrics=true for the last sample of every series)
 *   GET /api/v1/agents/:host           one host, with its series (404 problem+json when unknown)
 *   GET /api/v1/agents/events          server-sent events: `snapshot` (every host) at once, then `agent`
 *                                      (one host) whenever it changes, coalesced per `flushMs`
 *   GET /api/v1/agents/:host/config    the config stored at /monitor/config/<host> (404 when none)
 *   PUT /api/v1/agents/:host/config    writes it, checked with the agent's schema (400 when invalid)
 * A slow event reader never makes the server buffer without bound: while its socket is full, changes
 * only mark hosts dirty, and the latest state of each is sent once it drains.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { Code, FlotillaError } from '../../core/errors.js';
import { openEventStream } from '../../core/event-stream.js';
import type { Coord } from '../../coord/index.js';
import { configKey, parseMonitorConfig } from '../monitor-config.js';
import type { AgentSnapshot, GlobalView } from './global-view.js';
import { checkHostname } from './sample-validate.js';

export interface AgentJson {
  hostname: string;
  alive: boolean;
  connected: boolean;
  lastSeenMs: number;
  lastSeen: string | null;
  config: unknown;
  configJson: string;
  configSource: string;
  storedConfigJson: string;
  version: string;
  incarnation: string;
  samplesReceived: number;
  samplesDropped: number;
  samplesRejected: number;
  rejectedByReason: Record<string, number>;
  seriesRefused: number;
  series: number;
  batchesReceived: number;
  batchesDuplicate: number;
  lastSeq: string;
  /** Stream protocol of the host's last batch: 1 (a Metric per sample), 2 (series references); 0 before any. */
  protocol: number;
  lastMetrics?: { time: string; timeMs: number; metric: string; labels: Record<string, string>; value: number }[];
}

export function toAgentJson(s: AgentSnapshot): AgentJson {
  const out: AgentJson = {
    hostname: s.hostname,
    alive: s.alive,
    connected: s.connected,
    lastSeenMs: s.lastSeenMs,
    lastSeen: s.lastSeenMs > 0 ? new Date(s.lastSeenMs).toISOString() : null,
    config: s.config ?? null,
    configJson: s.configJson,
    configSource: s.configSource,
    storedConfigJson: s.storedConfigJson,
    version: s.version,
    incarnation: s.incarnation,
    samplesReceived: s.samplesReceived,
    samplesDropped: s.samplesDropped,
    samplesRejected: s.samplesRejected,
    rejectedByReason: s.rejectedByReason,
    seriesRefused: s.seriesRefused,
    series: s.series,
    batchesReceived: s.batchesReceived,
    batchesDuplicate: s.batchesDuplicate,
    lastSeq: s.lastSeq.toString(),
    protocol: s.protocol,
  };
  if (s.lastMetrics !== undefined) {
    // The samples of one scrape share their time: format each time once (this runs for every busy host
    // every 500 ms while the dashboard feed is on).
    let lastMs = Number.NaN;
    let lastIso = '';
    out.lastMetrics = s.lastMetrics.map((m) => {
      if (m.timeMs !== lastMs) {
        lastMs = m.timeMs;
        lastIso = new Date(m.timeMs).toISOString();
      }
      return { time: lastIso, timeMs: m.timeMs, metric: m.metric, labels: m.labels, value: m.value };
    });
  }
  return out;
}

function wantsMetrics(request: FastifyRequest): boolean {
  const q = request.query as Record<string, unknown> | undefined;
  const v = q?.metrics;
  return v === 'true' || v === '1' || v === '';
}

export interface AgentRoutesOptions {
  view: GlobalView;
  /** Coalescing period of the event stream. Default 500 ms. */
  flushMs?: number;
  /** A comment line every this often keeps proxies from closing an idle event stream. Default 15 000 ms. */
  keepAliveMs?: number;
  /** The coordination store, for the config routes (absent: they are not registered). */
  coord?: () => Coord;
}

export interface AgentRoutes {
  /** Ends every open event stream (before the HTTP server closes: it waits for open responses). */
  closeStreams(): void;
}

interface EventClient {
  reply: FastifyReply;
  metrics: boolean;
  dirty: Set<string>;
  blocked: boolean;
}

export function registerAgentRoutes(app: FastifyInstance, options: AgentRoutesOptions): AgentRoutes {
  const { view } = options;
  const clients = new Set<EventClient>();
  const flushMs = options.flushMs ?? 500;
  let flushTimer: NodeJS.Timeout | undefined;
  let keepAlive: NodeJS.Timeout | undefined;

  const write = (c: EventClient, text: string): void => {
    if (!c.reply.raw.write(text)) c.blocked = true;
  };
  const flush = (): void => {
    flushTimer = undefined;
    for (const c of clients) {
      if (c.blocked) continue;
      for (const host of c.dirty) {
        c.dirty.delete(host);
        const snap = view.snapshot(host, { metrics: c.metrics });
        if (snap !== undefined) write(c, `event: agent\ndata: ${JSON.stringify(toAgentJson(snap))}\n\n`);
        if (c.blocked) break;
      }
    }
  };
  const onChanged = (host: string): void => {
    if (clients.size === 0) return;
    for (const c of clients) c.dirty.add(host);
    flushTimer ??= setTimeout(flush, flushMs);
  };
  view.on('agent:changed', onChanged);

  const drop = (c: EventClient): void => {
    clients.delete(c);
    if (clients.size === 0 && keepAlive !== undefined) {
      clearInterval(keepAlive);
      keepAlive = undefined;
    }
  };

  app.get('/api/v1/agents', async (request) => ({ agents: view.snapshots({ metrics: wantsMetrics(request) }).map(toAgentJson) }));

  app.get('/api/v1/agents/events', (request, reply) => {
    const raw = openEventStream(request, reply);
    if (raw === undefined) return;
    const c: EventClient = { reply, metrics: wantsMetrics(request), dirty: new Set(), blocked: false };
    clients.add(c);
    raw.on('drain', () => {
      c.blocked = false;
      flushTimer ??= setTimeout(flush, 0);
    });
    raw.on('close', () => drop(c));
    raw.on('error', () => drop(c));
    write(c, `retry: 2000\nevent: snapshot\ndata: ${JSON.stringify({ agents: view.snapshots({ metrics: c.metrics }).map(toAgentJson) })}\n\n`);
    keepAlive ??= setInterval(() => {
      for (const cl of clients) if (!cl.blocked) write(cl, ': keep-alive\n\n');
    }, options.keepAliveMs ?? 15_000);
    keepAlive.unref();
  });

  app.get<{ Params: { host: string } }>('/api/v1/agents/:host', async (request) => {
    const snap = view.snapshot(request.params.host, { metrics: true });
    if (snap === undefined) throw new FlotillaError(Code.NOT_FOUND, `unknown host ${JSON.stringify(request.params.host.slice(0, 100))}`);
    return toAgentJson(snap);
  });

  const coord = options.coord;
  if (coord !== undefined) {
    const hostParam = (host: string): string => {
      const bad = checkHostname(host);
      if (bad !== undefined) throw new FlotillaError(Code.INVALID_ARGUMENT, bad);
      return host;
    };
    const configReply = (host: string, json: string, modRevision: number): Record<string, unknown> => {
      const parsed = parseMonitorConfig(json);
      return { host, key: configKey(host), json, config: parsed.error === undefined ? parsed.value : null, error: parsed.error ?? null, modRevision };
    };
    app.get<{ Params: { host: string } }>('/api/v1/agents/:host/config', async (request) => {
      const host = hostParam(request.params.host);
      const kv = await coord().get(configKey(host));
      if (kv === undefined) throw new FlotillaError(Code.NOT_FOUND, `no config stored for ${host} at ${configKey(host)}`);
      return configReply(host, kv.value.toString('utf8'), kv.modRevision);
    });
    app.put<{ Params: { host: string } }>('/api/v1/agents/:host/config', async (request) => {
      const host = hostParam(request.params.host);
      // The agent's own check (parseMonitorConfig), so the store never holds a config the agent refuses.
      let json: string;
      try {
        json = JSON.stringify(request.body ?? null);
      } catch {
        // Only a body nested deeper than the stack allows fails here.
        throw new FlotillaError(Code.INVALID_ARGUMENT, 'the config is not a monitor config: it is nested too deeply');
      }
      const parsed = parseMonitorConfig(json);
      if (parsed.error !== undefined) throw new FlotillaError(Code.INVALID_ARGUMENT, parsed.error);
      const r = await coord().put(configKey(host), Buffer.from(json));
      return configReply(host, json, r.revision);
    });
  }

  app.addHook('preClose', async () => closeAll());

  function closeAll(): void {
    view.off('agent:changed', onChanged);
    if (flushTimer !== undefined) clearTimeout(flushTimer);
    flushTimer = undefined;
    for (const c of [...clients]) {
      c.reply.raw.end();
      drop(c);
    }
  }

  return { closeStreams: closeAll };
}
