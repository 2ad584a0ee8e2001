/**
 * Collector accuracy: our collectors and a real prometheus-node-exporter (Debian's, 1.5) read the same
 * host over the same window, under a steady load (one CPU burner, fsync'd disk writes, loopback TCP
 * traffic). Node_exporter exports counters; their rates are taken over the window between two scrapes,
 * each taken right after our own reading, so both windows are shifted by the same few milliseconds.
 *
 * Tolerances (the machine is shared and noisy; these are honest yet robust):
 * - cpu usage per mode and total: within 8 percentage points;
 * - memory: total and swap total exact; available, used and cached within 3% or 64 MiB;
 * - disk and network rates: within 15% of the larger value, or a small absolute floor (5 ops/s,
 *   256 KiB/s, 10 packets/s, 32 KiB/s, 10 busy points) for near-idle series;
 * - filesystem: size exact, free and avail within 1% or 128 MiB; the same device and interface sets.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { test } from 'node:test';
import type { Sample } from '../../../src/monitor/agent/collectors/index.js';
import { createDefaultCollectors } from '../../../src/monitor/agent/collectors/index.js';
import { createNetworkCollector } from '../../../src/monitor/agent/collectors/network.js';
import { startProcess, tempDir, trackChild } from '../../testkit/index.js';

const NODE_EXPORTER = process.env.FLOTILLA_TEST_NODE_EXPORTER ?? '/usr/bin/prometheus-node-exporter';

type Scrape = { atMs: number; series: Map<string, number> };

/** Parses the Prometheus text format into `name{k="v",...}` (labels sorted) -> value. */
function parseExposition(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)/.exec(line);
    if (m === null) continue;
    const labels = [...(m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)].map((l) => `${l[1]}=${l[2]}`).sort();
    out.set(`${m[1]}{${labels.join(',')}}`, Number(m[3]));
  }
  return out;
}

async function scrape(port: number): Promise<Scrape> {
  const res = await fetch(`http://127.0.0.1:${port}/metrics`);
  const text = await res.text();
  return { atMs: performance.now(), series: parseExposition(text) };
}

function sumWhere(s: Scrape, name: string, pred: (labels: string) => boolean = () => true): number {
  let total = 0;
  for (const [k, v] of s.series) {
    const i = k.indexOf('{');
    if (k.slice(0, i) === name && pred(k.slice(i + 1, -1))) total += v;
  }
  return total;
}

function labelValues(s: Scrape, name: string, label: string): Set<string> {
  const out = new Set<string>();
  for (const k of s.series.keys()) {
    if (!k.startsWith(`${name}{`)) continue;
    const m = new RegExp(`(?:\\{|,)${label}=([^,}]*)`).exec(k);
    if (m) out.add(m[1]!);
  }
  return out;
}

function ours(samples: Sample[], metric: string, labels: Record<string, string> = {}): number {
  const s = samples.find((x) => x.metric === metric && Object.entries(labels).every(([k, v]) => x.labels[k] === v));
  assert.ok(s !== undefined, `our ${metric} ${JSON.stringify(labels)} is missing`);
  return s.value;
}

function near(what: string, mine: number, theirs: number, relative: number, floor: number): void {
  const diff = Math.abs(mine - theirs);
  const allowed = Math.max(floor, relative * Math.max(Math.abs(mine), Math.abs(theirs)));
  assert.ok(diff <= allowed, `${what}: ours ${mine.toFixed(3)} vs node_exporter ${theirs.toFixed(3)} (diff ${diff.toFixed(3)} > allowed ${allowed.toFixed(3)})`);
}

const LOAD_SCRIPT = `
const fs = require('node:fs'); const net = require('node:net'); const path = require('node:path');
const [dir, ms] = [process.argv[1], Number(process.argv[2])];
const end = Date.now() + ms;
const srv = net.createServer((s) => s.resume()).listen(0, '127.0.0.1', () => {
  const c = net.connect(srv.address().port, '127.0.0.1');
  const chunk = Buffer.alloc(64 * 1024, 7);
  const t = setInterval(() => { if (Date.now() > end) { clearInterval(t); c.end(); srv.close(); } else c.write(chunk); }, 5);
});
const fd = fs.openSync(path.join(dir, 'load.bin'), 'w');
const block = Buffer.alloc(256 * 1024, 1);
(async () => { while (Date.now() < end) { fs.writeSync(fd, block, 0, block.length, 0); fs.fdatasyncSync(fd); await new Promise((r) => setImmediate(r)); } fs.closeSync(fd); })();
`;
const BURN_SCRIPT = `const end = Date.now() + Number(process.argv[1]); while (Date.now() < end) {}`;

