/**
 * `npm run bench -- kv`: a 3-node Flotilla KV cluster and a 3-member real etcd cluster on this machine,
 * driven one after the other by the same load generator (C clients, V-byte values, 80/20 get/put), in
 * rounds whose first store alternates; prints the medians of ops/s, p50 and p99 latency for each, the
 * Flotilla/etcd ratios and each round's numbers. Goal: Flotilla >= etcd's
 * throughput with p99 <= etcd's. Everything started is stopped at the end, on error and on Ctrl-C.
 */
import { cpus, loadavg } from 'node:os';
import { Code, FlotillaError } from '../../src/core/errors.js';
import { BenchCleanup } from '../coord/bench-cleanup.js';
import { checkBuild } from '../coord/peers.js';
import { fmt, ratio, table } from '../coord/stats.js';
import { preload, runLoad, type LoadOptions, type LoadResult } from './load.js';
import { etcdAdapter, flotillaAdapter, startEtcdCluster, startFlotillaCluster } from './peers.js';
import { cpuSecondsOfAll } from '../proc.js';
import { runSideBySide } from './side-by-side.js';

const USAGE = `usage: npm run bench -- kv [--quick] [--rounds 3] [--clients 64] [--seconds 10] [--value-bytes 100] [--baseline DIR]

  --quick            one round, 3 s per store after 1 s of warm-up (a smoke run)
  --rounds N         rounds (default 3): each loads both stores, the one that goes first alternates;
                     the table shows medians, the goal is judged on them
  --baseline DIR     instead of etcd: this checkout's Flotilla and DIR's (another checkout, dist/ built),
                     loaded at the same time, --rounds times (--clients per cluster, default 32)
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
  let roundsGiven = false;
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    const num = (): number => {
      const v = Number(args[++i]);
      if (!Number.isInteger(v) || v < 1) throw new FlotillaError(Code.INVALID_ARGUMENT, `bench kv: ${a} needs a positive integer`);
      return v;
    };
    if (a === '--help' || a === '-h') return undefined;
    else if (a === '--quick') {
      Object.assign(o, { seconds: 3, warmupSeconds: 1, keys: 2000 });
      if (!roundsGiven) o.rounds = 1;
    }
    else if (a === '--clients') {
      o.clients = num();
      clientsGiven = true;
    } else if (a === '--rounds') {
      o.rounds = num();
      roundsGiven = true;
    }
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
  type Peer = 'etcd' | 'flotilla';
  type Round = { load: LoadResult; server: number; client: number };
  const rounds: Record<Peer, Round[]> = { etcd: [], flotilla: [] };
  try {
    process.stderr.write(`bench kv: ${cpus().length} cores, load average ${loadavg().map((l) => l.toFixed(2)).join(' ')}\n`);
    process.stderr.write('  starting a 3-member etcd cluster and a 3-node Flotilla cluster ...\n');
    const [etcdCluster, flotillaCluster] = await Promise.all([startEtcdCluster(owner), startFlotillaCluster(owner)]);
    const peers = {
      etcd: { adapter: etcdAdapter(etcdCluster.endpoints, o.clients), pids: etcdCluster.pids },
      flotilla: { adapter: flotillaAdapter(flotillaCluster.endpoints, o.clients), pids: flotillaCluster.pids },
    };
    try {
      for (const name of ['etcd', 'flotilla'] as const) {
        process.stderr.write(`  ${name}: preloading ${o.keys} keys\n`);
        await preload(peers[name].adapter, o, '/bench/kv/');
      }
      // Each round loads both stores one after the other; which goes first alternates every round, so
      // neither always meets the machine in the same state (both clusters stay up the whole run).
      for (let round = 0; round < o.rounds; round++) {
        const order: Peer[] = round % 2 === 0 ? ['etcd', 'flotilla'] : ['flotilla', 'etcd'];
        for (const name of order) {
          const { adapter, pids } = peers[name];
          process.stderr.write(`  round ${round + 1}/${o.rounds}, ${name}: ${o.warmupSeconds} s warm-up and ${o.seconds} s measured\n`);
          const cpu0 = cpuSecondsOfAll(pids);
          const self0 = process.cpuUsage();
          const r = await runLoad(adapter, o, '/bench/kv/');
          const self = process.cpuUsage(self0);
          // CPU per operation over the whole run (warm-up included): a measure the machine's other load
          // does not skew the way it skews ops/s.
          const allOps = r.ops * ((o.seconds + o.warmupSeconds) / o.seconds);
          rounds[name].push({ load: r, server: ((cpuSecondsOfAll(pids) - cpu0) * 1000) / allOps, client: (self.user + self.system) / 1000 / allOps });
        }
      }
    } finally {
      await Promise.all([peers.etcd.adapter.close(), peers.flotilla.adapter.close()]);
    }
  } catch (err) {
    owner.passed = false;
    throw err;
  } finally {
    await owner.run();
  }
  const median = (xs: number[]): number => {
    const s = [...xs].sort((a, b) => a - b);
    const mid = Math.floor(s.length / 2);
    return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
  };
  const med = (name: Peer, pick: (r: Round) => number): number => median(rounds[name].map(pick));
  const e = { ops: med('etcd', (r) => r.load.opsPerSecond), p50: med('etcd', (r) => r.load.p50Ms), p99: med('etcd', (r) => r.load.p99Ms), errors: rounds.etcd.reduce((n, r) => n + r.load.errors, 0), server: med('etcd', (r) => r.server), client: med('etcd', (r) => r.client) };
  const f = { ops: med('flotilla', (r) => r.load.opsPerSecond), p50: med('flotilla', (r) => r.load.p50Ms), p99: med('flotilla', (r) => r.load.p99Ms), errors: rounds.flotilla.reduce((n, r) => n + r.load.errors, 0), server: med('flotilla', (r) => r.server), client: med('flotilla', (r) => r.client) };
  const n = o.rounds;
  console.log(`\nKV: 3 nodes each, ${o.clients} clients, ${o.valueBytes}-byte values, ${Math.round(o.getRatio * 100)}/${Math.round((1 - o.getRatio) * 100)} get/put, ${o.seconds} s per store and round, ${n} round${n === 1 ? '' : 's'} (${n === 1 ? 'one round' : 'medians'})\n`);
  console.log(
    table(
      ['', 'etcd 3-member', 'flotilla 3-node', 'flotilla/etcd'],
      [
        ['ops/s', fmt(e.ops), fmt(f.ops), ratio(f.ops, e.ops)],
        ['p50 ms', fmt(e.p50, 2), fmt(f.p50, 2), ratio(f.p50, e.p50)],
        ['p99 ms', fmt(e.p99, 2), fmt(f.p99, 2), ratio(f.p99, e.p99)],
        ['errors', String(e.errors), String(f.errors), ''],
        ['server CPU ms/op', fmt(e.server, 3), fmt(f.server, 3), ratio(f.server, e.server)],
        ['client CPU ms/op', fmt(e.client, 3), fmt(f.client, 3), ratio(f.client, e.client)],
      ],
    ),
  );
  if (n > 1) {
    console.log('\nper round (ops/s, p99 ms; the store loaded first is marked *)');
    console.log(
      table(
        ['round', 'etcd ops/s', 'flotilla ops/s', 'ratio', 'etcd p99', 'flotilla p99', 'ratio'],
        rounds.etcd.map((er, i) => {
          const fr = rounds.flotilla[i]!;
          const first = i % 2 === 0 ? 'etcd' : 'flotilla';
          return [`${i + 1}${first === 'etcd' ? ' (etcd*)' : ' (flotilla*)'}`, fmt(er.load.opsPerSecond), fmt(fr.load.opsPerSecond), ratio(fr.load.opsPerSecond, er.load.opsPerSecond), fmt(er.load.p99Ms, 2), fmt(fr.load.p99Ms, 2), ratio(fr.load.p99Ms, er.load.p99Ms)];
        }),
      ),
    );
  }
  console.log(`load average at the end ${loadavg().map((l) => l.toFixed(2)).join(' ')} (${cpus().length} cores)`);
  const met = f.ops >= e.ops && f.p99 <= e.p99;
  console.log(`\ngoal (flotilla ops/s >= etcd's and p99 <= etcd's${n > 1 ? ', medians over the rounds' : ''}): ${met ? 'met' : 'NOT met'}`);
}
