/**
 * `npm run bench -- flows`: a 1,000-task fan-out/fan-in DAG of no-op tasks run by our workflow scheduler
 * and, side by side in the same run, the same shape of jobs with BullMQ's FlowProducer on a real
 * redis-server. Prints tasks/s and the hand-off latency (a downstream's start minus its last upstream's
 * end; p50, p99) of both, the ratios, and the goal: our tasks/s >= BullMQ's and our p50 hand-off <= 10 ms.
 */
import { cpus, loadavg } from 'node:os';
import { Code, FlotillaError } from '../../src/core/errors.js';
import { BenchCleanup } from '../coord/bench-cleanup.js';
import { fmt, median, percentile, table } from '../coord/stats.js';
import { startBull, startRedis } from './bullmq-peer.js';
import { startOurs, type ExecutorKind } from './ours.js';
import { fanOutFanIn, type RoundResult } from './shape.js';

const GOAL_P50_MS = 10;

export const USAGE = `usage: npm run bench -- flows [--tasks N] [--width W] [--rounds R] [--executor noop|process] [--quick]

A fan-out/fan-in DAG (a root, W parallel chains, a sink; N tasks in all) run R times by our scheduler
(FlowService in this process, real SQLite store) and by BullMQ's FlowProducer on redis-server.

  --tasks N        tasks per run (default 1000, 10..20000)
  --width W        parallel chains (default 32, 1..N-2); both peers run up to 64 tasks at once
  --rounds R       measured runs per peer, after one warm-up run (default 5; --quick: 2)
  --executor KIND  noop: the task is a function that returns at once (the scheduler's own cost; default)
                   process: every task runs \`true\` in a process of its own (both peers)
  --quick          a smoke run (--rounds 2)
  --help           this text

Needs /usr/bin/redis-server: bash scripts/test-deps.sh --bench`;

interface Options {
  tasks: number;
  width: number;
  rounds: number;
  executor: ExecutorKind;
  help: boolean;
}

function intFlag(name: string, v: string | undefined, min: number, max: number): number {
  if (v === undefined || !/^\d+$/.test(v) || Number(v) < min || Number(v) > max) {
    throw new FlotillaError(Code.INVALID_ARGUMENT, `${name} needs a whole number from ${min} to ${max}, got ${v ?? 'nothing'}\n${USAGE}`);
  }
  return Number(v);
}

export function parseFlowsBenchArgs(args: readonly string[]): Options {
  const o: Options = { tasks: 1000, width: 32, rounds: 5, executor: 'noop', help: false };
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === '--help' || a === '-h') o.help = true;
    else if (a === '--quick') o.rounds = 2;
    else if (a === '--tasks') o.tasks = intFlag(a, args[++i], 10, 20_000);
    else if (a === '--width') o.width = intFlag(a, args[++i], 1, 20_000);
    else if (a === '--rounds') o.rounds = intFlag(a, args[++i], 1, 100);
    else if (a === '--executor') {
      const v = args[++i];
      if (v !== 'noop' && v !== 'process') throw new FlotillaError(Code.INVALID_ARGUMENT, `--executor is noop or process, got ${v ?? 'nothing'}\n${USAGE}`);
      o.executor = v;
    } else throw new FlotillaError(Code.INVALID_ARGUMENT, `unknown argument '${a}'\n${USAGE}`);
  }
  if (o.width > o.tasks - 2) throw new FlotillaError(Code.INVALID_ARGUMENT, `--width ${o.width} needs at least ${o.width + 2} tasks\n${USAGE}`);
  return o;
}

const CONCURRENCY = 64;
const machine = (): string => `${cpus().length} cores, load average ${loadavg().map((l) => l.toFixed(2)).join(' ')}`;

interface Summary {
  tasksPerSec: number;
  p50: number;
  p99: number;
  max: number;
}

/** tasks/s: the median over rounds; hand-off percentiles over every hand-off of every round. */
function summarize(rounds: RoundResult[]): Summary {
  const all = rounds.flatMap((r) => r.handoffMs);
  return {
    tasksPerSec: median(rounds.map((r) => (r.tasks / r.wallMs) * 1000)),
    p50: percentile(all, 0.5),
    p99: percentile(all, 0.99),
    max: Math.max(...all),
  };
}

export async function runFlowsBench(args: readonly string[]): Promise<void> {
  const o = parseFlowsBenchArgs(args);
  if (o.help) {
    console.log(USAGE);
    return;
  }
  const shape = fanOutFanIn(o.tasks, o.width);
  const owner = new BenchCleanup();
  owner.installSignalHandlers();
  try {
    console.log(`bench flows: ${o.tasks} tasks (root -> ${o.width} chains -> sink), executor ${o.executor}, ${o.rounds} rounds + 1 warm-up, concurrency ${CONCURRENCY}; ${machine()}`);
    const redis = await startRedis(owner);
    owner.trackProcess(redis);
    const bull = await startBull(shape, redis.port('redis'), { executor: o.executor, concurrency: CONCURRENCY });
    owner.after(() => bull.close());
    const ours = await startOurs(shape, { executor: o.executor, concurrency: CONCURRENCY });
    owner.after(() => ours.close());
    const oursRounds: RoundResult[] = [];
    const bullRounds: RoundResult[] = [];
    // Alternate the peers round by round, so a burst of load on the shared machine hits both alike.
    for (let r = 0; r <= o.rounds; r++) {
      const a = await ours.runRound();
      const b = await bull.runRound(r);
      if (r === 0) continue;
      oursRounds.push(a);
      bullRounds.push(b);
      console.log(`  round ${r}: flotilla ${fmt((a.tasks / a.wallMs) * 1000)} tasks/s, bullmq ${fmt((b.tasks / b.wallMs) * 1000)} tasks/s`);
    }
    const us = summarize(oursRounds);
    const them = summarize(bullRounds);
    const ratio = (x: number, y: number): string => (y > 0 && Number.isFinite(x) ? `${(x / y).toFixed(2)}x` : '-');
    console.log('');
    console.log(
      table(
        ['', 'flotilla (SQLite, FULL sync)', `bullmq ${bull.version} (redis)`, 'flotilla / bullmq'],
        [
          ['tasks/s (median of rounds)', fmt(us.tasksPerSec), fmt(them.tasksPerSec), ratio(us.tasksPerSec, them.tasksPerSec)],
          ['hand-off p50 (ms)', fmt(us.p50, 2), fmt(them.p50, 2), ratio(us.p50, them.p50)],
          ['hand-off p99 (ms)', fmt(us.p99, 2), fmt(them.p99, 2), ratio(us.p99, them.p99)],
          ['hand-off max (ms)', fmt(us.max, 2), fmt(them.max, 2), ratio(us.max, them.max)],
        ],
      ),
    );
    const okRate = us.tasksPerSec >= them.tasksPerSec;
    const okP50 = us.p50 <= GOAL_P50_MS;
    console.log(
      `\ngoal: tasks/s >= bullmq's: ${okRate ? 'met' : 'NOT met'} (${ratio(us.tasksPerSec, them.tasksPerSec)}); ` +
        `p50 hand-off <= ${GOAL_P50_MS} ms: ${okP50 ? 'met' : 'NOT met'} (${fmt(us.p50, 2)} ms); ${machine()}`,
    );
  } catch (err) {
    owner.passed = false;
    throw err;
  } finally {
    await owner.run();
  }
}
