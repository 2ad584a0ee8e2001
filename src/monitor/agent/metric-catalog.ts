/**
 * Which metrics the agent emits. A selection (the config's "metrics" list, changed by enable_metric and
 * disable_metric) names groups (cpu, memory, disk, network, filesystem) and single metric names
 * (node_load1). A selection is kept normalised: a group whose every metric is enabled is named by the
 * group, otherwise its enabled metrics are named one by one, in catalog order.
 */
import type { Collector } from './collectors/index.js';

export class MetricCatalog {
  private readonly groupOf = new Map<string, string>();
  private readonly metricsOf = new Map<string, readonly string[]>();

  constructor(collectors: ReadonlyArray<Pick<Collector, 'name' | 'metrics'>>) {
    for (const c of collectors) {
      this.metricsOf.set(c.name, c.metrics);
      for (const m of c.metrics) this.groupOf.set(m, c.name);
    }
  }

  groups(): string[] {
    return [...this.metricsOf.keys()];
  }

  /** Every name a selection may hold: the groups, then every metric name. */
  available(): string[] {
    return [...this.metricsOf.keys(), ...this.groupOf.keys()];
  }

  isKnown(name: string): boolean {
    return this.metricsOf.has(name) || this.groupOf.has(name);
  }

  /** The names of `selection` that are neither a group nor a metric. */
  unknown(selection: readonly string[]): string[] {
    return selection.filter((n) => !this.isKnown(n));
  }

  /** The metric names a selection enables. */
  enabledMetrics(selection: readonly string[]): Set<string> {
    const out = new Set<string>();
    for (const name of selection) {
      const group = this.metricsOf.get(name);
      if (group !== undefined) for (const m of group) out.add(m);
      else if (this.groupOf.has(name)) out.add(name);
    }
    return out;
  }

  /** The selection naming exactly `enabled`, normalised (see the file comment). */
  normalise(enabled: ReadonlySet<string>): string[] {
    const out: string[] = [];
    for (const [group, metrics] of this.metricsOf) {
      const on = metrics.filter((m) => enabled.has(m));
      if (on.length === metrics.length && on.length > 0) out.push(group);
      else out.push(...on);
    }
    return out;
  }

  /** The names `name` stands for: a group's metrics, or the metric itself. */
  expand(name: string): readonly string[] {
    return this.metricsOf.get(name) ?? (this.groupOf.has(name) ? [name] : []);
  }

  describeKnown(): string {
    return `${this.groups().join(', ')}, or a metric name such as node_load1`;
  }
}
