/**
 * `npm run bench -- kv`: a 3-node Flotilla KV cluster and a 3-member real etcd cluster on this machine,
 * driven one after the other by the same load generator (C clients, V-byte values, 80/20 get/put);
 * prints ops/s, p50 and p99 latency for each and the Flotilla/etcd ratios. Goal: Flotilla >= etcd's
 * throughput with p99 <= etcd's. Everything started is stopped at the end, on error and on Ctrl-C.
 */
import { cpus, loadavg } from 'node:os';
import { Code, FlotillaError } from '../../src/core/errors.js';
import { BenchCleanup } from '../coord/bench-cleanup.js';
import { checkBuild } from '../coord/peers.js';
import { fmt, ratio, table } from '../coord/stats.js';
import { preload, runLoad, type LoadOptions, type LoadResult } from './load.js';
import { etcdAdapter, flotillaAdapter, startEtcdCluster, startFlotillaCluster } from './peers.js';
import { cpuSeconds, runSideBySide } from './side-by-side.js';

const USAGE = `usage: npm run bench -- kv [--quick] [--clients 64] [--seconds 10] [--value-bytes 100] [--baseline DIR [--rounds 3]]

  --quick            3 s per store after 1 s of warm-up (a smoke run)
  --baseline DIR     instead of etcd: this checkout's Flotilla and DIR's (another checkout, dist/ built),
                     loaded at the same time, --rounds times (default 3; --clients per cluster, default 32)
  --clients N        concurrent clients, one request in flight each (default 64)
  --seconds N        measured seconds per store (default 10)
  --value-bytes N    value size (default 100)
  --help             this text
Needs dist/ built (npx tsc -p tsconfig.build.json) and Debian's etcd-server.`;

interface Parsed extends LoadOptions {
  baseline?: string;
  rounds: number;
}

function parse(args: readonly string[]): Parsed | undefined {
  const o: Parsed = { clients: 64, seconds: 10, warmupSeconds: 2, valueBytes: 100, keys: 10_000, getRatio: 0.8, rounds: 3 };
  let clientsGiven = false;
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    const num = (): number => {
      const v = Number(args[++i]);
      if (!Number.isInteger(v) || v < 1) throw new FlotillaError(Code.INVALID_ARGUMENT, `bench kv: ${a} needs a positive integer`);
      return v;
    };
    if (a === '--help' || a === '-h') return undefined;
    else if (a === '--quick') Object.assign(o, { seconds: 3, warmupSeconds: 1, keys: 2000 });
    else if (a === '--clients') {
      o.clients = num();
      clientsGiven = true;
    } else if (a === '--rounds') o.rounds = num();
    else if (a === '--baseline') {
      const dir = args[++i];
      if (dir === undefined || dir.startsWith('--')) throw new FlotillaError(Code.INVALID_ARGUMENT, `bench kv: --baseline needs a directory\n${USAGE}`);
      o.baseline = dir;
    }
    else if (a === '--seconds') o.seconds = num();
    else if (a === '--value-bytes') o.valueBytes = num();
    else throw new FlotillaError(Code.INVALID_ARGUMENT, `bench kv: unknown flag ${String(a)}\n${USAGE}`);
  }
  // Side by side, two clusters share the machine and the load generator: half the clients each by default.
  if (o.baseline !== undefined && !clientsGiven) o.clients = 32;
  return o;
}

