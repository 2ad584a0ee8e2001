/**
 * cpu: usage per mode and in total, in percent of all CPUs' time over the last interval (from the first
 * line of /proc/stat), and the load averages (from /proc/loadavg).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { CollectTime, Collector, HostPaths, Sample } from './collector.js';
import { DEFAULT_HOST_PATHS, pushFinite } from './collector.js';

/** The modes of /proc/stat's cpu line that add up to the total time (guest time is already inside user). */
export const CPU_MODES = ['user', 'nice', 'system', 'idle', 'iowait', 'irq', 'softirq', 'steal'] as const;
export type CpuMode = (typeof CPU_MODES)[number];
export type CpuTimes = Record<CpuMode, number>;

export const CPU_METRICS = ['node_cpu_usage_percent', 'node_load1', 'node_load5', 'node_load15'] as const;

/** Parses the aggregate `cpu ` line of /proc/stat (clock ticks); undefined when it is missing or malformed. */
export function parseProcStat(text: string): CpuTimes | undefined {
  const line = text.split('\n').find((l) => l.startsWith('cpu '));
  if (line === undefined) return undefined;
  const fields = line.trim().split(/\s+/).slice(1).map(Number);
  if (fields.length < 4) return undefined;
  const times = {} as CpuTimes;
  CPU_MODES.forEach((mode, i) => {
    const v = fields[i] ?? 0; // old kernels lack iowait, irq, softirq, steal
    times[mode] = Number.isFinite(v) && v >= 0 ? v : Number.NaN;
  });
  return CPU_MODES.some((m) => Number.isNaN(times[m])) ? undefined : times;
}

export interface LoadAverages {
  load1: number;
  load5: number;
  load15: number;
}

export function parseLoadavg(text: string): LoadAverages | undefined {
  const [a, b, c] = text.trim().split(/\s+/).map(Number);
  if (a === undefined || b === undefined || c === undefined || ![a, b, c].every((x) => Number.isFinite(x) && x >= 0)) return undefined;
  return { load1: a, load5: b, load15: c };
}

/**
 * Percent of time per mode between two readings, and `total` = 100 - idle - iowait. A mode whose
 * counter went backwards (iowait does on some kernels) counts as 0. Undefined when no time passed.
 */
export function cpuPercentages(before: CpuTimes, now: CpuTimes): (Record<CpuMode, number> & { total: number }) | undefined {
  const deltas = {} as Record<CpuMode, number>;
  let sum = 0;
  for (const mode of CPU_MODES) {
    const d = Math.max(0, now[mode] - before[mode]);
    deltas[mode] = d;
    sum += d;
  }
  if (!(sum > 0)) return undefined;
  const out = {} as Record<CpuMode, number> & { total: number };
  for (const mode of CPU_MODES) out[mode] = (deltas[mode] / sum) * 100;
  out.total = Math.min(100, Math.max(0, 100 - out.idle - out.iowait));
  return out;
}

export function createCpuCollector(paths: HostPaths = DEFAULT_HOST_PATHS): Collector {
  let previous: CpuTimes | undefined;
  return {
    name: 'cpu',
    metrics: CPU_METRICS,
    async collect(_now: CollectTime): Promise<Sample[]> {
      const out: Sample[] = [];
      const stat = readFileSync(join(paths.proc, 'stat'), 'utf8');
      const loadavg = readFileSync(join(paths.proc, 'loadavg'), 'utf8');
      const times = parseProcStat(stat);
      if (times !== undefined) {
        const pct = previous === undefined ? undefined : cpuPercentages(previous, times);
        previous = times;
        if (pct !== undefined) {
          for (const mode of CPU_MODES) pushFinite(out, 'node_cpu_usage_percent', pct[mode], { mode });
          pushFinite(out, 'node_cpu_usage_percent', pct.total, { mode: 'total' });
        }
      }
      const load = parseLoadavg(loadavg);
      if (load !== undefined) {
        pushFinite(out, 'node_load1', load.load1);
        pushFinite(out, 'node_load5', load.load5);
        pushFinite(out, 'node_load15', load.load15);
      }
      return out;
    },
  };
}
