/**
 * The server's own metrics: a tiny registry of counters and gauges with labels, read at scrape time
 * (prom-client's model, without the dependency). A counter is incremented by its owner; a gauge or
 * counter family may instead be computed by a callback when scraped.
 */
import type { ExpositionSample, MetricFamily, MetricType } from './exposition.js';

export interface Counter {
  inc(labels?: Record<string, string>, by?: number): void;
}

type Collect = () => ExpositionSample[];

interface Entry {
  name: string;
  help: string;
  type: MetricType;
  collect: Collect;
}

function key(labels: Record<string, string>): string {
  return JSON.stringify(Object.keys(labels).sort().map((k) => [k, labels[k]]));
}

export class MetricRegistry {
  private readonly entries = new Map<string, Entry>();

  /** A counter kept in memory, one series per label set. */
  counter(name: string, help: string): Counter {
    const series = new Map<string, ExpositionSample>();
    this.register({
      name,
      help,
      type: 'counter',
      collect: () => [...series.values()].map((s) => ({ labels: s.labels, value: s.value })),
    });
    return {
      inc(labels = {}, by = 1) {
        if (!(by >= 0) || !Number.isFinite(by)) return;
        const k = key(labels);
        const s = series.get(k);
        if (s === undefined) series.set(k, { labels: { ...labels }, value: by });
        else s.value += by;
      },
    };
  }

  /** A family whose samples are computed when scraped. */
  computed(name: string, help: string, type: MetricType, collect: Collect): void {
    this.register({ name, help, type, collect });
  }

  private register(entry: Entry): void {
    if (this.entries.has(entry.name)) throw new Error(`metric ${entry.name} registered twice`);
    this.entries.set(entry.name, entry);
  }

  has(name: string): boolean {
    return this.entries.has(name);
  }

  /** Every family, in name order; a callback that throws yields an empty family. */
  collect(): MetricFamily[] {
    return [...this.entries.values()]
      .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
      .map((e) => {
        let samples: ExpositionSample[];
        try {
          samples = e.collect();
        } catch {
          samples = [];
        }
        return { name: e.name, help: e.help, type: e.type, samples };
      });
  }
}

/** The process metrics every Prometheus client library exposes, under the same names. */
export function registerProcessMetrics(registry: MetricRegistry): void {
  const startSeconds = Math.floor(Date.now() / 1000 - process.uptime());
  registry.computed('process_cpu_seconds_total', 'Total user and system CPU time spent in seconds.', 'counter', () => {
    const u = process.cpuUsage();
    return [{ labels: {}, value: (u.user + u.system) / 1e6 }];
  });
  registry.computed('process_resident_memory_bytes', 'Resident memory size in bytes.', 'gauge', () => [{ labels: {}, value: process.memoryUsage.rss() }]);
  registry.computed('process_start_time_seconds', 'Start time of the process since unix epoch in seconds.', 'gauge', () => [{ labels: {}, value: startSeconds }]);
  registry.computed('nodejs_heap_used_bytes', 'V8 heap in use, in bytes.', 'gauge', () => [{ labels: {}, value: process.memoryUsage().heapUsed }]);
}
