/**
 * containers: per cgroup (every container and system service on the host), from cgroup v2 and, on a
 * hybrid host where a controller is still bound to a v1 hierarchy, from that hierarchy at the same path
 * (as systemd lays them out): CPU use and throttling, memory current/peak/limits, I/O bytes and ops, pids,
 * and network of the cgroup's network namespace when it is not the host's. Labelled by `cgroup` path and,
 * where known, `unit` (systemd), `runtime`, `container_id`, `container` (name, else short id) and `image`.
 *
 * The tree is walked breadth first from the root, at most `maxCgroups` cgroups and `maxDepth` levels; the
 * root cgroup itself (the host) is not reported. A cgroup that vanishes while being read is skipped.
 */
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import type { CollectTime, Collector, Sample } from './collector.js';
import { pushFinite } from './collector.js';
import { ContainerNames, type ContainerNameOptions } from './cgroup-names.js';
import {
  identifyCgroup,
  parseBlkioTotals,
  parseCgroupMounts,
  parseFlatKeyed,
  parseIoStat,
  parseSingleValue,
  type CgroupLayout,
  type IoTotals,
} from './cgroup-parse.js';
import { parseNetDev } from './network.js';
import { RateTracker } from '../rate.js';

export const CGROUP_METRICS = [
  'container_cpu_usage_cores',
  'container_cpu_user_cores',
  'container_cpu_system_cores',
  'container_cpu_throttled_percent',
  'container_cpu_throttled_seconds_per_second',
  'container_memory_current_bytes',
  'container_memory_peak_bytes',
  'container_memory_max_bytes',
  'container_memory_high_bytes',
  'container_io_read_bytes_per_second',
  'container_io_written_bytes_per_second',
  'container_io_reads_per_second',
  'container_io_writes_per_second',
  'container_pids_current',
  'container_pids_max',
  'container_network_receive_bytes_per_second',
  'container_network_transmit_bytes_per_second',
  'container_network_receive_packets_per_second',
  'container_network_transmit_packets_per_second',
] as const;

/** cpuacct.stat counts USER_HZ ticks, 100 per second on every Linux architecture. */
const USER_HZ = 100;

export interface CgroupCollectorOptions {
  /** /proc (for mounts and network namespaces). Default /proc. */
  proc?: string;
  /** The cgroup layout; default: read from `<proc>/self/mounts` at every round (mounts may change). */
  layout?: CgroupLayout;
  /** Most cgroups reported per round. Default 1000. */
  maxCgroups?: number;
  /** Deepest level walked below the root. Default 8. */
  maxDepth?: number;
  /** Where container runtimes keep their state (names and images). */
  names?: ContainerNameOptions;
}