test('cpu, memory, disk, network and filesystem agree with prometheus-node-exporter over the same window', { timeout: 90_000 }, async (t) => {
  assert.ok(existsSync(NODE_EXPORTER), `${NODE_EXPORTER} is missing (scripts/test-deps.sh installs prometheus-node-exporter)`);
  const ne = await startProcess({
    name: 'node_exporter',
    command: NODE_EXPORTER,
    ports: ['web'],
    t,
    args: ({ port }) => [`--web.listen-address=127.0.0.1:${port('web')}`, '--log.level=error', '--collector.netdev.device-exclude=^$', '--no-collector.systemd'],
  });
  const port = ne.port('web');
  const dir = await tempDir(t);
  const loadMs = 9000;
  for (const [script, args] of [
    [LOAD_SCRIPT, [dir, String(loadMs)]],
    [BURN_SCRIPT, [String(loadMs)]],
  ] as const) {
    const child = spawn(process.execPath, ['-e', script, ...args], { stdio: 'ignore' });
    trackChild(child);
    t.after(() => child.kill('SIGKILL'));
  }
  await scrape(port); // warm node_exporter up (first scrape is slower)
  await sleep(1500);

  // Both sides keep lo here (node_exporter with --collector.netdev.device-exclude=^$), so the loopback
  // load can be compared; by default both skip it (node_exporter's default exclude is ^lo$).
  const collectors = [...createDefaultCollectors().filter((c) => c.name !== 'network'), createNetworkCollector({ exclude: undefined })];
  const collect = async (): Promise<{ at: number; samples: Sample[] }> => {
    const now = { wallMs: Date.now(), monoMs: performance.now() };
    const samples = (await Promise.all(collectors.map((c) => c.collect(now)))).flat();
    return { at: now.monoMs, samples };
  };
  await collect();
  const s0 = await scrape(port);
  await sleep(4000);
  const mine = (await collect()).samples;
  const s1 = await scrape(port);
  const seconds = (s1.atMs - s0.atMs) / 1000;
  const rate = (name: string, pred?: (labels: string) => boolean): number => (sumWhere(s1, name, pred) - sumWhere(s0, name, pred)) / seconds;

  for (const s of mine) assert.ok(Number.isFinite(s.value), `${s.metric} is finite`);

  // cpu: node_cpu_seconds_total summed over CPUs, per mode.
  const modes = ['user', 'nice', 'system', 'idle', 'iowait', 'irq', 'softirq', 'steal'];
  const delta = Object.fromEntries(modes.map((m) => [m, rate('node_cpu_seconds_total', (l) => l.includes(`mode=${m}`))]));
  const all = Object.values(delta).reduce((a, b) => a + b, 0);
  const pct = (m: string): number => (delta[m]! / all) * 100;
  near('cpu total %', ours(mine, 'node_cpu_usage_percent', { mode: 'total' }), 100 - pct('idle') - pct('iowait'), 0, 8);
  for (const m of ['user', 'system', 'idle']) near(`cpu ${m} %`, ours(mine, 'node_cpu_usage_percent', { mode: m }), pct(m), 0, 8);
  assert.ok(ours(mine, 'node_cpu_usage_percent', { mode: 'total' }) > 20, 'the burner shows up');
  near('load1', ours(mine, 'node_load1'), sumWhere(s1, 'node_load1'), 0.1, 0.3);

  // memory
  const MiB = 1024 * 1024;
  assert.equal(ours(mine, 'node_memory_total_bytes'), sumWhere(s1, 'node_memory_MemTotal_bytes'));
  assert.equal(ours(mine, 'node_memory_swap_total_bytes'), sumWhere(s1, 'node_memory_SwapTotal_bytes'));
  near('memory available', ours(mine, 'node_memory_available_bytes'), sumWhere(s1, 'node_memory_MemAvailable_bytes'), 0.03, 64 * MiB);
  near('memory cached', ours(mine, 'node_memory_cached_bytes'), sumWhere(s1, 'node_memory_Cached_bytes'), 0.03, 64 * MiB);
  near(
    'memory used',
    ours(mine, 'node_memory_used_bytes'),
    sumWhere(s1, 'node_memory_MemTotal_bytes') - sumWhere(s1, 'node_memory_MemAvailable_bytes'),
    0.03,
    64 * MiB,
  );

  // disk: the same devices; rates per device.
  const devices = labelValues(s1, 'node_disk_reads_completed_total', 'device');
  const myDevices = new Set(mine.filter((s) => s.metric === 'node_disk_reads_per_second').map((s) => s.labels.device!));
  assert.deepEqual([...myDevices].sort(), [...devices].sort(), 'the same block devices');
  let diskWrites = 0;
  for (const d of devices) {
    const is = (l: string): boolean => l.includes(`device=${d}`) && !/device=[^,]*[^,]/.test(l.replace(`device=${d}`, ''));
    near(`${d} reads/s`, ours(mine, 'node_disk_reads_per_second', { device: d }), rate('node_disk_reads_completed_total', is), 0.15, 5);
    near(`${d} writes/s`, ours(mine, 'node_disk_writes_per_second', { device: d }), rate('node_disk_writes_completed_total', is), 0.15, 5);
    near(`${d} read B/s`, ours(mine, 'node_disk_read_bytes_per_second', { device: d }), rate('node_disk_read_bytes_total', is), 0.15, 256 * 1024);
    near(`${d} written B/s`, ours(mine, 'node_disk_written_bytes_per_second', { device: d }), rate('node_disk_written_bytes_total', is), 0.15, 256 * 1024);
    near(`${d} busy %`, ours(mine, 'node_disk_busy_percent', { device: d }), Math.min(100, rate('node_disk_io_time_seconds_total', is) * 100), 0.15, 10);
    diskWrites += ours(mine, 'node_disk_writes_per_second', { device: d });
  }
  assert.ok(devices.size === 0 || diskWrites > 0, 'the fsync load shows up as writes');

  // network: the same interfaces; rates per interface.
  const ifaces = labelValues(s1, 'node_network_receive_bytes_total', 'device');
  const myIfaces = new Set(mine.filter((s) => s.metric === 'node_network_receive_bytes_per_second').map((s) => s.labels.interface!));
  assert.deepEqual([...myIfaces].sort(), [...ifaces].sort(), 'the same interfaces');
  for (const i of ifaces) {
    const is = (l: string): boolean => l.split(',').includes(`device=${i}`);
    for (const dir2 of ['receive', 'transmit']) {
      near(`${i} ${dir2} B/s`, ours(mine, `node_network_${dir2}_bytes_per_second`, { interface: i }), rate(`node_network_${dir2}_bytes_total`, is), 0.15, 32 * 1024);
      near(`${i} ${dir2} packets/s`, ours(mine, `node_network_${dir2}_packets_per_second`, { interface: i }), rate(`node_network_${dir2}_packets_total`, is), 0.15, 10);
      near(`${i} ${dir2} errors/s`, ours(mine, `node_network_${dir2}_errors_per_second`, { interface: i }), rate(`node_network_${dir2}_errs_total`, is), 0.15, 1);
      near(`${i} ${dir2} drops/s`, ours(mine, `node_network_${dir2}_drops_per_second`, { interface: i }), rate(`node_network_${dir2}_drop_total`, is), 0.15, 1);
    }
  }
  assert.ok(ours(mine, 'node_network_receive_bytes_per_second', { interface: 'lo' }) > 1024 * 1024, 'the loopback load shows up');

  // filesystem: the root filesystem.
  const root = (l: string): boolean => l.split(',').includes('mountpoint=/');
  assert.equal(ours(mine, 'node_filesystem_size_bytes', { mountpoint: '/' }), sumWhere(s1, 'node_filesystem_size_bytes', root));
  near('/ free', ours(mine, 'node_filesystem_free_bytes', { mountpoint: '/' }), sumWhere(s1, 'node_filesystem_free_bytes', root), 0.01, 128 * MiB);
  near('/ avail', ours(mine, 'node_filesystem_avail_bytes', { mountpoint: '/' }), sumWhere(s1, 'node_filesystem_avail_bytes', root), 0.01, 128 * MiB);
  assert.equal(ours(mine, 'node_filesystem_files', { mountpoint: '/' }), sumWhere(s1, 'node_filesystem_files', root));
  const theirMounts = labelValues(s1, 'node_filesystem_size_bytes', 'mountpoint');
  const myMounts = new Set(mine.filter((s) => s.metric === 'node_filesystem_size_bytes').map((s) => s.labels.mountpoint!));
  for (const m of theirMounts) assert.ok(myMounts.has(m), `node_exporter measures ${m}, we do not`);
});
