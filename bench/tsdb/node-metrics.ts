/**
 * A generator of realistic node metrics, shaped like what prometheus-node-exporter exposes for a small
 * server scraped every 15 s: CPU seconds per cpu and mode (counters with 2 decimals), memory and
 * filesystem gauges in bytes (mostly steady, some constant), network and disk counters (integers), load
 * averages (2 decimals), process counts. Every series of a host shares the scrape time, which jitters by
 * a few ms as real scrapes do. Deterministic for a seed.
 */

export interface GenSample {
  metric: string;
  labels: Record<string, string>;
  value: number;
}

/** A small deterministic PRNG (mulberry32). */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const round = (v: number, digits: number): number => Math.round(v * 10 ** digits) / 10 ** digits;

interface SeriesState {
  metric: string;
  labels: Record<string, string>;
  value: number;
  step: (v: number, rnd: () => number) => number;
}

/** One host's series; `next()` advances one scrape interval. */
export class NodeMetrics {
  private readonly series: SeriesState[] = [];
  private readonly rnd: () => number;

  constructor(seed: number, intervalS = 15) {
    this.rnd = prng(seed);
    const r = this.rnd;
    const add = (metric: string, labels: Record<string, string>, value: number, step: SeriesState['step']): void => {
      this.series.push({ metric, labels, value, step });
    };
    const modes: [string, number][] = [['idle', 0.85], ['user', 0.08], ['system', 0.04], ['iowait', 0.01], ['irq', 0], ['softirq', 0.005], ['steal', 0.002], ['nice', 0]];
    for (let cpu = 0; cpu < 4; cpu++) {
      for (const [mode, share] of modes) {
        add('node_cpu_seconds_total', { cpu: String(cpu), mode }, round(r() * 1e6 * (share + 0.001), 2), (v, rr) =>
          share === 0 ? v : round(v + intervalS * share * (0.7 + 0.6 * rr()), 2),
        );
      }
    }
    const memTotal = 16 * 2 ** 30;
    add('node_memory_MemTotal_bytes', {}, memTotal, (v) => v);
    for (const name of ['MemFree', 'MemAvailable', 'Cached', 'Buffers', 'Active', 'Inactive', 'Dirty', 'Slab']) {
      add(`node_memory_${name}_bytes`, {}, Math.floor((r() * memTotal) / 4 / 4096) * 4096, (v, rr) => (rr() < 0.5 ? v : Math.max(0, v + Math.round((rr() - 0.5) * 256) * 4096)));
    }
    for (const name of ['SwapTotal', 'SwapFree', 'HugePages_Total', 'Hugepagesize']) add(`node_memory_${name}_bytes`, {}, Math.floor(r() * 2 ** 31 / 4096) * 4096, (v) => v);
    for (const device of ['eth0', 'lo']) {
      const busy = device === 'eth0' ? 200_000 : 20_000;
      add('node_network_receive_bytes_total', { device }, Math.floor(r() * 1e12), (v, rr) => v + Math.floor(busy * intervalS * rr()));
      add('node_network_transmit_bytes_total', { device }, Math.floor(r() * 1e12), (v, rr) => v + Math.floor(busy * intervalS * rr()));
      add('node_network_receive_packets_total', { device }, Math.floor(r() * 1e9), (v, rr) => v + Math.floor((busy / 800) * intervalS * rr()));
      add('node_network_transmit_packets_total', { device }, Math.floor(r() * 1e9), (v, rr) => v + Math.floor((busy / 800) * intervalS * rr()));
      add('node_network_receive_errs_total', { device }, 0, (v, rr) => (rr() < 0.001 ? v + 1 : v));
      add('node_network_up', { device }, 1, (v) => v);
      add('node_network_mtu_bytes', { device }, device === 'lo' ? 65536 : 1500, (v) => v);
    }
    for (const device of ['sda', 'sdb']) {
      add('node_disk_reads_completed_total', { device }, Math.floor(r() * 1e8), (v, rr) => v + Math.floor(50 * intervalS * rr()));
      add('node_disk_writes_completed_total', { device }, Math.floor(r() * 1e8), (v, rr) => v + Math.floor(80 * intervalS * rr()));
      add('node_disk_read_bytes_total', { device }, Math.floor(r() * 1e12 / 512) * 512, (v, rr) => v + Math.floor(400 * intervalS * rr()) * 512);
      add('node_disk_written_bytes_total', { device }, Math.floor(r() * 1e12 / 512) * 512, (v, rr) => v + Math.floor(900 * intervalS * rr()) * 512);
      add('node_disk_io_time_seconds_total', { device }, round(r() * 1e5, 3), (v, rr) => round(v + intervalS * 0.05 * rr(), 3));
      add('node_disk_io_now', { device }, 0, (_v, rr) => (rr() < 0.9 ? 0 : Math.floor(rr() * 4)));
    }
    for (const mountpoint of ['/', '/boot', '/var', '/home']) {
      const size = Math.floor((r() * 2 ** 40) / 4096) * 4096;
      add('node_filesystem_size_bytes', { mountpoint, fstype: 'ext4' }, size, (v) => v);
      add('node_filesystem_free_bytes', { mountpoint, fstype: 'ext4' }, Math.floor(size / 2 / 4096) * 4096, (v, rr) => (rr() < 0.7 ? v : v - Math.floor(rr() * 64) * 4096));
      add('node_filesystem_avail_bytes', { mountpoint, fstype: 'ext4' }, Math.floor(size / 2.2 / 4096) * 4096, (v, rr) => (rr() < 0.7 ? v : v - Math.floor(rr() * 64) * 4096));
      add('node_filesystem_files', { mountpoint, fstype: 'ext4' }, Math.floor(size / 16384), (v) => v);
      add('node_filesystem_files_free', { mountpoint, fstype: 'ext4' }, Math.floor(size / 20000), (v, rr) => (rr() < 0.8 ? v : v - Math.floor(rr() * 10)));
      add('node_filesystem_readonly', { mountpoint, fstype: 'ext4' }, 0, (v) => v);
    }
    for (const n of ['1', '5', '15']) add(`node_load${n}`, {}, round(r() * 2, 2), (v, rr) => Math.max(0, round(v + (rr() - 0.5) * (n === '1' ? 0.3 : 0.05), 2)));
    add('node_procs_running', {}, 2, (_v, rr) => 1 + Math.floor(rr() * 4));
    add('node_procs_blocked', {}, 0, (_v, rr) => (rr() < 0.95 ? 0 : 1));
    add('node_context_switches_total', {}, Math.floor(r() * 1e10), (v, rr) => v + Math.floor(3000 * intervalS * (0.8 + 0.4 * rr())));
    add('node_intr_total', {}, Math.floor(r() * 1e10), (v, rr) => v + Math.floor(2000 * intervalS * (0.8 + 0.4 * rr())));
    add('node_forks_total', {}, Math.floor(r() * 1e7), (v, rr) => v + Math.floor(5 * intervalS * rr()));
    add('node_boot_time_seconds', {}, 1_699_000_000, (v) => v);
    add('node_entropy_available_bits', {}, 256, (v) => v);
    add('node_filefd_allocated', {}, 2000, (v, rr) => (rr() < 0.6 ? v : v + Math.round((rr() - 0.5) * 20)));
    add('node_sockstat_TCP_inuse', {}, 40, (v, rr) => (rr() < 0.6 ? v : Math.max(0, v + Math.round((rr() - 0.5) * 6))));
    add('node_timex_offset_seconds', {}, 0.000012, (_v, rr) => round((rr() - 0.5) * 0.0001, 6));
  }

  get size(): number {
    return this.series.length;
  }

  /** The samples of the next scrape. */
  next(): GenSample[] {
    return this.series.map((s) => {
      const v = s.value;
      s.value = s.step(s.value, this.rnd);
      return { metric: s.metric, labels: s.labels, value: v };
    });
  }

  /** Scrape jitter in ms (-3..3). */
  jitter(): number {
    return Math.floor(this.rnd() * 7) - 3;
  }
}
