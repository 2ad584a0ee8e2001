// Parsers of the containers collector over fixture text, and the collector over a fixture tree laid out
// as a hybrid host (cgroup2 for cpu, v1 for memory) and as a pure cgroup v2 host.
import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { it } from 'node:test';
import {
  identifyCgroup,
  parseBlkioTotals,
  parseCgroupMounts,
  parseFlatKeyed,
  parseIoStat,
  parseSingleValue,
} from '../../../src/monitor/agent/collectors/cgroup-parse.js';
import { parseDockerConfig, parsePodmanContainers } from '../../../src/monitor/agent/collectors/cgroup-names.js';
import { createCgroupCollector } from '../../../src/monitor/agent/collectors/cgroup.js';
import { tempDir } from '../../testkit/index.js';

const ID = 'a'.repeat(64);

it('finds the cgroup2 mount and the v1 hierarchies of a hybrid host in /proc/self/mounts', () => {
  const mounts = [
    'cgroup /sys/fs/cgroup/cpu,cpuacct cgroup rw,nosuid,nodev,noexec,relatime,cpu,cpuacct 0 0',
    'cgroup /sys/fs/cgroup/memory cgroup rw,nosuid,nodev,noexec,relatime,memory 0 0',
    'cgroup2 /sys/fs/cgroup/unified cgroup2 rw,nosuid,nodev,noexec,relatime,nsdelegate 0 0',
    'cgroup /sys/fs/cgroup/systemd cgroup rw,xattr,name=systemd 0 0',
    'proc /proc proc rw 0 0',
    'garbage',
  ].join('\n');
  assert.deepEqual(parseCgroupMounts(mounts), {
    unified: '/sys/fs/cgroup/unified',
    v1: { cpu: '/sys/fs/cgroup/cpu,cpuacct', cpuacct: '/sys/fs/cgroup/cpu,cpuacct', memory: '/sys/fs/cgroup/memory' },
  });
  assert.deepEqual(parseCgroupMounts('cgroup2 /sys/fs/cgroup cgroup2 rw 0 0\n'), { unified: '/sys/fs/cgroup', v1: {} });
  assert.deepEqual(parseCgroupMounts(''), { unified: undefined, v1: {} });
});

it('parses cpu.stat, single values with max and v1 no-limit, io.stat and blkio', () => {
  const m = parseFlatKeyed('usage_usec 2000\nuser_usec 1500\nsystem_usec x\nnr_periods 10\n\nbad line here\n');
  assert.deepEqual([...m], [['usage_usec', 2000], ['user_usec', 1500], ['nr_periods', 10]]);
  assert.equal(parseSingleValue('max\n'), 'max');
  assert.equal(parseSingleValue('9223372036854771712\n'), 'max');
  assert.equal(parseSingleValue('1048576\n'), 1048576);
  assert.equal(parseSingleValue('-1'), undefined);
  assert.equal(parseSingleValue(''), undefined);
  assert.deepEqual(parseIoStat('8:0 rbytes=100 wbytes=200 rios=1 wios=2 dbytes=0 dios=0\n8:16 rbytes=1 wbytes=2 rios=3 wios=4\nnonsense\n'), {
    readBytes: 101,
    writtenBytes: 202,
    reads: 4,
    writes: 6,
  });
  assert.deepEqual(parseBlkioTotals('8:0 Read 10\n8:0 Write 20\n8:0 Sync 5\n8:0 Total 30\n8:16 Read 1\nTotal 31\n'), { read: 11, write: 20 });
});

