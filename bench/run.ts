/**
 * `npm run bench -- NAME [flags]`: runs one benchmark of bench/. Without a name it lists them; an unknown
 * name is an error. A benchmark reports numbers and exits 0 whatever they are; it exits non-zero only when
 * it could not run (bad flags: 2, anything else: 1).
 */
import { Code, FlotillaError } from '../src/core/errors.js';

interface Benchmark {
  readonly summary: string;
  run(args: readonly string[]): Promise<void>;
}

const BENCHMARKS: Record<string, Benchmark> = {
  coord: {
    summary: 'coordination store: puts/s and watch-event latency, embedded store vs real etcd (--quick for a smoke run)',
    run: async (args) => (await import('./coord/index.js')).runCoordBench(args),
  },
  kv: {
    summary: 'key-value store: ops/s and p50/p99 of a 3-node Flotilla cluster vs a 3-member etcd cluster, 64 clients, 80/20 get/put',
    run: async (args) => (await import('./kv/index.js')).runKvBench(args),
  },
  tsdb: {
    summary: 'metric history: (a) ingest samples/s from 100 agents over the real stream (+ --part breakdown), (b) bytes per stored sample, (c) 24 h range queries vs Prometheus (--quick)',
    run: async (args) => (await import('./tsdb/index.js')).runTsdbBench(args),
  },
  agent: {
    summary: 'monitoring agent: CPU time and RSS at a 1 s interval beside prometheus-node-exporter scraped every 1 s (--quick for 15 s)',
    run: async (args) => (await import('./agent/index.js')).runAgentBench(args),
  },
  flows: {
    summary: 'workflow scheduler: tasks/s and hand-off latency of a 1,000-task fan-out/fan-in DAG vs BullMQ FlowProducer on redis-server (--quick)',
    run: async (args) => (await import('./flows/index.js')).runFlowsBench(args),
  },
  pubsub: {
    summary: 'scheduled messaging: fan-out of 1 publisher to 5,000 WebSocket subscribers, deliveries/s and p99, vs NATS core pub/sub (--quick)',
    run: async (args) => (await import('./pubsub/index.js')).runPubsubBench(args),
  },
  objects: {
    summary: 'object store: 64 MiB PUT/GET MiB/s and 4 KiB ops/s (8 clients) on 3 nodes beside the disk and loopback limits (--quick)',
    run: async (args) => (await import('./objects/index.js')).runObjectsBench(args),
  },
  web: {
    summary: "dashboard: the initial JavaScript gzipped (goal < 300 KiB); run `npm run build` first",
    run: async (args) => (await import('./web/index.js')).runWebBench(args),
  },
};

function list(): string {
  const names = Object.keys(BENCHMARKS);
  const width = Math.max(...names.map((n) => n.length));
  return `usage: npm run bench -- NAME [flags]   (NAME --help for its flags)\n\nbenchmarks:\n${names
    .map((n) => `  ${n.padEnd(width)}  ${BENCHMARKS[n]!.summary}`)
    .join('\n')}`;
}

async function main(argv: readonly string[]): Promise<number> {
  const [name, ...args] = argv;
  if (name === undefined || name === '--help' || name === '-h') {
    console.log(list());
    return 0;
  }
  const bench = Object.hasOwn(BENCHMARKS, name) ? BENCHMARKS[name] : undefined;
  if (bench === undefined) {
    process.stderr.write(`bench: unknown benchmark '${name}'\n${list()}\n`);
    return 2;
  }
  try {
    await bench.run(args);
    return 0;
  } catch (err) {
    const e = FlotillaError.from(err);
    process.stderr.write(`bench ${name}: ${e.code === Code.INTERNAL && err instanceof Error && !(err instanceof FlotillaError) ? err.stack ?? err.message : e.message}\n`);
    return e.code === Code.INVALID_ARGUMENT ? 2 : 1;
  }
}

process.exitCode = await main(process.argv.slice(2));
