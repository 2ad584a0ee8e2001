/**
 * `npm run bench -- pubsub`: fan-out of one publisher to N WebSocket subscribers of one channel on a
 * `flotilla server`, beside NATS core pub/sub with N subscribers of one subject (issue 9). Per round and
 * peer (order alternating): a burst of messages that every subscriber receives (deliveries/s = deliveries
 * / time from the first publish to the last receipt), then messages at a paced rate for the
 * publish-to-receive latency (p50/p99). Prints NATS, Flotilla and their ratio, and whether the goal is met:
 * Flotilla delivers >= 0.5x NATS's messages/s. Every process is stopped at the end, on error and on Ctrl-C.
 */
import { spawn } from 'node:child_process';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Code, FlotillaError } from '../../src/core/errors.js';
import { REPO_ROOT } from '../../test/testkit/index.js';
import { BenchCleanup } from '../coord/bench-cleanup.js';
import { checkBuild } from '../coord/peers.js';
import { fmt, median, percentile, ratio, table } from '../coord/stats.js';
import { USAGE, parsePubsubBenchArgs, type Profile } from './options.js';
import { checkFileLimit, startPeers } from './peers.js';
import { flotillaPublisher, natsPublisher, type Publisher } from './publishers.js';
import { SubscriberPool, type PeerName, type PhaseReport } from './subscribers.js';

/** Flotilla's delivered messages/s must reach this share of NATS's (issue 9). */
const GOAL_RATIO = 0.5;
const CHANNEL = 'public:bench';
const SUBJECT = 'bench.fanout';

const nowMs = (): number => performance.timeOrigin + performance.now();
const machine = (): string => `${cpus().length} cores, load average ${loadavg().map((l) => l.toFixed(2)).join(' ')}`;
const progress = (line: string): void => void process.stderr.write(`  ${line}\n`);