it('names containers and units from cgroup paths (Docker, Podman, containerd, CRI-O, Kubernetes, systemd)', () => {
  assert.deepEqual(identifyCgroup(`/system.slice/docker-${ID}.scope`), { runtime: 'docker', id: ID, unit: `docker-${ID}.scope` });
  assert.deepEqual(identifyCgroup(`/docker/${ID}`), { runtime: 'docker', id: ID });
  assert.deepEqual(identifyCgroup(`/machine.slice/libpod-${ID}.scope/container`), { runtime: 'podman', id: ID });
  assert.deepEqual(identifyCgroup(`/system.slice/cri-containerd-${ID}.scope`), { runtime: 'containerd', id: ID, unit: `cri-containerd-${ID}.scope` });
  assert.deepEqual(identifyCgroup(`/kubepods/burstable/pod1234/${ID}`), { runtime: 'containerd', id: ID });
  assert.deepEqual(identifyCgroup('/system.slice/ssh.service'), { unit: 'ssh.service' });
  assert.deepEqual(identifyCgroup('/system.slice/system-getty.slice/getty@tty1.service'), { unit: 'getty@tty1.service' });
  assert.deepEqual(identifyCgroup('/user.slice/user\\x2d1000.slice'), { unit: 'user-1000.slice' });
  assert.deepEqual(identifyCgroup('/flotilla-test'), {});
});

it('reads container names and images from Docker and Podman state files, tolerating junk', () => {
  assert.deepEqual(parseDockerConfig({ Name: '/web', Config: { Image: 'nginx:1.25' } }), { name: 'web', image: 'nginx:1.25' });
  assert.deepEqual(parseDockerConfig(null), {});
  assert.deepEqual(parseDockerConfig({ Name: 5 }), {});
  const podman = parsePodmanContainers([
    { id: ID, names: ['db'], metadata: JSON.stringify({ 'image-name': 'docker.io/library/postgres:15' }) },
    { id: 'b', names: [], metadata: '{not json' },
    'junk',
  ]);
  assert.deepEqual(podman.get(ID), { name: 'db', image: 'docker.io/library/postgres:15' });
  assert.deepEqual(podman.get('b'), {});
  assert.equal(parsePodmanContainers({}).size, 0);
});

async function put(root: string, rel: string, files: Record<string, string>): Promise<void> {
  await mkdir(join(root, rel), { recursive: true });
  for (const [name, text] of Object.entries(files)) await writeFile(join(root, rel, name), text);
}

