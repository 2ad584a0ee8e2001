/**
 * The scheduler's metrics: lateness (actual start minus scheduled time) per flow and task, attempts by
 * outcome state, and notification deliveries. Kept in memory by the active scheduler (a server that does
 * not schedule has none). Read as metric families (for a metrics registry, `registerFlowMetrics`) or as
 * Prometheus text (`GET /api/v1/flows/metrics`).
 */
import type { TaskStateEvent } from './run-engine.js';

export type FlowMetricType = 'counter' | 'gauge';
export interface FlowMetricSample { labels: Record<string, string>; value: number }
export interface FlowMetricFamily { name: string; help: string; type: FlowMetricType; samples: FlowMetricSample[] }

/** What a metrics registry offers (src/monitor/export's MetricRegistry has this shape). */
export interface ComputedMetricRegistry {
  computed(name: string, help: string, type: FlowMetricType, collect: () => FlowMetricSample[]): void;
}

interface Lateness { flow: string; task: string; lastSeconds: number; maxSeconds: number; sumSeconds: number; count: number }

/** Most (flow, task) series kept; later ones are counted in flotilla_flow_metric_series_dropped_total. */
export const MAX_FLOW_SERIES = 10_000;

export class FlowMetrics {
  private readonly lateness = new Map<string, Lateness>();
  private readonly finished = new Map<string, { flow: string; state: string; count: number }>();
  private seriesDropped = 0;
  /** Read at collection time (the notifier's counters). */
  notifications: () => { delivered: number; failed: number; dropped?: number } = () => ({ delivered: 0, failed: 0 });

  observe(e: TaskStateEvent): void {
    if (e.state === 'running' && e.latenessMs !== undefined) {
      const k = `${e.flow}\u0000${e.task}`;
      let l = this.lateness.get(k);
      if (l === undefined) {
        if (this.lateness.size >= MAX_FLOW_SERIES) {
          this.seriesDropped++;
          return;
        }
        l = { flow: e.flow, task: e.task, lastSeconds: 0, maxSeconds: 0, sumSeconds: 0, count: 0 };
        this.lateness.set(k, l);
      }
      const s = e.latenessMs / 1000;
      l.lastSeconds = s;
      l.maxSeconds = Math.max(l.maxSeconds, s);
      l.sumSeconds += s;
      l.count++;
      return;
    }
    if (['success', 'failed', 'skipped', 'upstream_failed', 'up_for_retry', 'shutdown'].includes(e.state)) {
      const k = `${e.flow}\u0000${e.state}`;
      const f = this.finished.get(k);
      if (f !== undefined) f.count++;
      else if (this.finished.size < MAX_FLOW_SERIES) this.finished.set(k, { flow: e.flow, state: e.state, count: 1 });
      else this.seriesDropped++;
    }
  }

  families(): FlowMetricFamily[] {
    const lat = [...this.lateness.values()];
    const labels = (l: Lateness): Record<string, string> => ({ flow: l.flow, task: l.task });
    const n = this.notifications();
    return [
      { name: 'flotilla_flow_task_lateness_seconds', help: 'Lateness of the latest attempt of a task: its start minus its scheduled time.', type: 'gauge', samples: lat.map((l) => ({ labels: labels(l), value: l.lastSeconds })) },
      { name: 'flotilla_flow_task_lateness_seconds_max', help: 'Largest lateness of a task since the scheduler started.', type: 'gauge', samples: lat.map((l) => ({ labels: labels(l), value: l.maxSeconds })) },
      { name: 'flotilla_flow_task_lateness_seconds_sum', help: 'Sum of the lateness of every attempt started (with _count: the mean).', type: 'counter', samples: lat.map((l) => ({ labels: labels(l), value: l.sumSeconds })) },
      { name: 'flotilla_flow_task_lateness_seconds_count', help: 'Attempts started, per flow and task.', type: 'counter', samples: lat.map((l) => ({ labels: labels(l), value: l.count })) },
      { name: 'flotilla_flow_task_instances_finished_total', help: 'Task instance state changes into success, failed, skipped, upstream_failed, up_for_retry or shutdown.', type: 'counter', samples: [...this.finished.values()].map((f) => ({ labels: { flow: f.flow, state: f.state }, value: f.count })) },
      { name: 'flotilla_flow_notifications_total', help: 'Notification deliveries by result.', type: 'counter', samples: [{ labels: { result: 'delivered' }, value: n.delivered }, { labels: { result: 'failed' }, value: n.failed }, { labels: { result: 'dropped' }, value: n.dropped ?? 0 }] },
      { name: 'flotilla_flow_metric_series_dropped_total', help: `Series not kept (more than ${MAX_FLOW_SERIES}).`, type: 'counter', samples: [{ labels: {}, value: this.seriesDropped }] },
    ];
  }

  /** Prometheus text exposition format 0.0.4. */
  render(): string {
    const esc = (v: string): string => v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
    const out: string[] = [];
    for (const f of this.families()) {
      out.push(`# HELP ${f.name} ${f.help}`, `# TYPE ${f.name} ${f.type}`);
      for (const s of f.samples) {
        const l = Object.entries(s.labels).map(([k, v]) => `${k}="${esc(v)}"`).join(',');
        out.push(`${f.name}${l === '' ? '' : `{${l}}`} ${s.value}`);
      }
    }
    return `${out.join('\n')}\n`;
  }
}

/** Adds the scheduler's families to a metrics registry (e.g. the server's /metrics). */
export function registerFlowMetrics(registry: ComputedMetricRegistry, metrics: FlowMetrics): void {
  for (const f of metrics.families()) {
    registry.computed(f.name, f.help, f.type, () => metrics.families().find((x) => x.name === f.name)?.samples ?? []);
  }
}
