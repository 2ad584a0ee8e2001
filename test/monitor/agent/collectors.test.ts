import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createCpuCollector, cpuPercentages, parseLoadavg, parseProcStat } from '../../../src/monitor/agent/collectors/cpu.js';
import { createDiskCollector, parseDiskstats } from '../../../src/monitor/agent/collectors/disk.js';
import { createFilesystemCollector, parseMounts } from '../../../src/monitor/agent/collectors/filesystem.js';
import { createMemoryCollector, memoryValues, parseMeminfo } from '../../../src/monitor/agent/collectors/memory.js';
import { createNetworkCollector, parseNetDev } from '../../../src/monitor/agent/collectors/network.js';
import type { Sample } from '../../../src/monitor/agent/collectors/index.js';
import { createDefaultCollectors } from '../../../src/monitor/agent/collectors/index.js';
import { tempDir } from '../../testkit/index.js';
import { DISKSTATS_1, DISKSTATS_2, LOADAVG, MEMINFO, MOUNTS, NETDEV_1, NETDEV_2, STAT_1, STAT_2, writeTree } from './proc-fixtures.js';

function find(samples: Sample[], metric: string, labels: Record<string, string> = {}): number | undefined {
  return samples.find((s) => s.metric === metric && Object.entries(labels).every(([k, v]) => s.labels[k] === v))?.value;
}

function close(actual: number | undefined, expected: number, what: string): void {
  assert.ok(actual !== undefined && Math.abs(actual - expected) < 1e-9, `${what}: expected ${expected}, got ${actual}`);
}

test('parseProcStat reads the aggregate cpu line; malformed input gives undefined', () => {
  assert.deepEqual(parseProcStat(STAT_1), { user: 1000, nice: 10, system: 500, idle: 8000, iowait: 100, irq: 0, softirq: 50, steal: 0 });
  assert.equal(parseProcStat('cpu0 1 2 3 4\n'), undefined);
  assert.equal(parseProcStat('cpu  a b c d\n'), undefined);
  assert.equal(parseProcStat(''), undefined);
  assert.deepEqual(parseProcStat('cpu 1 2 3 4\n'), { user: 1, nice: 2, system: 3, idle: 4, iowait: 0, irq: 0, softirq: 0, steal: 0 });
});

test('cpu percentages per mode and total; a counter going back counts 0; no time, no value', () => {
  const pct = cpuPercentages(parseProcStat(STAT_1)!, parseProcStat(STAT_2)!)!;
  close(pct.user, 30, 'user');
  close(pct.system, 10, 'system');
  close(pct.idle, 50, 'idle');
  close(pct.iowait, 5, 'iowait');
  close(pct.total, 45, 'total');
  const back = cpuPercentages({ ...parseProcStat(STAT_2)!, iowait: 1000 }, parseProcStat(STAT_2)!);
  assert.equal(back, undefined);
  assert.equal(parseLoadavg(LOADAVG)?.load15, 3.46);
  assert.equal(parseLoadavg('x y z'), undefined);
});

test('meminfo: bytes, used = total - available, and the fallback without MemAvailable', () => {
  const v = memoryValues(parseMeminfo(MEMINFO))!;
  assert.equal(v.total, 24683656 * 1024);
  assert.equal(v.used, (24683656 - 23992264) * 1024);
  assert.equal(v.swapUsed, (2097148 - 1048576) * 1024);
  const old = memoryValues(parseMeminfo('MemTotal: 1000 kB\nMemFree: 100 kB\nBuffers: 50 kB\nCached: 250 kB\n'))!;
  assert.equal(old.available, 400 * 1024);
  assert.equal(memoryValues(parseMeminfo('garbage\n')), undefined);
});

test('diskstats: partitions, loop and ram devices skipped as node_exporter does; short lines skipped', () => {
  const names = parseDiskstats(DISKSTATS_1).map((d) => d.device);
  assert.deepEqual(names, ['vda', 'nvme0n1', 'dm-0']); // nvme0n1 has the 11 fields of kernels before 4.18
  assert.deepEqual(parseDiskstats(' 8 0 sda 1 2 3 4 5 6 7 8 9\n'), [], 'a line too short is skipped');
});

test('net/dev: headers skipped; the collector skips lo by default, as node_exporter does', async (t) => {
  const root = await tempDir(t);
  await writeTree(root, { 'net/dev': NETDEV_1 });
  const byDefault = await createNetworkCollector({ paths: { proc: root, sys: root } }).collect({ wallMs: 0, monoMs: 0 });
  await writeTree(root, { 'net/dev': NETDEV_2 });
  const c = createNetworkCollector({ paths: { proc: root, sys: root } });
  await c.collect({ wallMs: 0, monoMs: 0 });
  await writeTree(root, { 'net/dev': NETDEV_1.replace('eth0: 4294967000', 'eth0: 4294967100') });
  const second = await c.collect({ wallMs: 1000, monoMs: 1000 });
  assert.deepEqual(byDefault, []);
  assert.deepEqual([...new Set(second.map((s) => s.labels.interface))], ['eth0']);
  const ifs = parseNetDev(NETDEV_1);
  assert.deepEqual(
    ifs.map((i) => i.interface),
    ['lo', 'eth0'],
  );
  assert.equal(ifs[1]!.receive.drops, 2);
  assert.deepEqual(parseNetDev('eth0: 1 2 3\n'), []);
});

