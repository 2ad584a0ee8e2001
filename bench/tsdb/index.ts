/**
 * `npm run bench -- tsdb`: the metric history.
 * (a) ingest: samples/s a real `flotilla server` takes (validated, stored, fsynced, acked) from 100
 *     simulated agents streaming MetricBatches over MonitorService.CommandStream; also per second of the
 *     server's CPU time (its JavaScript runs on one core). Goal >= 1,000,000 samples/s.
 * (b) bytes per stored sample of 24 h of node metrics (node-metrics.ts) in written blocks: raw chunks,
 *     with the block index, and with the 1 m / 1 h rollups. Goal <= 1.4 (raw chunks + index).
 * (c) the 24 h range query beside a real Prometheus: not done yet (see the report in the issue).
 */
import { mkdtemp, readdir, readFile, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Code, FlotillaError } from '../../src/core/errors.js';
import { createTsdb } from '../../src/monitor/tsdb/index.js';
import { monitorClient, startAgent, type TestAgent } from '../../test/monitor/server/fixtures.js';
import { startFlotilla, tcpReady } from '../../test/testkit/index.js';
import { BenchCleanup } from '../coord/bench-cleanup.js';
import { checkBuild } from '../coord/peers.js';
import { fmt, table } from '../coord/stats.js';
import { NodeMetrics } from './node-metrics.js';

const USAGE = `usage: npm run bench -- tsdb [--part a|b|all] [--seconds N] [--quick]

  --part      a (ingest over the stream), b (bytes per sample), all (default)
  --seconds   ingest window in seconds (default 20)
  --quick     a 5 s ingest window and 6 h of data for (b)`;

interface Options {
  part: 'a' | 'b' | 'all';
  seconds: number;
  hours: number;
  help: boolean;
}

function parseArgs(args: readonly string[]): Options {
  const o: Options = { part: 'all', seconds: 20, hours: 24, help: false };
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === '--help' || a === '-h') o.help = true;
    else if (a === '--quick') {
      o.seconds = 5;
      o.hours = 6;
    } else if (a === '--part') {
      const v = args[++i];
      if (v !== 'a' && v !== 'b' && v !== 'all') throw new FlotillaError(Code.INVALID_ARGUMENT, `--part needs a, b or all, got ${v ?? 'nothing'}\n${USAGE}`);
      o.part = v;
    } else if (a === '--seconds') {
      const v = args[++i];
      if (v === undefined || !/^\d+$/.test(v) || Number(v) < 1 || Number(v) > 600) throw new FlotillaError(Code.INVALID_ARGUMENT, `--seconds needs 1..600, got ${v ?? 'nothing'}\n${USAGE}`);
      o.seconds = Number(v);
    } else throw new FlotillaError(Code.INVALID_ARGUMENT, `unknown argument '${a}'\n${USAGE}`);
  }
  return o;
}

async function cpuSeconds(pid: number): Promise<number> {
  const s = await readFile(`/proc/${pid}/stat`, 'utf8');
  const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
  return (Number(f[11]) + Number(f[12])) / 100;
}

const AGENTS = 100;
const SERIES_PER_AGENT = 1000;
const IN_FLIGHT = 4;

