/**
 * The monitoring server's exports: `GET /metrics` in the Prometheus text format (the latest sample of
 * every series of every host, labelled `host`, plus the server's own metrics), and remote write of every
 * accepted sample to the configured destinations, routed by their selectors.
 *
 * Label mapping, the same for both: the metric name is `__name__`, the host is `host`; an agent label
 * that collides (`host`, or a reserved `__` name) is kept as `exported_<name>`, as Prometheus does on a
 * scrape conflict. Agent samples are gauges; `/metrics` carries their collection time as the timestamp
 * and leaves out series not updated for `staleAfterMs` (a host gone away stops being reported).
 */
import type { FastifyInstance } from 'fastify';
import type { Component } from '../../core/lifecycle.js';
import type { Logger } from '../../core/log.js';
import type { GlobalView, TakenScrape, ViewSeries } from '../server/global-view.js';
import type { Sample } from '../server/sample-validate.js';
import { CONTENT_TYPE, formatExposition, type ExpositionSample, type MetricFamily } from './exposition.js';
import { MetricRegistry, registerProcessMetrics } from './own-metrics.js';
import { RemoteWriteDestination, type DestinationConfig, type DestinationStats } from './remote-write.js';

export interface MetricsExporterOptions {
  view: GlobalView;
  logger: Logger;
  /** Remote-write destinations (none by default). */
  destinations?: readonly DestinationConfig[];
  /** Series older than this are left out of /metrics. Default 300 000 ms (Prometheus's lookback). */
  staleAfterMs?: number;
  /** Longest final flush of the remote-write queues on stop. Default 5 000 ms. */
  stopFlushMs?: number;
}

export interface MetricsExporter extends Component {
  /** Hands accepted samples of `host` to the remote-write queues; returns at once (never waits). */
  offer(host: string, samples: readonly Sample[]): void;
  /**
   * The same for the scrapes of one batch, as the monitor server takes them: each series' exported labels
   * and the destinations that accept it are worked out once per series, not per sample.
   */
  offerScrapes(host: string, scrapes: readonly TakenScrape[]): void;
  /** The /metrics body. */
  render(): string;
  /** Registers GET /metrics. */
  registerHttp(app: FastifyInstance): void;
  /** The server's own metrics; other components may add theirs. */
  readonly registry: MetricRegistry;
  destinations(): DestinationStats[];
}

/** The exported labels of an agent sample: `__name__`, `host`, and its own labels (collisions renamed). */
export function exportLabels(host: string, metric: string, labels: Readonly<Record<string, string>>, withName: boolean): Record<string, string> {
  const out: Record<string, string> = withName ? { __name__: metric, host } : { host };
  for (const [k, v] of Object.entries(labels)) {
    if (k === 'host' || k.startsWith('__')) out[`exported_${k}`] = v;
    else out[k] = v;
  }
  return out;
}