it('collects per cgroup from a hybrid layout: cpu from cgroup2, memory, throttling, io and pids from v1; labels from Docker state', async (t) => {
  const dir = await tempDir(t);
  const layout = { unified: join(dir, 'unified'), v1: { memory: join(dir, 'memory'), cpu: join(dir, 'cpu'), cpuacct: join(dir, 'cpu'), blkio: join(dir, 'blkio'), pids: join(dir, 'pids') } };
  const cg = `/system.slice/docker-${ID}.scope`;
  await put(join(dir, 'docker'), `containers/${ID}`, { 'config.v2.json': JSON.stringify({ Name: '/web', Config: { Image: 'nginx:1.25' } }) });
  const round = async (usage: number, mem: number, io: number, throttled: number): Promise<void> => {
    await put(layout.unified, cg, { 'cpu.stat': `usage_usec ${usage}\nuser_usec ${usage / 2}\nsystem_usec ${usage / 2}\n`, 'cgroup.procs': '' });
    await put(layout.v1.memory, cg, { 'memory.usage_in_bytes': `${mem}\n`, 'memory.max_usage_in_bytes': `${mem * 2}\n`, 'memory.limit_in_bytes': '9223372036854771712\n' });
    await put(layout.v1.cpu, cg, { 'cpu.stat': `nr_periods ${throttled * 4}\nnr_throttled ${throttled}\nthrottled_time ${throttled * 1e6}\n` });
    await put(layout.v1.blkio, cg, { 'blkio.throttle.io_service_bytes': `8:0 Read ${io}\n8:0 Write ${io * 2}\n8:0 Total ${io * 3}\n`, 'blkio.throttle.io_serviced': `8:0 Read ${io / 512}\n8:0 Write 0\n` });
    await put(layout.v1.pids, cg, { 'pids.current': '7\n', 'pids.max': 'max\n' });
    await put(layout.v1.memory, '/system.slice', { 'memory.usage_in_bytes': `${mem * 10}\n` });
  };
  const c = createCgroupCollector({ proc: join(dir, 'proc'), layout, names: { dockerRoot: join(dir, 'docker') } });
  await round(1_000_000, 1000, 0, 0);
  const first = await c.collect({ wallMs: 1, monoMs: 0 });
  await round(3_000_000, 5000, 1024 * 1024, 10);
  const second = await c.collect({ wallMs: 2, monoMs: 2000 });
  const get = (samples: typeof second, metric: string, path = cg): number | undefined => samples.find((s) => s.metric === metric && s.labels.cgroup === path)?.value;
  assert.equal(get(first, 'container_cpu_usage_cores'), undefined, 'no rate on the first round');
  assert.equal(get(first, 'container_memory_current_bytes'), 1000);
  assert.equal(get(second, 'container_cpu_usage_cores'), 1);
  assert.equal(get(second, 'container_cpu_user_cores'), 0.5);
  assert.equal(get(second, 'container_memory_current_bytes'), 5000);
  assert.equal(get(second, 'container_memory_peak_bytes'), 10000);
  assert.equal(get(second, 'container_memory_max_bytes'), undefined, 'no limit: not reported');
  assert.equal(get(second, 'container_cpu_throttled_percent'), 25);
  assert.equal(get(second, 'container_cpu_throttled_seconds_per_second'), 0.005);
  assert.equal(get(second, 'container_io_read_bytes_per_second'), 512 * 1024);
  assert.equal(get(second, 'container_io_written_bytes_per_second'), 1024 * 1024);
  assert.equal(get(second, 'container_pids_current'), 7);
  assert.equal(get(second, 'container_pids_max'), undefined);
  assert.deepEqual(second.find((s) => s.metric === 'container_cpu_usage_cores' && s.labels.cgroup === cg)!.labels, {
    cgroup: cg,
    unit: `docker-${ID}.scope`,
    runtime: 'docker',
    container_id: ID.slice(0, 12),
    container: 'web',
    image: 'nginx:1.25',
  });
  // The parent slice is a cgroup too (a system service group), reported under its own path.
  assert.ok(second.some((s) => s.labels.cgroup === '/system.slice' && s.labels.unit === 'system.slice'));
  for (const s of second) assert.ok(Number.isFinite(s.value));
});

it('collects from a pure cgroup v2 layout with memory.max and io.stat, and bounds the number of cgroups', async (t) => {
  const dir = await tempDir(t);
  const layout = { unified: join(dir, 'cg'), v1: {} };
  for (let i = 0; i < 5; i++) {
    await put(layout.unified, `/svc${i}.service`, {
      'cpu.stat': 'usage_usec 10\nuser_usec 5\nsystem_usec 5\nnr_periods 0\nnr_throttled 0\nthrottled_usec 0\n',
      'memory.current': '4096\n',
      'memory.peak': '8192\n',
      'memory.max': '1073741824\n',
      'memory.high': 'max\n',
      'io.stat': '8:0 rbytes=1 wbytes=2 rios=3 wios=4 dbytes=0 dios=0\n',
      'pids.current': '2\n',
      'pids.max': '100\n',
    });
  }
  const c = createCgroupCollector({ proc: join(dir, 'proc'), layout, maxCgroups: 3 });
  const s = await c.collect({ wallMs: 1, monoMs: 0 });
  assert.equal(new Set(s.map((x) => x.labels.cgroup)).size, 3);
  const one = s.filter((x) => x.labels.cgroup === s[0]!.labels.cgroup);
  const by = Object.fromEntries(one.map((x) => [x.metric, x.value]));
  assert.deepEqual(by, { container_memory_current_bytes: 4096, container_memory_peak_bytes: 8192, container_memory_max_bytes: 1073741824, container_pids_current: 2, container_pids_max: 100 });
});