async function ingest(owner: BenchCleanup, seconds: number): Promise<void> {
  const server = await startFlotilla(
    ({ port, dataDir }) => ['server', '--listen', `127.0.0.1:${port('grpc')}`, '--http', `127.0.0.1:${port('http')}`, '--coord-listen', `127.0.0.1:${port('coord')}`, '--data-dir', dataDir],
    { name: 'flotilla server', t: owner, ports: ['grpc', 'http', 'coord'], env: { FLOTILLA_LOG_LEVEL: 'warn', FLOTILLA_LOG_PRETTY: '0' }, ready: async (p) => tcpReady(p.port('grpc')) },
  );
  owner.trackProcess(server);
  const client = monitorClient(owner, `127.0.0.1:${server.port('grpc')}`);
  const agents: TestAgent[] = [];
  for (let i = 0; i < AGENTS; i++) agents.push(startAgent(owner, client, `bench-${i}`));
  const labels = Array.from({ length: SERIES_PER_AGENT }, (_, k) => ({ cpu: String(k % 16), device: `dev${k >> 4}` }));
  const t0 = Date.now() - 3_600_000;
  const seqs = agents.map(() => 0);
  let stop = false;
  const drive = async (i: number): Promise<void> => {
    const a = agents[i]!;
    while (!stop) {
      if (seqs[i]! - Number(a.ackedSeq()) >= IN_FLIGHT) {
        await sleep(1);
        continue;
      }
      const seq = (seqs[i] = seqs[i]! + 1);
      const timeMs = t0 + seq * 1000;
      a.batch(BigInt(seq), labels.map((l, k) => ({ metric: 'bench_metric', value: (seq * 7 + k) % 1000, labels: l, timeMs })));
      await sleep(0);
    }
  };
  process.stderr.write(`  (a) ${AGENTS} agents x ${SERIES_PER_AGENT} series, warming up 3 s\n`);
  const driving = agents.map((_, i) => drive(i));
  await sleep(3000);
  const acked0 = agents.reduce((n, a) => n + Number(a.ackedSeq()), 0);
  const cpu0 = await cpuSeconds(server.pid!);
  const start = performance.now();
  await sleep(seconds * 1000);
  const acked = agents.reduce((n, a) => n + Number(a.ackedSeq()), 0) - acked0;
  const cpu = (await cpuSeconds(server.pid!)) - cpu0;
  const elapsed = (performance.now() - start) / 1000;
  stop = true;
  await Promise.all(driving);
  const perS = (acked * SERIES_PER_AGENT) / elapsed;
  const perCpuS = (acked * SERIES_PER_AGENT) / cpu;
  console.log(
    '\n(a) ingest over MonitorService.CommandStream (validated, in the global view and the store, fsynced, acked)\n' +
      table(['agents', 'samples acked', 'seconds', 'samples/s', 'server CPU s', 'samples per server CPU-s'], [[String(AGENTS), fmt(acked * SERIES_PER_AGENT), fmt(elapsed, 1), fmt(perS), fmt(cpu, 1), fmt(perCpuS)]]),
  );
  console.log(`goal (>= 1,000,000 samples/s on one core): ${perS >= 1e6 ? 'MET' : 'NOT MET'} (${fmt(perS)} samples/s; ${fmt(perCpuS)} per server CPU-second)`);
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
  let raw = 0;
  let rollups = 0;
  let index = 0;
  let samples = 0;
  const blocksDir = join(dir, 'blocks');
  for (const b of await readdir(blocksDir)) {
    const ix = JSON.parse(await readFile(join(blocksDir, b, 'index.json'), 'utf8')) as { series: { c: number[][]; r: number[][] }[] };
    index += (await stat(join(blocksDir, b, 'index.json'))).size;
    for (const s of ix.series) {
      for (const c of s.c) {
        raw += c[1]!;
        samples += c[4]!;
      }
      for (const r of s.r) rollups += r[1]!;
    }
  }
  const per = (n: number): string => fmt(n / samples, 2);
  console.log(
    '\n(b) bytes per stored sample, node metrics in written blocks\n' +
      table(['samples in blocks', 'raw chunks', '+ index', '+ rollups (1 m, 1 h)'], [[fmt(samples), per(raw), per(raw + index), per(raw + index + rollups)]]),
  );
  console.log(`goal (<= 1.4 bytes per sample, raw chunks + index): ${(raw + index) / samples <= 1.4 ? 'MET' : 'NOT MET'} (${per(raw + index)})`);
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
    if (o.part !== 'b') {
      const stale = await checkBuild();
      if (stale) process.stderr.write(`${stale}\n`);
      await ingest(owner, o.seconds);
    }
    if (o.part !== 'a') await bytesPerSample(owner, o.hours);
    console.log('\n(c) 24 h range query beside Prometheus: not implemented yet');
  } finally {
    await owner.run();
  }
}
