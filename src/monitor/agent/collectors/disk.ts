/**
 * disk: per block device, from /proc/diskstats: completed reads and writes per second, bytes read and
 * written per second (the file counts 512-byte sectors whatever the device's sector size) and busy
 * percent (time with I/O in flight over the interval, at most 100). Partitions, RAM disks, loop and
 * floppy devices are skipped, as node_exporter's default device filter does.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { CollectTime, Collector, HostPaths, Sample } from './collector.js';
import { DEFAULT_HOST_PATHS, pushFinite } from './collector.js';
import { RateTracker } from '../rate.js';

export const DISK_METRICS = [
  'node_disk_reads_per_second',
  'node_disk_writes_per_second',
  'node_disk_read_bytes_per_second',
  'node_disk_written_bytes_per_second',
  'node_disk_busy_percent',
] as const;

/** node_exporter 1.5's default `--collector.diskstats.device-exclude`. */
export const DEFAULT_DISK_EXCLUDE = /^(ram|loop|fd|(h|s|v|xv)d[a-z]|nvme\d+n\d+p)\d+$/;

const SECTOR_BYTES = 512;

export interface DiskCounters {
  device: string;
  reads: number;
  sectorsRead: number;
  writes: number;
  sectorsWritten: number;
  /** Milliseconds with I/O in flight. */
  ioMs: number;
}

/** Parses /proc/diskstats (14 or more fields a line); lines too short or not numeric are skipped. */
export function parseDiskstats(text: string, exclude: RegExp = DEFAULT_DISK_EXCLUDE): DiskCounters[] {
  const out: DiskCounters[] = [];
  for (const line of text.split('\n')) {
    const f = line.trim().split(/\s+/);
    if (f.length < 14) continue;
    const device = f[2]!;
    if (exclude.test(device)) continue;
    const n = (i: number): number => Number(f[i]);
    const c: DiskCounters = { device, reads: n(3), sectorsRead: n(5), writes: n(7), sectorsWritten: n(9), ioMs: n(12) };
    if ([c.reads, c.sectorsRead, c.writes, c.sectorsWritten, c.ioMs].every((v) => Number.isFinite(v) && v >= 0)) out.push(c);
  }
  return out;
}

export function createDiskCollector(paths: HostPaths = DEFAULT_HOST_PATHS, exclude: RegExp = DEFAULT_DISK_EXCLUDE): Collector {
  const rates = new RateTracker();
  return {
    name: 'disk',
    metrics: DISK_METRICS,
    async collect(now: CollectTime): Promise<Sample[]> {
      const disks = parseDiskstats(readFileSync(join(paths.proc, 'diskstats'), 'utf8'), exclude);
      const out: Sample[] = [];
      const t = now.monoMs;
      for (const d of disks) {
        const labels = { device: d.device };
        pushFinite(out, 'node_disk_reads_per_second', rates.rate(`${d.device}/r`, d.reads, t), labels);
        pushFinite(out, 'node_disk_writes_per_second', rates.rate(`${d.device}/w`, d.writes, t), labels);
        const rb = rates.rate(`${d.device}/rs`, d.sectorsRead, t);
        pushFinite(out, 'node_disk_read_bytes_per_second', rb === undefined ? undefined : rb * SECTOR_BYTES, labels);
        const wb = rates.rate(`${d.device}/ws`, d.sectorsWritten, t);
        pushFinite(out, 'node_disk_written_bytes_per_second', wb === undefined ? undefined : wb * SECTOR_BYTES, labels);
        // io ms per second of wall time / 10 = percent
        const busy = rates.rate(`${d.device}/io`, d.ioMs, t);
        pushFinite(out, 'node_disk_busy_percent', busy === undefined ? undefined : Math.min(100, busy / 10), labels);
      }
      rates.endRound();
      return out;
    },
  };
}