test('mounts: pseudo filesystems and /dev, /proc, /sys skipped; escapes undone; the top mount wins', () => {
  const mounts = parseMounts(MOUNTS);
  assert.deepEqual(mounts, [
    { device: '/dev/vda', mountpoint: '/', fstype: 'ext4' },
    { device: '/dev/vdb', mountpoint: '/mnt/my data', fstype: 'xfs' },
    { device: '/dev/vdc', mountpoint: '/run', fstype: 'tmpfs' },
  ]);
});

test('collectors over a fixture /proc: first round has no rates, the second has exact ones (wrap and reset included)', async (t) => {
  const root = await tempDir(t);
  const paths = { proc: root, sys: root };
  await writeTree(root, { stat: STAT_1, loadavg: LOADAVG, meminfo: MEMINFO, diskstats: DISKSTATS_1, 'net/dev': NETDEV_1 });
  const cpu = createCpuCollector(paths);
  const disk = createDiskCollector(paths);
  const net = createNetworkCollector({ paths, exclude: undefined });
  const mem = createMemoryCollector(paths);

  const t0 = { wallMs: 1_700_000_000_000, monoMs: 10_000 };
  const first = [...(await cpu.collect(t0)), ...(await disk.collect(t0)), ...(await net.collect(t0))];
  assert.deepEqual(
    first.map((s) => s.metric),
    ['node_load1', 'node_load5', 'node_load15'],
    'only gauges on the first round',
  );

  await writeTree(root, { stat: STAT_2, diskstats: DISKSTATS_2, 'net/dev': NETDEV_2 });
  const t1 = { wallMs: t0.wallMs + 2000, monoMs: t0.monoMs + 2000 };
  const c = await cpu.collect(t1);
  close(find(c, 'node_cpu_usage_percent', { mode: 'total' }), 45, 'cpu total');
  close(find(c, 'node_cpu_usage_percent', { mode: 'softirq' }), 5, 'cpu softirq');

  const d = await disk.collect(t1);
  close(find(d, 'node_disk_reads_per_second', { device: 'vda' }), 100, 'vda reads/s');
  close(find(d, 'node_disk_writes_per_second', { device: 'vda' }), 50, 'vda writes/s');
  close(find(d, 'node_disk_read_bytes_per_second', { device: 'vda' }), (4000 * 512) / 2, 'vda read B/s');
  close(find(d, 'node_disk_written_bytes_per_second', { device: 'vda' }), (2000 * 512) / 2, 'vda written B/s');
  close(find(d, 'node_disk_busy_percent', { device: 'vda' }), 25, 'vda busy %');
  assert.equal(find(d, 'node_disk_reads_per_second', { device: 'vda1' }), undefined);

  const n = await net.collect(t1);
  close(find(n, 'node_network_receive_bytes_per_second', { interface: 'lo' }), 1000, 'lo rx B/s');
  close(find(n, 'node_network_receive_bytes_per_second', { interface: 'eth0' }), 248, 'eth0 rx B/s across the 32-bit wrap');
  close(find(n, 'node_network_transmit_bytes_per_second', { interface: 'eth0' }), 50, 'eth0 tx B/s after a reset');
  close(find(n, 'node_network_receive_drops_per_second', { interface: 'eth0' }), 1, 'eth0 rx drops/s');

  const m = await mem.collect(t1);
  assert.equal(find(m, 'node_memory_available_bytes'), 23992264 * 1024);
  for (const s of [...c, ...d, ...n, ...m]) assert.ok(Number.isFinite(s.value), `${s.metric} is finite`);
});

test('collectors never emit NaN or Infinity, even from garbage files or a frozen clock', async (t) => {
  const root = await tempDir(t);
  const paths = { proc: root, sys: root };
  const garbage = 'cpu  NaN inf -1 x\nMemTotal: lots kB\n 8 0 sda a b c d e f g h i j k l m n\n eth0: 1e999 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1\n';
  await writeTree(root, { stat: garbage, loadavg: 'NaN Infinity -1 0/0 0', meminfo: garbage, diskstats: garbage, 'net/dev': garbage, 'self/mounts': garbage });
  const collectors = createDefaultCollectors(paths);
  const now = { wallMs: Date.now(), monoMs: 5000 };
  for (let round = 0; round < 3; round++) {
    for (const c of collectors) {
      for (const s of await c.collect(now)) assert.ok(Number.isFinite(s.value), `${c.name}: ${s.metric} = ${s.value}`);
    }
  }
});

test('filesystem collector measures real mounts of this machine (statfs), root included', async () => {
  const fs = createFilesystemCollector();
  const samples = await fs.collect({ wallMs: Date.now(), monoMs: performance.now() });
  const size = find(samples, 'node_filesystem_size_bytes', { mountpoint: '/' });
  const avail = find(samples, 'node_filesystem_avail_bytes', { mountpoint: '/' });
  assert.ok(size !== undefined && size > 0, 'root filesystem size');
  assert.ok(avail !== undefined && avail <= size);
  assert.ok(samples.every((s) => !s.labels.mountpoint!.startsWith('/proc') && !s.labels.mountpoint!.startsWith('/sys')));
});
