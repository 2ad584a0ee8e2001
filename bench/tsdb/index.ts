/**
 * `npm run bench -- tsdb`: the metric history.
 * (a) ingest: samples/s a real `flotilla server` takes (validated, stored, fsynced, acked) from 100
 *     simulated agents streaming MetricBatches over MonitorService.CommandStream (series references, as
 *     `flotilla agent` sends them; `--wire metrics` for the older one-Metric-per-sample form); also per second of the
 *     server's CPU time (its JavaScript runs on one core). The agents are pre-encoded batches sent over
 *     raw HTTP/2 from worker threads (load-agents.ts), so the generator costs next to nothing; its busy
 *     share is printed. Goal >= 1,000,000 samples/s. `--part breakdown` times the server's stages
 *     in-process (breakdown.ts); `--profile DIR` writes the server's CPU profile (with breakdown: the
 *     store append stage's).
 * (b) bytes per stored sample of 24 h of node metrics (node-metrics.ts) in written blocks: values, + their
 *     time columns, + the block index, + the 1 m / 1 h rollups (= every byte of the block files). Goal
 *     <= 1.4 (raw samples with their times + index).
 * (c) 24 h range queries over ~1,000 series beside a real Prometheus holding the same samples
 *     (range-query.ts): median times, ratio, and whether the answers agree.
 */
import { mkdtemp, readdir, stat } from 'node:fs/promises';
import { Block } from '../../src/monitor/tsdb/block.js';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Worker } from 'node:worker_threads';
import { Code, FlotillaError } from '../../src/core/errors.js';
import { createTsdb } from '../../src/monitor/tsdb/index.js';
import { FLOTILLA_BIN, REPO_ROOT, startProcess, tcpReady } from '../../test/testkit/index.js';
import { BenchCleanup } from '../coord/bench-cleanup.js';
import { checkBuild } from '../coord/peers.js';
import { fmt, table } from '../coord/stats.js';
import { breakdown } from './breakdown.js';
import type { AgentLoadOptions, WireForm } from './load-agents.js';
import type { WorkerReport } from './load-worker.js';
import { NodeMetrics } from './node-metrics.js';
import { rangeQuery } from './range-query.js';
import { cpuSeconds } from '../proc.js';

const USAGE = `usage: npm run bench -- tsdb [--part a|breakdown|b|c|all] [--seconds N] [--rounds N] [--workers N] [--wire refs|metrics] [--profile DIR] [--quick]

  --part      a (ingest over the stream), breakdown (where ingest time goes, in-process),
              b (bytes per sample), c (24 h range query beside Prometheus), all (default: a, b, c)
  --seconds   ingest window in seconds (default 20)
  --rounds    timed rounds of breakdown, each a scrape of every series (default 10)
  --workers   load generator threads for (a) (default 1)
  --wire      the agents' batches for (a) and breakdown: refs (series references, protocol 2, what
              flotilla agent sends; default) or metrics (one Metric per sample, protocol 1)
  --profile   write the server's CPU profile (.cpuprofile) for (a), or the store append stage's for
              breakdown, into DIR
  --quick     a 5 s ingest window, 6 h of data for (b), 100 series for (c)`;

type Part = 'a' | 'breakdown' | 'b' | 'c' | 'all';
const PARTS: readonly Part[] = ['a', 'breakdown', 'b', 'c', 'all'];

interface Options {
  part: Part;
  seconds: number;
  rounds: number;
  hours: number;
  workers: number;
  querySeries: number;
  profile: string | undefined;
  wire: WireForm;
  help: boolean;
}

function parseArgs(args: readonly string[]): Options {
  const o: Options = { part: 'all', seconds: 20, rounds: 10, hours: 24, workers: 1, querySeries: 1000, profile: undefined, wire: 'refs', help: false };
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === '--help' || a === '-h') o.help = true;
    else if (a === '--quick') {
      o.seconds = 5;
      o.hours = 6;
      o.querySeries = 100;
    } else if (a === '--part') {
      const v = args[++i];
      if (!PARTS.includes(v as Part)) throw new FlotillaError(Code.INVALID_ARGUMENT, `--part needs one of ${PARTS.join(', ')}, got ${v ?? 'nothing'}\n${USAGE}`);
      o.part = v as Part;
    } else if (a === '--workers') {
      const v = args[++i];
      if (v === undefined || !/^\d+$/.test(v) || Number(v) < 1 || Number(v) > 16) throw new FlotillaError(Code.INVALID_ARGUMENT, `--workers needs 1..16, got ${v ?? 'nothing'}\n${USAGE}`);
      o.workers = Number(v);
    } else if (a === '--wire') {
      const v = args[++i];
      if (v !== 'refs' && v !== 'metrics') throw new FlotillaError(Code.INVALID_ARGUMENT, `--wire needs refs or metrics, got ${v ?? 'nothing'}\n${USAGE}`);
      o.wire = v;
    } else if (a === '--profile') {
      const v = args[++i];
      if (v === undefined || v.startsWith('--')) throw new FlotillaError(Code.INVALID_ARGUMENT, `--profile needs a directory\n${USAGE}`);
      o.profile = v;
    } else if (a === '--rounds') {
      const v = args[++i];
      if (v === undefined || !/^\d+$/.test(v) || Number(v) < 1 || Number(v) > 100) throw new FlotillaError(Code.INVALID_ARGUMENT, `--rounds needs 1..100, got ${v ?? 'nothing'}\n${USAGE}`);
      o.rounds = Number(v);
    } else if (a === '--seconds') {
      const v = args[++i];
      if (v === undefined || !/^\d+$/.test(v) || Number(v) < 1 || Number(v) > 600) throw new FlotillaError(Code.INVALID_ARGUMENT, `--seconds needs 1..600, got ${v ?? 'nothing'}\n${USAGE}`);
      o.seconds = Number(v);
    } else throw new FlotillaError(Code.INVALID_ARGUMENT, `unknown argument '${a}'\n${USAGE}`);
  }
  return o;
}

