// The containers collector on this machine's real cgroups: the test makes two cgroups, starts a busy
// process that allocates 96 MiB in one and an idle process in the other, and sees cpu and memory
// attributed to each. On a pure cgroup v2 host the cgroups are made under the v2 root
// (/sys/fs/cgroup/flotilla-test-XXXX). On a hybrid host (cgroup2 at /sys/fs/cgroup/unified with no
// memory controller, memory still a v1 hierarchy, as this CI machine) the same relative path is made in
// both trees, below this process's own v1 memory cgroup so that the test never leaves its memory limit;
// cpu then comes from cgroup2's cpu.stat and memory from v1, as the collector reads them.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { createCgroupCollector } from '../../../src/monitor/agent/collectors/cgroup.js';
import { parseCgroupMounts } from '../../../src/monitor/agent/collectors/cgroup-parse.js';
import type { Sample } from '../../../src/monitor/agent/collectors/index.js';

const CHILD = `
process.stdin.once('data', () => {
  const busy = process.argv[1] === 'busy';
  const keep = busy ? Buffer.alloc(96 * 1024 * 1024, 1) : null;
  const end = Date.now() + 20000;
  const spin = () => { if (busy) { const t = Date.now(); while (Date.now() - t < 50) {} } if (Date.now() < end) setTimeout(spin, busy ? 0 : 100); else void keep; };
  process.stdout.write('go\\n');
  spin();
});
`;

it('attributes cpu and memory of processes to the cgroups the test put them in', { timeout: 60_000 }, async (t) => {
  const layout = parseCgroupMounts(readFileSync('/proc/self/mounts', 'utf8'));
  assert.ok(layout.unified !== undefined, 'no cgroup2 mount on this host');
  const unified = layout.unified;
  const controllers = readFileSync(join(unified, 'cgroup.controllers'), 'utf8').split(/\s+/);
  const memoryV1 = !controllers.includes('memory') ? layout.v1.memory : undefined;
  assert.ok(controllers.includes('memory') || memoryV1 !== undefined, 'memory is neither a cgroup2 controller nor a v1 hierarchy here');
  if (memoryV1 === undefined && !readFileSync(join(unified, 'cgroup.subtree_control'), 'utf8').includes('memory')) {
    writeFileSync(join(unified, 'cgroup.subtree_control'), '+memory');
  }
  // Hybrid: below our own v1 memory cgroup; pure v2: at the root.
  const own = readFileSync('/proc/self/cgroup', 'utf8')
    .split('\n')
    .find((l) => l.split(':')[1]?.split(',').includes('memory'))
    ?.split(':')[2];
  const base = memoryV1 !== undefined && own !== undefined ? own : '/';
  const suffix = `flotilla-test-${process.pid}-${Date.now().toString(36)}`;
  const roots = [unified, ...(memoryV1 !== undefined ? [memoryV1] : [])];

  const made: string[] = [];
  const children: ChildProcess[] = [];
  t.after(async () => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    await Promise.all(children.map(async (c) => (c.exitCode === null && c.signalCode === null ? once(c, 'exit') : undefined)));
    for (const dir of made.reverse()) {
      for (let i = 0; i < 50 && existsSync(dir); i++) {
        try {
          rmdirSync(dir);
        } catch {
          await sleep(100); // the kernel frees a cgroup shortly after its last process exits
        }
      }
    }
  });
  const mkdirs = (root: string, rel: string): void => {
    let cur = root;
    for (const part of rel.split('/').filter((p) => p !== '')) {
      cur = join(cur, part);
      if (!existsSync(cur)) {
        mkdirSync(cur);
        made.push(cur);
      }
    }
  };
  const paths = { busy: join(base, `${suffix}-busy`), idle: join(base, `${suffix}-idle`) };
  for (const rel of Object.values(paths)) for (const root of roots) mkdirs(root, rel);

  for (const kind of ['busy', 'idle'] as const) {
    const child = spawn(process.execPath, ['-e', CHILD, kind], { stdio: ['pipe', 'pipe', 'inherit'] });
    children.push(child);
    await once(child, 'spawn');
    for (const root of roots) writeFileSync(join(root, paths[kind], 'cgroup.procs'), String(child.pid));
    child.stdin.write('go\n');
    await once(child.stdout, 'data');
  }

  const collector = createCgroupCollector();
  const pick = (samples: Sample[], metric: string, rel: string): number | undefined => samples.find((s) => s.metric === metric && s.labels.cgroup === rel)?.value;
  let first: Sample[] = [];
  let last: Sample[] = [];
  // Two rounds a second apart give a cpu rate; a few more rounds if the allocation is not charged yet.
  for (let round = 0; round < 10; round++) {
    last = await collector.collect({ wallMs: Date.now(), monoMs: performance.now() });
    if (round === 0) first = last;
    if (round > 0 && (pick(last, 'container_memory_current_bytes', paths.busy) ?? 0) >= 90 * 1024 * 1024) break;
    await sleep(1_000);
  }
  assert.ok(pick(first, 'container_memory_current_bytes', paths.busy) !== undefined, 'the test cgroup is reported');
  const busyCpu = pick(last, 'container_cpu_usage_cores', paths.busy);
  const idleCpu = pick(last, 'container_cpu_usage_cores', paths.idle);
  const busyMem = pick(last, 'container_memory_current_bytes', paths.busy);
  const idleMem = pick(last, 'container_memory_current_bytes', paths.idle);
  assert.ok(busyCpu !== undefined && idleCpu !== undefined, 'cpu reported for both');
  assert.ok(busyMem !== undefined && idleMem !== undefined, 'memory reported for both');
  // The busy process spins most of the time: well above a tenth of a core; the idle one far below it.
  assert.ok(busyCpu > 0.1, `busy cgroup cpu ${busyCpu}`);
  assert.ok(idleCpu < busyCpu, `idle ${idleCpu} < busy ${busyCpu}`);
  assert.ok(busyMem >= 90 * 1024 * 1024, `busy cgroup memory ${busyMem} holds its 96 MiB`);
  assert.ok(idleMem < busyMem - 64 * 1024 * 1024, `idle cgroup memory ${idleMem}`);
  assert.ok((pick(last, 'container_memory_peak_bytes', paths.busy) ?? 0) >= busyMem);
  const labels = last.find((s) => s.labels.cgroup === paths.busy)!.labels;
  assert.equal(labels.cgroup, paths.busy);
});