function read(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

/** Relative cgroup paths ('/a/b') found under each root, breadth first, bounded. */
function walk(roots: readonly string[], maxCgroups: number, maxDepth: number): string[] {
  const seen = new Set<string>();
  let level = ['/'];
  for (let depth = 0; depth < maxDepth && level.length > 0 && seen.size < maxCgroups; depth++) {
    const next: string[] = [];
    for (const rel of level) {
      for (const root of roots) {
        let entries;
        try {
          entries = readdirSync(join(root, rel), { withFileTypes: true });
        } catch {
          continue;
        }
        for (const e of entries) {
          if (!e.isDirectory()) continue;
          const child = rel === '/' ? `/${e.name}` : `${rel}/${e.name}`;
          if (seen.has(child)) continue;
          if (seen.size >= maxCgroups) return [...seen];
          seen.add(child);
          next.push(child);
        }
      }
    }
    level = next;
  }
  return [...seen];
}

/** The network namespace of a pid, e.g. `net:[4026531992]`, or undefined. */
function netns(proc: string, pid: string): string | undefined {
  try {
    return readlinkSync(join(proc, pid, 'ns', 'net'));
  } catch {
    return undefined;
  }
}

export function createCgroupCollector(options: CgroupCollectorOptions = {}): Collector {
  const proc = options.proc ?? '/proc';
  const maxCgroups = options.maxCgroups ?? 1000;
  const maxDepth = options.maxDepth ?? 8;
  const names = new ContainerNames(options.names);
  const rates = new RateTracker();

  function labelsOf(path: string, nowMs: number): Record<string, string> {
    const id = identifyCgroup(path);
    const labels: Record<string, string> = { cgroup: path };
    if (id.unit !== undefined) labels.unit = id.unit;
    if (id.runtime !== undefined && id.id !== undefined) {
      const n = names.lookup(id.runtime, id.id, nowMs);
      labels.runtime = id.runtime;
      labels.container_id = id.id.slice(0, 12);
      labels.container = n.name ?? id.id.slice(0, 12);
      if (n.image !== undefined) labels.image = n.image;
    }
    return labels;
  }

  function collectOne(layout: CgroupLayout, path: string, t: number, hostNs: string | undefined, labels: Record<string, string>, out: Sample[]): void {
    const v2 = layout.unified !== undefined ? join(layout.unified, path) : undefined;
    const v1 = (c: keyof CgroupLayout['v1']): string | undefined => (layout.v1[c] !== undefined ? join(layout.v1[c], path) : undefined);
    const rate = (what: string, value: number | undefined): number | undefined => (value === undefined ? undefined : rates.rate(`${path}\0${what}`, value, t));

    // CPU: v2 cpu.stat has usage in every cgroup (throttling only with the cpu controller); else v1 cpuacct.
    const cpuStat = v2 !== undefined ? read(join(v2, 'cpu.stat')) : undefined;
    const stat2 = cpuStat !== undefined ? parseFlatKeyed(cpuStat) : undefined;
    if (stat2?.has('usage_usec') === true) {
      pushFinite(out, 'container_cpu_usage_cores', div(rate('cpu', stat2.get('usage_usec')), 1e6), labels);
      pushFinite(out, 'container_cpu_user_cores', div(rate('user', stat2.get('user_usec')), 1e6), labels);
      pushFinite(out, 'container_cpu_system_cores', div(rate('system', stat2.get('system_usec')), 1e6), labels);
    } else {
      const acct = v1('cpuacct');
      const usage = acct !== undefined ? read(join(acct, 'cpuacct.usage')) : undefined;
      const u = usage !== undefined ? parseSingleValue(usage) : undefined;
      if (typeof u === 'number') pushFinite(out, 'container_cpu_usage_cores', div(rate('cpu', u), 1e9), labels);
      const st = acct !== undefined ? read(join(acct, 'cpuacct.stat')) : undefined;
      if (st !== undefined) {
        const m = parseFlatKeyed(st);
        pushFinite(out, 'container_cpu_user_cores', div(rate('user', m.get('user')), USER_HZ), labels);
        pushFinite(out, 'container_cpu_system_cores', div(rate('system', m.get('system')), USER_HZ), labels);
      }
    }
    let throttle: { periods?: number; throttled?: number; seconds?: number } | undefined;
    if (stat2?.has('nr_periods') === true) {
      throttle = { periods: stat2.get('nr_periods'), throttled: stat2.get('nr_throttled'), seconds: div(stat2.get('throttled_usec'), 1e6) };
    } else {
      const cpu1 = v1('cpu');
      const st = cpu1 !== undefined ? read(join(cpu1, 'cpu.stat')) : undefined;
      if (st !== undefined) {
        const m = parseFlatKeyed(st);
        if (m.has('nr_periods')) throttle = { periods: m.get('nr_periods'), throttled: m.get('nr_throttled'), seconds: div(m.get('throttled_time'), 1e9) };
      }
    }
    if (throttle !== undefined) {
      const periods = rate('periods', throttle.periods);
      const throttled = rate('throttled', throttle.throttled);
      // Only while a quota is enforced (periods pass); a cgroup without a quota has no periods.
      if (periods !== undefined && throttled !== undefined && periods > 0) pushFinite(out, 'container_cpu_throttled_percent', Math.min(100, (throttled / periods) * 100), labels);
      pushFinite(out, 'container_cpu_throttled_seconds_per_second', rate('throttled_s', throttle.seconds), labels);
    }

    // Memory: v2 memory.* when the controller is on there, else v1's memory hierarchy.
    const single = (file: string | undefined): number | 'max' | undefined => {
      const text = file !== undefined ? read(file) : undefined;
      return text !== undefined ? parseSingleValue(text) : undefined;
    };
    const limit = (v: number | 'max' | undefined): number | undefined => (typeof v === 'number' ? v : undefined);
    const cur2 = v2 !== undefined ? single(join(v2, 'memory.current')) : undefined;
    if (typeof cur2 === 'number') {
      pushFinite(out, 'container_memory_current_bytes', cur2, labels);
      pushFinite(out, 'container_memory_peak_bytes', limit(single(join(v2!, 'memory.peak'))), labels);
      pushFinite(out, 'container_memory_max_bytes', limit(single(join(v2!, 'memory.max'))), labels);
      pushFinite(out, 'container_memory_high_bytes', limit(single(join(v2!, 'memory.high'))), labels);
    } else {
      const mem1 = v1('memory');
      if (mem1 !== undefined) {
        pushFinite(out, 'container_memory_current_bytes', limit(single(join(mem1, 'memory.usage_in_bytes'))), labels);
        pushFinite(out, 'container_memory_peak_bytes', limit(single(join(mem1, 'memory.max_usage_in_bytes'))), labels);
        pushFinite(out, 'container_memory_max_bytes', limit(single(join(mem1, 'memory.limit_in_bytes'))), labels);
      }
    }

    // I/O.
    let io: IoTotals | undefined;
    const ioStat = v2 !== undefined ? read(join(v2, 'io.stat')) : undefined;
    if (ioStat !== undefined) io = parseIoStat(ioStat);
    else {
      const blk = v1('blkio');
      const bytes = blk !== undefined ? read(join(blk, 'blkio.throttle.io_service_bytes')) : undefined;
      const ops = blk !== undefined ? read(join(blk, 'blkio.throttle.io_serviced')) : undefined;
      if (bytes !== undefined && ops !== undefined) {
        const b = parseBlkioTotals(bytes);
        const o = parseBlkioTotals(ops);
        io = { readBytes: b.read, writtenBytes: b.write, reads: o.read, writes: o.write };
      }
    }
    if (io !== undefined) {
      pushFinite(out, 'container_io_read_bytes_per_second', rate('rb', io.readBytes), labels);
      pushFinite(out, 'container_io_written_bytes_per_second', rate('wb', io.writtenBytes), labels);
      pushFinite(out, 'container_io_reads_per_second', rate('rio', io.reads), labels);
      pushFinite(out, 'container_io_writes_per_second', rate('wio', io.writes), labels);
    }

    // PIDs.
    const pids2 = v2 !== undefined ? single(join(v2, 'pids.current')) : undefined;
    const pidsDir = typeof pids2 === 'number' ? v2 : v1('pids');
    if (pidsDir !== undefined) {
      pushFinite(out, 'container_pids_current', limit(typeof pids2 === 'number' ? pids2 : single(join(pidsDir, 'pids.current'))), labels);
      pushFinite(out, 'container_pids_max', limit(single(join(pidsDir, 'pids.max'))), labels);
    }

    // Network: only a namespace of its own (else it is the host's traffic, reported by the network group).
    if (hostNs !== undefined) {
      const procs = (v2 !== undefined ? read(join(v2, 'cgroup.procs')) : undefined) ?? (v1('memory') !== undefined ? read(join(v1('memory')!, 'cgroup.procs')) : undefined);
      const pid = procs?.split('\n').find((l) => /^\d+$/.test(l.trim()))?.trim();
      const ns = pid !== undefined ? netns(proc, pid) : undefined;
      if (pid !== undefined && ns !== undefined && ns !== hostNs) {
        const dev = read(join(proc, pid, 'net', 'dev'));
        for (const ifc of dev !== undefined ? parseNetDev(dev, /^lo$/) : []) {
          const l = { ...labels, interface: ifc.interface };
          const k = `net\0${ifc.interface}`;
          pushFinite(out, 'container_network_receive_bytes_per_second', rate(`${k}\0rb`, ifc.receive.bytes), l);
          pushFinite(out, 'container_network_transmit_bytes_per_second', rate(`${k}\0tb`, ifc.transmit.bytes), l);
          pushFinite(out, 'container_network_receive_packets_per_second', rate(`${k}\0rp`, ifc.receive.packets), l);
          pushFinite(out, 'container_network_transmit_packets_per_second', rate(`${k}\0tp`, ifc.transmit.packets), l);
        }
      }
    }
  }

  return {
    name: 'containers',
    metrics: CGROUP_METRICS,
    async collect(now: CollectTime): Promise<Sample[]> {
      const layout = options.layout ?? parseCgroupMounts(read(join(proc, 'self', 'mounts')) ?? '');
      const roots = [layout.unified, layout.v1.memory, layout.v1.cpuacct].filter((r): r is string => r !== undefined);
      const out: Sample[] = [];
      const hostNs = netns(proc, 'self');
      for (const path of walk([...new Set(roots)], maxCgroups, maxDepth)) {
        collectOne(layout, path, now.monoMs, hostNs, labelsOf(path, now.wallMs), out);
      }
      rates.endRound();
      return out;
    },
  };
}

function div(v: number | undefined, by: number): number | undefined {
  return v === undefined ? undefined : v / by;
}
