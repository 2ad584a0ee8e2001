/**
 * Per-host monitoring configuration, stored as JSON at `/monitor/config/<hostname>` in the coordination
 * store: `{"interval": 5, "metrics": ["cpu", "memory", "disk", "network", "filesystem"]}`. The agent
 * reads it at start and watches it; the server writes the default for a host it has not seen.
 */
import { z } from 'zod';

export const CONFIG_PREFIX = '/monitor/config/';
export const HEARTBEAT_PREFIX = '/monitor/heartbeat/';

export function configKey(hostname: string): string {
  return CONFIG_PREFIX + hostname;
}

export function heartbeatKey(hostname: string): string {
  return HEARTBEAT_PREFIX + hostname;
}

/** Longest and shortest sampling interval accepted, in seconds. */
export const MIN_INTERVAL_SECONDS = 0.1;
export const MAX_INTERVAL_SECONDS = 86_400;

export const monitorConfigSchema = z
  .object({
    /** Seconds between two collections (and two batches sent). */
    interval: z.number().min(MIN_INTERVAL_SECONDS).max(MAX_INTERVAL_SECONDS),
    /** Names of the enabled metric groups (see the agent's collectors). */
    metrics: z.array(z.string().min(1).max(200)).max(1000),
  })
  .loose();
export type MonitorConfig = z.infer<typeof monitorConfigSchema>;

/** The groups every agent collects unless told otherwise. */
export const DEFAULT_METRIC_GROUPS = ['cpu', 'memory', 'disk', 'network', 'filesystem'] as const;

export function defaultMonitorConfig(): MonitorConfig {
  return { interval: 5, metrics: [...DEFAULT_METRIC_GROUPS] };
}

/** Parses the stored JSON; a failure is normal input (someone ran etcdctl put with a typo). */
export function parseMonitorConfig(text: string): { value: MonitorConfig; error?: undefined } | { error: string } {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    return { error: `not valid JSON: ${(err as Error).message}` };
  }
  const result = monitorConfigSchema.safeParse(raw);
  if (!result.success) {
    const issue = result.error.issues[0]!;
    const where = issue.path.length > 0 ? issue.path.join('.') : 'config';
    return { error: `invalid ${where}: ${issue.message}` };
  }
  return { value: result.data };
}