const AGENTS = 100;
const SERIES_PER_AGENT = 1000;
const IN_FLIGHT = 4;

/** The load generator's worker threads: acked batches and their busy time, summed. */
class LoadWorkers {
  private readonly workers: Worker[] = [];
  private readonly acked: number[] = [];
  private readonly busy: number[] = [];
  private error: string | undefined;

  constructor(address: string, workers: number, t0: number, wire: WireForm) {
    for (let w = 0; w < workers; w++) {
      const hosts = Array.from({ length: AGENTS }, (_, i) => `bench-${i}`).filter((_, i) => i % workers === w);
      const options: AgentLoadOptions = { address, hosts, series: SERIES_PER_AGENT, inFlight: IN_FLIGHT, agentsPerSession: 10, t0, wire };
      const worker = new Worker(new URL('./load-worker-entry.mjs', import.meta.url), { workerData: options });
      this.acked.push(0);
      this.busy.push(0);
      worker.on('message', (m: WorkerReport) => {
        if ('error' in m) this.error ??= m.error;
        else if ('acked' in m) {
          this.acked[w] = m.acked;
          this.busy[w] = m.busyMs;
        }
      });
      worker.on('error', (err) => (this.error ??= err.message));
      this.workers.push(worker);
    }
  }

  /** Acked batches and the generator's busy ms so far (throws when a worker failed). */
  totals(): { batches: number; busyMs: number } {
    if (this.error !== undefined) throw new FlotillaError(Code.UNAVAILABLE, `load generator: ${this.error}`);
    return { batches: this.acked.reduce((a, b) => a + b, 0), busyMs: this.busy.reduce((a, b) => a + b, 0) };
  }

  async stop(): Promise<void> {
    await Promise.all(
      this.workers.map(
        (w) =>
          new Promise<void>((resolve) => {
            const timer = setTimeout(() => void w.terminate().then(() => resolve()), 5000);
            w.once('exit', () => {
              clearTimeout(timer);
              resolve();
            });
            w.postMessage('stop');
          }),
      ),
    );
  }
}

async function ingest(owner: BenchCleanup, seconds: number, workers: number, wire: WireForm, profileDir: string | undefined): Promise<void> {
  // `node [--cpu-prof] bin/flotilla.js server ...` (--cpu-prof is refused in NODE_OPTIONS).
  const server = await startProcess({
    name: 'flotilla server',
    command: process.execPath,
    cwd: REPO_ROOT,
    args: ({ port, dataDir }) => [
      ...(profileDir !== undefined ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] : []),
      FLOTILLA_BIN,
      'server', '--listen', `127.0.0.1:${port('grpc')}`, '--http', `127.0.0.1:${port('http')}`, '--coord-listen', `127.0.0.1:${port('coord')}`, '--data-dir', dataDir,
    ],
    t: owner,
    ports: ['grpc', 'http', 'coord'],
    env: { FLOTILLA_LOG_LEVEL: 'warn', FLOTILLA_LOG_PRETTY: '0' },
    ready: async (p) => tcpReady(p.port('grpc')),
  });
  owner.trackProcess(server);
  process.stderr.write(
    `  (a) ${AGENTS} agents x ${SERIES_PER_AGENT} series (pre-encoded batches ${wire === 'refs' ? 'of series references' : 'of one Metric per sample'}, ${IN_FLIGHT} in flight per agent, ${workers} generator thread${workers > 1 ? 's' : ''}), warming up 3 s\n`,
  );
  const load = new LoadWorkers(`127.0.0.1:${server.port('grpc')}`, workers, Date.now() - 3_600_000, wire);
  owner.after(() => load.stop());
  await sleep(3000);
  const first = load.totals();
  const cpu0 = await cpuSeconds(server.pid!);
  const start = performance.now();
  await sleep(seconds * 1000);
  const last = load.totals();
  const cpu = (await cpuSeconds(server.pid!)) - cpu0;
  const elapsed = (performance.now() - start) / 1000;
  await load.stop();
  const samples = (last.batches - first.batches) * SERIES_PER_AGENT;
  const perS = samples / elapsed;
  const perCpuS = samples / cpu;
  const genBusy = (last.busyMs - first.busyMs) / 1000 / elapsed;
  console.log(
    `\n(a) ingest over MonitorService.CommandStream, wire form ${wire} (validated, in the global view and the store, fsynced, acked)\n` +
      table(
        ['agents', 'samples acked', 'seconds', 'samples/s', 'server CPU s', 'samples per server CPU-s', 'generator busy'],
        [[String(AGENTS), fmt(samples), fmt(elapsed, 1), fmt(perS), fmt(cpu, 1), fmt(perCpuS), `${fmt(genBusy * 100, 0)}%`]],
      ),
  );
  console.log(`goal (>= 1,000,000 samples/s on one core): ${perS >= 1e6 ? 'MET' : 'NOT MET'} (${fmt(perS)} samples/s; ${fmt(perCpuS)} per server CPU-second)`);
  if (profileDir !== undefined) {
    await server.stop();
    process.stderr.write(`  server CPU profile written to ${profileDir}\n`);
  }
}

