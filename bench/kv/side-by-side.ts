/**
 * `npm run bench -- kv --baseline DIR`: this checkout's Flotilla KV cluster and the one of another
 * checkout (DIR, with its dist/ built, e.g. a copy of the previous commit) loaded at the same time by the
 * same load generator, in rounds: ops/s, p99 and server CPU per operation of each, and the ratios.
 *
 * Why: on a shared machine two runs one after the other differ more than a code change does (CPU per
 * operation of the same code varied 0.89-1.15 ms between runs); run side by side, both clusters see the
 * same load, so the CPU-per-operation ratio shows the change.
 */
import { existsSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Code, FlotillaError } from '../../src/core/errors.js';
import type { BenchCleanup } from '../coord/bench-cleanup.js';
import { fmt, ratio, table } from '../coord/stats.js';
import { preload, runLoad, type KvAdapter, type LoadOptions } from './load.js';
import * as ours from './peers.js';
import { cpuSecondsOfAll } from '../proc.js';

type Peers = Pick<typeof ours, 'startFlotillaCluster' | 'flotillaAdapter'>;

async function loadBaseline(dir: string): Promise<Peers> {
  const root = resolve(dir);
  const peers = join(root, 'bench', 'kv', 'peers.ts');
  if (!existsSync(peers) || !existsSync(join(root, 'dist', 'cli', 'main.js'))) {
    throw new FlotillaError(Code.INVALID_ARGUMENT, `bench kv: --baseline ${dir} needs a Flotilla checkout with bench/kv/peers.ts and dist/ built (npx tsc -p tsconfig.build.json there)`);
  }
  return (await import(pathToFileURL(peers).href)) as Peers;
}

export async function runSideBySide(baselineDir: string, o: LoadOptions, rounds: number, owner: BenchCleanup): Promise<void> {
  const base = await loadBaseline(baselineDir);
  process.stderr.write(`bench kv: this checkout against ${resolve(baselineDir)}, side by side, ${rounds} rounds, load average ${loadavg().map((l) => l.toFixed(2)).join(' ')}\n`);
  const [cb, cn] = await Promise.all([base.startFlotillaCluster(owner), ours.startFlotillaCluster(owner)]);
  const adapters: KvAdapter[] = [base.flotillaAdapter(cb.endpoints, o.clients), ours.flotillaAdapter(cn.endpoints, o.clients)];
  const rows: string[][] = [];
  try {
    await Promise.all(adapters.map((a) => preload(a, o, '/bench/kv/')));
    for (let round = 1; round <= rounds; round++) {
      const before = [cpuSecondsOfAll(cb.pids), cpuSecondsOfAll(cn.pids)];
      const [rb, rn] = await Promise.all(adapters.map((a) => runLoad(a, o, '/bench/kv/')));
      // CPU per operation over the whole run (warm-up included), as in the etcd comparison.
      const scale = (o.seconds + o.warmupSeconds) / o.seconds;
      const mb = ((cpuSecondsOfAll(cb.pids) - before[0]!) * 1000) / (rb!.ops * scale);
      const mn = ((cpuSecondsOfAll(cn.pids) - before[1]!) * 1000) / (rn!.ops * scale);
      rows.push([
        String(round),
        loadavg()[0]!.toFixed(1),
        `${fmt(rb!.opsPerSecond)} / ${fmt(rn!.opsPerSecond)}`,
        ratio(rn!.opsPerSecond, rb!.opsPerSecond),
        `${fmt(rb!.p99Ms, 0)} / ${fmt(rn!.p99Ms, 0)}`,
        `${fmt(mb, 3)} / ${fmt(mn, 3)}`,
        ratio(mn, mb),
      ]);
    }
  } finally {
    await Promise.all(adapters.map((a) => a.close()));
  }
  console.log(`\nKV side by side: ${o.clients} clients on each cluster at once, ${o.valueBytes}-byte values, ${o.seconds} s per round\n`);
  console.log(table(['round', 'load', 'ops/s baseline / this', 'ratio', 'p99 ms baseline / this', 'server CPU ms/op baseline / this', 'CPU ratio'], rows));
}
