/**
 * The agent's effective settings (interval and metric selection). The coordination store's config is the
 * source of truth and replaces them whenever it changes; commands (set_interval, enable_metric,
 * disable_metric) change them in memory until the next stored change.
 */
import { EventEmitter } from 'node:events';
import type { MonitorConfig } from '../monitor-config.js';

export interface AgentSettings {
  intervalSeconds: number;
  metrics: readonly string[];
}

export type SettingsSource = 'default' | 'store' | 'command';

export interface SettingsEventMap {
  'settings:changed': [AgentSettings, SettingsSource];
}

export class SettingsHolder extends EventEmitter<SettingsEventMap> {
  private current: AgentSettings;

  constructor(initial: AgentSettings) {
    super();
    this.current = { ...initial, metrics: [...initial.metrics] };
  }

  get(): AgentSettings {
    return this.current;
  }

  /** The settings as the config JSON shape: {"interval": seconds, "metrics": [...]}. */
  asConfig(): MonitorConfig {
    return { interval: this.current.intervalSeconds, metrics: [...this.current.metrics] };
  }

  set(next: AgentSettings, source: SettingsSource): void {
    this.current = { intervalSeconds: next.intervalSeconds, metrics: [...next.metrics] };
    this.emit('settings:changed', this.current, source);
  }
}

export function sameSettings(a: AgentSettings, b: AgentSettings): boolean {
  return a.intervalSeconds === b.intervalSeconds && a.metrics.length === b.metrics.length && a.metrics.every((m, i) => m === b.metrics[i]);
}