async function bytesPerSample(owner: BenchCleanup, hours: number): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'flotilla-bench-tsdb-'));
  owner.trackDir(dir);
  const HOUR = 3_600_000;
  const T0 = 1_700_000_000_000 - (1_700_000_000_000 % (2 * HOUR));
  const db = createTsdb({ dir, now: () => T0 + (hours + 4) * HOUR });
  await db.start();
  owner.after(() => db.stop());
  const hosts = Array.from({ length: 10 }, (_, i) => new NodeMetrics(i + 1));
  // Past the last block by 1.5 windows, so `hours` of data are in blocks.
  const scrapes = Math.ceil(((hours + 3) * HOUR) / 15_000);
  process.stderr.write(`  (b) ${hosts.length} hosts x ${hosts[0]!.size} series, ${hours} h of 15 s scrapes\n`);
  for (let k = 0; k < scrapes; k++) {
    await Promise.all(
      hosts.map((g, h) => {
        const timeMs = T0 + k * 15_000 + g.jitter();
        return db.appendHost(`host-${h}`, g.next().map((s) => ({ ...s, timeMs })));
      }),
    );
  }
  await db.compact();
  // Every byte of every block on disk: the index (labels, references, checksum), the time columns, the
  // value columns and the rollups.
  let raw = 0;
  let times = 0;
  let rollups = 0;
  let index = 0;
  let samples = 0;
  let files = 0;
  const blocksDir = join(dir, 'blocks');
  let version = 0;
  for (const b of await readdir(blocksDir)) {
    const block = await Block.open(join(blocksDir, b));
    const z = block.sizes();
    raw += z.raw;
    times += z.rawTimes;
    rollups += z.rollups;
    index += z.index;
    samples += block.samples;
    version = block.version;
    for (const f of await readdir(join(blocksDir, b))) files += (await stat(join(blocksDir, b, f))).size;
    await block.close();
  }
  if (files !== raw + times + rollups + index) throw new FlotillaError(Code.INTERNAL, `block files hold ${files} bytes, the breakdown counts ${raw + times + rollups + index}`);
  const per = (n: number): string => fmt(n / samples, 2);
  const goal = (raw + times + index) / samples;
  console.log(
    `\n(b) bytes per stored sample, node metrics in written blocks (format ${version})\n` +
      table(
        ['samples in blocks', 'values', '+ times', '+ index', '+ rollups (1 m, 1 h) = all block files'],
        [[fmt(samples), per(raw), per(raw + times), per(raw + times + index), per(files)]],
      ),
  );
  console.log(`goal (<= 1.4 bytes per sample, raw samples + index): ${goal <= 1.4 ? 'MET' : 'NOT MET'} (${fmt(goal, 2)})`);
}

export async function runTsdbBench(args: readonly string[]): Promise<void> {
  const o = parseArgs(args);
  if (o.help) {
    console.log(USAGE);
    return;
  }
  const owner = new BenchCleanup();
  owner.installSignalHandlers();
  try {
    const all = o.part === 'all';
    process.stderr.write(`  load average at the start: ${loadavg().map((x) => x.toFixed(2)).join(' ')} (${cpus().length} cores)\n`);
    if (all || o.part === 'a' || o.part === 'c') {
      const stale = await checkBuild();
      if (stale) process.stderr.write(`${stale}\n`);
    }
    if (o.part === 'breakdown') await breakdown(owner, AGENTS, SERIES_PER_AGENT, o.rounds, o.wire, o.profile);
    if (all || o.part === 'a') await ingest(owner, o.seconds, o.workers, o.wire, o.profile);
    if (all || o.part === 'b') await bytesPerSample(owner, o.hours);
    if (all || o.part === 'c') await rangeQuery(owner, o.querySeries);
    console.log(`\nload average at the end: ${loadavg().map((x) => x.toFixed(2)).join(' ')} (${cpus().length} cores)`);
  } finally {
    await owner.run();
  }
}
