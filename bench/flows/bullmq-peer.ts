/**
 * The peer: BullMQ v5's FlowProducer on Debian's redis-server (started here on a free loopback port with
 * its default persistence settings, in a temp dir; stopped at the end). BullMQ's flows are trees (a parent
 * runs after all its children), so the fan-in is native: the sink is the parent of the chains' tails and
 * every chain is nested child-first down to its head. A tree has no node with two parents, so the fan-out is
 * done the way a BullMQ user does it: the root job's processor adds the tree when it ends. One Worker
 * (concurrency like ours) runs every job in this process; its processor records start and end on the same
 * clock as our executor.
 */
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { FlowProducer, Worker, type FlowJob } from 'bullmq';
import { Code, FlotillaError } from '../../src/core/errors.js';
import { startProcess, type Cleanup, type ProcessHandle } from '../../test/testkit/index.js';
import type { ExecutorKind } from './ours.js';
import { nowMs, roundResult, type DagShape, type RoundResult, type TaskTimes } from './shape.js';

export const REDIS_SERVER = process.env.FLOTILLA_BENCH_REDIS ?? '/usr/bin/redis-server';

export interface BullPeer {
  readonly version: string;
  runRound(round: number): Promise<RoundResult>;
  close(): Promise<void>;
}

function chainTree(chain: string[], queueName: string): FlowJob {
  let node: FlowJob | undefined;
  for (const key of chain) node = { name: key, queueName, data: { key }, ...(node !== undefined ? { children: [node] } : {}) };
  return node!;
}

function runTrue(): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn('true', [], { detached: true, stdio: 'ignore' });
    child.on('error', reject);
    child.on('exit', () => resolve());
  });
}

export async function startRedis(owner: Cleanup): Promise<ProcessHandle> {
  if (!existsSync(REDIS_SERVER)) {
    throw new FlotillaError(Code.FAILED_PRECONDITION, `${REDIS_SERVER} is missing; install it with \`bash scripts/test-deps.sh --bench\` (Debian's redis-server)`);
  }
  return startProcess({
    name: 'redis-server',
    command: REDIS_SERVER,
    ports: ['redis'],
    t: owner,
    // Defaults otherwise (RDB snapshots, no AOF); the temp dir keeps a snapshot out of the repo.
    args: (env) => ['--port', String(env.port('redis')), '--bind', '127.0.0.1', '--dir', env.dataDir],
  });
}

export async function startBull(shape: DagShape, redisPort: number, opts: { executor: ExecutorKind; concurrency: number }): Promise<BullPeer> {
  const connection = { host: '127.0.0.1', port: redisPort, maxRetriesPerRequest: null };
  const producer = new FlowProducer({ connection });
  const version = (JSON.parse(readFileSync(new URL('../../node_modules/bullmq/package.json', import.meta.url), 'utf8')) as { version: string }).version;
  return {
    version,
    async runRound(round) {
      const queueName = `bench-${round}`;
      const times: TaskTimes = { start: new Map(), end: new Map() };
      const tree: FlowJob = { name: shape.sink, queueName, data: { key: shape.sink }, children: shape.chains.map((c) => chainTree(c, queueName)) };
      let finished: (() => void) | undefined;
      let failed: ((e: Error) => void) | undefined;
      const done = new Promise<void>((resolve, reject) => {
        finished = resolve;
        failed = reject;
      });
      const worker = new Worker(
        queueName,
        async (job) => {
          const key = (job.data as { key: string }).key;
          times.start.set(key, nowMs());
          if (opts.executor === 'process') await runTrue();
          times.end.set(key, nowMs());
          if (key === shape.root) await producer.add(tree);
          if (key === shape.sink) finished?.();
        },
        { connection, concurrency: opts.concurrency, autorun: false },
      );
      worker.on('failed', (_job, err) => failed?.(err));
      await worker.waitUntilReady();
      const running = worker.run();
      const t0 = nowMs();
      await producer.add({ name: shape.root, queueName, data: { key: shape.root } });
      await done;
      const wallMs = nowMs() - t0;
      await worker.close();
      await running;
      return roundResult(shape, times, wallMs);
    },
    async close() {
      await producer.close();
    },
  };
}