export function createMetricsExporter(options: MetricsExporterOptions): MetricsExporter {
  const { view, logger } = options;
  const staleAfterMs = options.staleAfterMs ?? 300_000;
  const registry = new MetricRegistry();
  const destinations = (options.destinations ?? []).map((d) => new RemoteWriteDestination(d, logger.child({ component: 'remote-write' })));
  let familiesSkipped = 0;
  // Per series of the view (one object per host and series for the host's lifetime): its exported labels
  // and the destinations whose selectors accept them.
  const routes = new WeakMap<ViewSeries, { labels: Record<string, string>; to: RemoteWriteDestination[] }>();

  registerProcessMetrics(registry);
  const perHost = (pick: (s: ReturnType<GlobalView['snapshots']>[number]) => number): ExpositionSample[] =>
    view.snapshots().map((s) => ({ labels: { host: s.hostname }, value: pick(s) }));
  registry.computed('flotilla_monitor_hosts', 'Hosts in the global view, by state.', 'gauge', () => {
    const snaps = view.snapshots();
    return [
      { labels: { state: 'known' }, value: snaps.length },
      { labels: { state: 'alive' }, value: snaps.filter((s) => s.alive).length },
      { labels: { state: 'connected' }, value: snaps.filter((s) => s.connected).length },
    ];
  });
  registry.computed('flotilla_monitor_samples_received_total', 'Samples taken from agents.', 'counter', () => perHost((s) => s.samplesReceived));
  registry.computed('flotilla_monitor_samples_rejected_total', 'Samples refused as invalid.', 'counter', () => perHost((s) => s.samplesRejected));
  registry.computed('flotilla_monitor_samples_dropped_by_agent_total', 'Samples the agent reported dropped while disconnected.', 'counter', () => perHost((s) => s.samplesDropped));
  registry.computed('flotilla_monitor_series_refused_total', 'Samples of new series refused by the per-host series limit.', 'counter', () => perHost((s) => s.seriesRefused));
  registry.computed('flotilla_monitor_series', 'Series held in the global view.', 'gauge', () => perHost((s) => s.series));
  const perDest = (pick: (d: DestinationStats) => number): ExpositionSample[] => destinations.map((d) => ({ labels: { url: d.url }, value: pick(d.snapshot()) }));
  registry.computed('flotilla_remote_write_samples_sent_total', 'Samples delivered to a remote-write destination.', 'counter', () => perDest((d) => d.sent));
  registry.computed('flotilla_remote_write_samples_dropped_total', 'Samples dropped for a remote-write destination, by reason.', 'counter', () =>
    destinations.flatMap((d) => {
      const s = d.snapshot();
      return Object.entries(s.dropped).map(([reason, value]) => ({ labels: { url: s.url, reason }, value }));
    }),
  );
  registry.computed('flotilla_remote_write_queue_samples', 'Samples waiting for a remote-write destination.', 'gauge', () => perDest((d) => d.queued));
  registry.computed('flotilla_remote_write_requests_failed_total', 'Remote-write requests that failed (each retry counts).', 'counter', () => perDest((d) => d.failedRequests));
  registry.computed('flotilla_exposition_families_skipped_total', 'Agent metric families left out of /metrics (invalid or clashing with the server’s own).', 'counter', () => [
    { labels: {}, value: familiesSkipped },
  ]);

  function agentFamilies(): MetricFamily[] {
    const cutoff = view.now() - staleAfterMs;
    const byName = new Map<string, ExpositionSample[]>();
    for (const snap of view.snapshots({ metrics: true })) {
      for (const s of snap.lastMetrics ?? []) {
        if (s.timeMs < cutoff) continue;
        const list = byName.get(s.metric) ?? [];
        if (list.length === 0) byName.set(s.metric, list);
        list.push({ labels: exportLabels(snap.hostname, s.metric, s.labels, false), value: s.value, timestampMs: s.timeMs });
      }
    }
    const out: MetricFamily[] = [];
    for (const name of [...byName.keys()].sort()) {
      if (registry.has(name)) {
        familiesSkipped += 1;
        continue;
      }
      out.push({ name, type: 'gauge', samples: byName.get(name)! });
    }
    return out;
  }

  return {
    name: 'metrics-exporter',
    registry,
    offer(host, samples) {
      if (destinations.length === 0) return;
      for (const s of samples) {
        const labels = exportLabels(host, s.metric, s.labels, true);
        const out = { labels, timeMs: s.timeMs, value: s.value };
        for (const d of destinations) if (d.accepts(labels)) d.offer(out);
      }
    },
    offerScrapes(host, scrapes) {
      if (destinations.length === 0) return;
      for (const sc of scrapes) {
        const { series, values, timeMs } = sc;
        for (let i = 0; i < series.length; i++) {
          const s = series[i]!;
          let route = routes.get(s);
          if (route === undefined) {
            const labels = exportLabels(host, s.metric, s.labels, true);
            route = { labels, to: destinations.filter((d) => d.accepts(labels)) };
            routes.set(s, route);
          }
          for (const d of route.to) d.offer({ labels: route.labels, timeMs, value: values[i]! });
        }
      }
    },
    render() {
      const agents = agentFamilies();
      const { text, skipped } = formatExposition([...registry.collect(), ...agents]);
      familiesSkipped += skipped;
      return text;
    },
    registerHttp(app) {
      app.get('/metrics', async (_req, reply) => reply.header('content-type', CONTENT_TYPE).send(this.render()));
    },
    destinations: () => destinations.map((d) => d.snapshot()),
    async start() {
      for (const d of destinations) {
        d.start();
        logger.info({ url: d.url, selectors: d.config.match.length }, `remote write to ${d.url}`);
      }
    },
    async stop() {
      await Promise.all(destinations.map((d) => d.stop(options.stopFlushMs)));
      for (const d of destinations) {
        const s = d.snapshot();
        const dropped = s.dropped.queue_full + s.dropped.rejected + s.dropped.shutdown;
        if (dropped > 0) logger.warn({ url: s.url, sent: s.sent, dropped: s.dropped }, `remote write to ${s.url}: ${dropped} samples dropped`);
      }
    },
  };
}