export async function runKvBench(args: readonly string[]): Promise<void> {
  const o = parse(args);
  if (o === undefined) {
    console.log(USAGE);
    return;
  }
  const warning = await checkBuild();
  if (warning !== undefined) process.stderr.write(`${warning}\n`);
  const owner = new BenchCleanup();
  owner.installSignalHandlers();
  if (o.baseline !== undefined) {
    try {
      await runSideBySide(o.baseline, o, o.rounds, owner);
    } catch (err) {
      owner.passed = false;
      throw err;
    } finally {
      await owner.run();
    }
    return;
  }
  const results: Record<'etcd' | 'flotilla', LoadResult> = {} as Record<'etcd' | 'flotilla', LoadResult>;
  const cpuPerOp: Record<'etcd' | 'flotilla', { server: number; client: number }> = {} as Record<'etcd' | 'flotilla', { server: number; client: number }>;
  try {
    process.stderr.write(`bench kv: ${cpus().length} cores, load average ${loadavg().map((l) => l.toFixed(2)).join(' ')}\n`);
    process.stderr.write('  starting a 3-member etcd cluster and a 3-node Flotilla cluster ...\n');
    const [etcdCluster, flotillaCluster] = await Promise.all([startEtcdCluster(owner), startFlotillaCluster(owner)]);
    for (const [name, adapter, pids] of [
      ['etcd', etcdAdapter(etcdCluster.endpoints, o.clients), etcdCluster.pids],
      ['flotilla', flotillaAdapter(flotillaCluster.endpoints, o.clients), flotillaCluster.pids],
    ] as const) {
      try {
        process.stderr.write(`  ${name}: preloading ${o.keys} keys, then ${o.warmupSeconds} s warm-up and ${o.seconds} s measured\n`);
        await preload(adapter, o, '/bench/kv/');
        const cpu0 = cpuSeconds(pids);
        const self0 = process.cpuUsage();
        const r = await runLoad(adapter, o, '/bench/kv/');
        const self = process.cpuUsage(self0);
        // CPU per operation over the whole run (warm-up included): a measure the machine's other load
        // does not skew the way it skews ops/s.
        const allOps = r.ops * ((o.seconds + o.warmupSeconds) / o.seconds);
        results[name] = r;
        cpuPerOp[name] = { server: ((cpuSeconds(pids) - cpu0) * 1000) / allOps, client: ((self.user + self.system) / 1000) / allOps };
      } finally {
        await adapter.close();
      }
    }
  } catch (err) {
    owner.passed = false;
    throw err;
  } finally {
    await owner.run();
  }
  const e = results.etcd;
  const f = results.flotilla;
  console.log(`\nKV: 3 nodes each, ${o.clients} clients, ${o.valueBytes}-byte values, ${Math.round(o.getRatio * 100)}/${Math.round((1 - o.getRatio) * 100)} get/put, ${o.seconds} s\n`);
  console.log(
    table(
      ['', 'etcd 3-member', 'flotilla 3-node', 'flotilla/etcd'],
      [
        ['ops/s', fmt(e.opsPerSecond), fmt(f.opsPerSecond), ratio(f.opsPerSecond, e.opsPerSecond)],
        ['p50 ms', fmt(e.p50Ms, 2), fmt(f.p50Ms, 2), ratio(f.p50Ms, e.p50Ms)],
        ['p99 ms', fmt(e.p99Ms, 2), fmt(f.p99Ms, 2), ratio(f.p99Ms, e.p99Ms)],
        ['errors', String(e.errors), String(f.errors), ''],
        ['server CPU ms/op', fmt(cpuPerOp.etcd.server, 3), fmt(cpuPerOp.flotilla.server, 3), ratio(cpuPerOp.flotilla.server, cpuPerOp.etcd.server)],
        ['client CPU ms/op', fmt(cpuPerOp.etcd.client, 3), fmt(cpuPerOp.flotilla.client, 3), ratio(cpuPerOp.flotilla.client, cpuPerOp.etcd.client)],
      ],
    ),
  );
  console.log(`load average at the end ${loadavg().map((l) => l.toFixed(2)).join(' ')} (${cpus().length} cores)`);
  const met = f.opsPerSecond >= e.opsPerSecond && f.p99Ms <= e.p99Ms;
  console.log(`\ngoal (flotilla ops/s >= etcd's and p99 <= etcd's): ${met ? 'met' : 'NOT met'}`);
}
