/**
 * memory: from /proc/meminfo, in bytes. used = total - available (as procps-ng's `free` computes it);
 * on kernels without MemAvailable (before 3.14) available = free + buffers + cached.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { CollectTime, Collector, HostPaths, Sample } from './collector.js';
import { DEFAULT_HOST_PATHS, pushFinite } from './collector.js';

export const MEMORY_METRICS = [
  'node_memory_total_bytes',
  'node_memory_used_bytes',
  'node_memory_available_bytes',
  'node_memory_free_bytes',
  'node_memory_buffers_bytes',
  'node_memory_cached_bytes',
  'node_memory_swap_total_bytes',
  'node_memory_swap_used_bytes',
] as const;

/** /proc/meminfo as a map of field name to bytes (the file states kB, which are KiB). */
export function parseMeminfo(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    const m = /^([A-Za-z0-9_()]+):\s+(\d+)(?:\s+(kB))?\s*$/.exec(line);
    if (m === null) continue;
    const v = Number(m[2]) * (m[3] === 'kB' ? 1024 : 1);
    if (Number.isFinite(v)) out.set(m[1]!, v);
  }
  return out;
}

export interface MemoryValues {
  total: number;
  used: number;
  available: number;
  free: number;
  buffers: number;
  cached: number;
  swapTotal: number;
  swapUsed: number;
}

export function memoryValues(info: Map<string, number>): MemoryValues | undefined {
  const total = info.get('MemTotal');
  const free = info.get('MemFree');
  if (total === undefined || free === undefined) return undefined;
  const buffers = info.get('Buffers') ?? 0;
  const cached = info.get('Cached') ?? 0;
  const available = Math.min(total, info.get('MemAvailable') ?? free + buffers + cached);
  const swapTotal = info.get('SwapTotal') ?? 0;
  const swapFree = info.get('SwapFree') ?? 0;
  return {
    total,
    used: Math.max(0, total - available),
    available,
    free,
    buffers,
    cached,
    swapTotal,
    swapUsed: Math.max(0, swapTotal - swapFree),
  };
}

export function createMemoryCollector(paths: HostPaths = DEFAULT_HOST_PATHS): Collector {
  return {
    name: 'memory',
    metrics: MEMORY_METRICS,
    async collect(_now: CollectTime): Promise<Sample[]> {
      const v = memoryValues(parseMeminfo(readFileSync(join(paths.proc, 'meminfo'), 'utf8')));
      const out: Sample[] = [];
      if (v === undefined) return out;
      pushFinite(out, 'node_memory_total_bytes', v.total);
      pushFinite(out, 'node_memory_used_bytes', v.used);
      pushFinite(out, 'node_memory_available_bytes', v.available);
      pushFinite(out, 'node_memory_free_bytes', v.free);
      pushFinite(out, 'node_memory_buffers_bytes', v.buffers);
      pushFinite(out, 'node_memory_cached_bytes', v.cached);
      pushFinite(out, 'node_memory_swap_total_bytes', v.swapTotal);
      pushFinite(out, 'node_memory_swap_used_bytes', v.swapUsed);
      return out;
    },
  };
}