async function build(): Promise<void> {
  const tsc = join(REPO_ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
  process.stderr.write('bench pubsub: building dist/ (tsc -p tsconfig.build.json)\n');
  const code = await new Promise<number | null>((resolve, reject) => {
    const child = spawn(process.execPath, [tsc, '-p', 'tsconfig.build.json'], { cwd: REPO_ROOT, stdio: 'inherit' });
    child.once('error', reject);
    child.once('exit', resolve);
  });
  if (code !== 0) throw new FlotillaError(Code.FAILED_PRECONDITION, `bench pubsub: the build failed (tsc exit code ${code})`);
}

interface Side {
  name: PeerName;
  pool: SubscriberPool;
  publisher: Publisher;
}

interface BurstResult {
  deliveriesPerSecond: number;
  publishPerSecond: number;
  report: PhaseReport;
  seconds: number;
  complete: boolean;
}

/** Waits until `expected` deliveries arrived, nothing arrived for `stallMs`, or `limitMs` passed. */
async function awaitDeliveries(pool: SubscriberPool, expected: number, stallMs: number, limitMs: number, withLatencies: boolean): Promise<PhaseReport> {
  const deadline = nowMs() + limitMs;
  let last = -1;
  let lastChange = nowMs();
  for (;;) {
    const r = await pool.report(false);
    if (r.received >= expected || nowMs() > deadline || nowMs() - lastChange > stallMs) return withLatencies ? pool.report(true) : r;
    if (r.received !== last) {
      last = r.received;
      lastChange = nowMs();
    }
    await sleep(200);
  }
}

async function runBurst(side: Side, p: Profile): Promise<BurstResult> {
  await side.pool.reset(false);
  const start = nowMs();
  await side.publisher.burst(p.burstMessages);
  const published = nowMs();
  const expected = p.burstMessages * side.pool.total;
  const report = await awaitDeliveries(side.pool, expected, p.stallMs, p.burstTimeLimitMs, false);
  const seconds = (report.lastAtMs - start) / 1000;
  return {
    deliveriesPerSecond: seconds > 0 ? report.received / seconds : 0,
    publishPerSecond: p.burstMessages / ((published - start) / 1000),
    report,
    seconds,
    complete: report.received >= expected,
  };
}

async function runLatency(side: Side, p: Profile): Promise<PhaseReport> {
  await side.pool.reset(true);
  await side.publisher.paced(p.latencyMessages, p.latencyRate);
  return awaitDeliveries(side.pool, p.latencyMessages * side.pool.total, 5000, 60_000, true);
}

interface Row {
  bursts: Record<PeerName, BurstResult[]>;
  latencies: Record<PeerName, number[]>;
}

function resultTables(row: Row, p: Profile): string {
  const med = (n: PeerName, pick: (b: BurstResult) => number): number => median(row.bursts[n].map(pick));
  const dn = med('nats', (b) => b.deliveriesPerSecond);
  const df = med('flotilla', (b) => b.deliveriesPerSecond);
  const pn = med('nats', (b) => b.publishPerSecond);
  const pf = med('flotilla', (b) => b.publishPerSecond);
  const through = table(
    ['', 'nats', 'flotilla', 'flotilla/nats'],
    [
      ['deliveries/s', fmt(dn), fmt(df), ratio(df, dn)],
      ['messages published/s', fmt(pn), fmt(pf), ratio(pf, pn)],
      ['burst seconds', fmt(med('nats', (b) => b.seconds), 2), fmt(med('flotilla', (b) => b.seconds), 2), ''],
    ],
  );
  const lat: string[][] = [];
  for (const [label, q] of [['p50', 0.5], ['p99', 0.99], ['max', 1]] as const) {
    const n = percentile(row.latencies.nats, q);
    const f = percentile(row.latencies.flotilla, q);
    lat.push([label, fmt(n, 2), fmt(f, 2), ratio(f, n)]);
  }
  return (
    `fan-out throughput (${fmt(p.burstMessages)} messages x ${fmt(p.subscribers)} subscribers per burst, median of ${p.rounds} round${p.rounds === 1 ? '' : 's'}; higher is better)\n` +
    `${through}\n\n` +
    `publish-to-receive latency (ms; ${p.latencyMessages} messages at ${p.latencyRate}/s to every subscriber, ${fmt(row.latencies.nats.length)} / ${fmt(row.latencies.flotilla.length)} deliveries pooled; lower is better)\n` +
    table(['stat', 'nats ms', 'flotilla ms', 'flotilla/nats'], lat)
  );
}

function goalLine(row: Row): string {
  const x = median(row.bursts.flotilla.map((b) => b.deliveriesPerSecond)) / median(row.bursts.nats.map((b) => b.deliveriesPerSecond));
  const incomplete = (['nats', 'flotilla'] as const).filter((n) => row.bursts[n].some((b) => !b.complete));
  return (
    `goal (flotilla >= ${GOAL_RATIO}x NATS delivered messages/s): ${x >= GOAL_RATIO ? 'MET' : 'NOT MET'} (${x.toFixed(2)}x)` +
    (incomplete.length > 0 ? `; WARNING: not every delivery arrived for ${incomplete.join(', ')}` : '')
  );
}

export async function runPubsubBench(args: readonly string[]): Promise<void> {
  const opts = parsePubsubBenchArgs(args);
  if (opts.help) {
    console.log(USAGE);
    return;
  }
  const p = opts.profile;
  checkFileLimit(p.subscribers, p.procs);
  if (opts.build) await build();
  const stale = await checkBuild();
  if (stale !== undefined) process.stderr.write(`${stale.replace('the embedded store', 'the flotilla server')}\n`);

  const owner = new BenchCleanup();
  owner.installSignalHandlers();
  const started = nowMs();
  try {
    const peers = await startPeers(owner, opts.profileDir);
    console.log(`bench pubsub (${p.name}): ${fmt(p.subscribers)} subscribers per peer in ${p.procs} load-generator processes, ${p.rounds} round${p.rounds === 1 ? '' : 's'}, peer order alternating`);
    console.log(`  machine: ${machine()}`);
    console.log(`  nats      ${peers.natsLabel} at ${peers.natsUrl}; subscribers: the nats npm package, one connection each`);
    console.log(`  flotilla  ${peers.flotillaLabel} at ${peers.flotillaWs}; subscribers: the ws npm package, one connection each, ${p.acks ? 'acknowledged delivery (ack every 64)' : 'no acks (as NATS core)'}`);
    console.log(`  publisher: one; NATS publish on one connection; Flotilla POST /api/v1/publish (stored durably first), ${p.publishConcurrency} in flight; ${p.payloadBytes} B JSON data\n`);

    progress(`connecting ${fmt(p.subscribers)} NATS subscribers`);
    const natsPool = await SubscriberPool.start(owner, { peer: 'nats', url: peers.natsUrl, target: SUBJECT, total: p.subscribers, procs: p.procs, acks: false });
    progress(`connecting ${fmt(p.subscribers)} Flotilla subscribers`);
    const flotillaPool = await SubscriberPool.start(owner, { peer: 'flotilla', url: peers.flotillaWs, target: CHANNEL, total: p.subscribers, procs: p.procs, acks: p.acks });
    const nats = await natsPublisher({ url: peers.natsUrl, subject: SUBJECT, payloadBytes: p.payloadBytes });
    owner.after(() => nats.close());
    const sides: Side[] = [
      { name: 'nats', pool: natsPool, publisher: nats },
      { name: 'flotilla', pool: flotillaPool, publisher: flotillaPublisher({ http: peers.flotillaHttp, channel: CHANNEL, concurrency: p.publishConcurrency, payloadBytes: p.payloadBytes }) },
    ];
    // Warm-up: a few messages through each, so connections and JIT are warm.
    for (const s of sides) {
      await s.pool.reset(false);
      await s.publisher.burst(5);
      await awaitDeliveries(s.pool, 5 * s.pool.total, 5000, 30_000, false);
    }

    const row: Row = { bursts: { nats: [], flotilla: [] }, latencies: { nats: [], flotilla: [] } };
    for (let round = 0; round < p.rounds; round++) {
      for (const s of round % 2 === 0 ? sides : [...sides].reverse()) {
        const b = await runBurst(s, p);
        row.bursts[s.name].push(b);
        progress(
          `round ${round + 1}/${p.rounds} ${s.name}: ${fmt(b.deliveriesPerSecond)} deliveries/s (${fmt(b.report.received)} in ${b.seconds.toFixed(2)} s; per subscriber ${b.report.minPerSub}-${b.report.maxPerSub} of ${p.burstMessages}; published ${fmt(b.publishPerSecond)}/s${b.report.lost > 0 ? `; ${b.report.lost} connections lost` : ''})`,
        );
        const l = await runLatency(s, p);
        for (const v of l.latencies) row.latencies[s.name].push(v);
        progress(`round ${round + 1}/${p.rounds} ${s.name}: latency p50 ${percentile(l.latencies, 0.5).toFixed(2)} ms, p99 ${percentile(l.latencies, 0.99).toFixed(2)} ms (${fmt(l.received)} deliveries)`);
      }
    }
    console.log(`\n${resultTables(row, p)}\n`);
    console.log(goalLine(row));
    if (opts.profileDir !== undefined) console.log(`CPU profile of the flotilla server: ${opts.profileDir} (written as it stops)`);
    console.log(`(${((nowMs() - started) / 1000).toFixed(1)} s; at the end: ${machine()})`);
  } catch (err) {
    owner.passed = false;
    throw err;
  } finally {
    await owner.run();
  }
}
