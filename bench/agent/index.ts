/**
 * `npm run bench -- agent`: CPU time and memory of `flotilla agent` collecting every metric group at a
 * 1 s interval and streaming to a monitor server, beside a real prometheus-node-exporter (Debian's, its
 * default collectors) scraped every 1 s, in the same run on the same machine. Prints both, the ratio, and
 * whether the goal is met: agent CPU <= 1.0x node_exporter's. The monitor server is the agent tests' small
 * MonitorService peer (in this process, not measured); the coordination store is `flotilla coord serve`.
 */
import { readFile } from 'node:fs/promises';
import { cpus, loadavg } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { Code, FlotillaError } from '../../src/core/errors.js';
import { createCoord } from '../../src/coord/index.js';
import { TestMonitorServer } from '../../test/monitor/agent/test-monitor-server.js';
import { startEmbeddedCoord, startFlotilla, startProcess } from '../../test/testkit/index.js';
import { BenchCleanup } from '../coord/bench-cleanup.js';
import { checkBuild } from '../coord/peers.js';
import { fmt, table } from '../coord/stats.js';
import { cpuSeconds } from '../proc.js';

const GOAL_RATIO = 1.0;
const NODE_EXPORTER = process.env.FLOTILLA_BENCH_NODE_EXPORTER ?? '/usr/bin/prometheus-node-exporter';

export const USAGE = `usage: npm run bench -- agent [--seconds N] [--quick]

CPU time and RSS of flotilla agent (every metric group, 1 s interval, streaming to a monitor server) and of
prometheus-node-exporter (default collectors, scraped every 1 s), measured over the same window.

  --seconds N  measured window in seconds (default 60)
  --quick      a 15 s window (a smoke run)
  --help       this text`;

function parseArgs(args: readonly string[]): { seconds: number; help: boolean } {
  let seconds = 60;
  let help = false;
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === '--help' || a === '-h') help = true;
    else if (a === '--quick') seconds = 15;
    else if (a === '--seconds') {
      const v = args[++i];
      if (v === undefined || !/^\d+$/.test(v) || Number(v) < 5 || Number(v) > 3600) {
        throw new FlotillaError(Code.INVALID_ARGUMENT, `--seconds needs a whole number from 5 to 3600, got ${v ?? 'nothing'}\n${USAGE}`);
      }
      seconds = Number(v);
    } else throw new FlotillaError(Code.INVALID_ARGUMENT, `unknown argument '${a}'\n${USAGE}`);
  }
  return { seconds, help };
}

async function rssBytes(pid: number): Promise<number> {
  const m = /VmRSS:\s+(\d+) kB/.exec(await readFile(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) * 1024 : Number.NaN;
}

const machine = (): string => `${cpus().length} cores, load average ${loadavg().map((l) => l.toFixed(2)).join(' ')}`;

export async function runAgentBench(args: readonly string[]): Promise<void> {
  const opts = parseArgs(args);
  if (opts.help) {
    console.log(USAGE);
    return;
  }
  const stale = await checkBuild();
  if (stale) process.stderr.write(`${stale}\n`);
  const owner = new BenchCleanup();
  owner.installSignalHandlers();
  const server = new TestMonitorServer();
  try {
    const coordProc = await startEmbeddedCoord({ t: owner });
    owner.trackProcess(coordProc);
    const coord = await createCoord({ endpoints: [coordProc.endpoint] });
    await coord.put('/monitor/config/bench-agent', JSON.stringify({ interval: 1, metrics: ['cpu', 'memory', 'disk', 'network', 'filesystem'] }));
    await coord.close();
    await server.start(0);

    const ne = await startProcess({
      name: 'node_exporter',
      command: NODE_EXPORTER,
      ports: ['web'],
      t: owner,
      args: ({ port }) => [`--web.listen-address=127.0.0.1:${port('web')}`, '--log.level=error'],
    });
    owner.trackProcess(ne);
    const agent = await startFlotilla(['agent', '--hostname', 'bench-agent', '--server', server.address, '--etcd', coordProc.endpoint], {
      name: 'flotilla agent',
      t: owner,
      ready: async (h) => h.output().includes('flotilla agent bench-agent'),
    });
    owner.trackProcess(agent);
    const nePid = ne.pid!;
    const agentPid = agent.pid!;
    const url = `http://127.0.0.1:${ne.port('web')}/metrics`;
    const scrape = async (): Promise<number> => (await (await fetch(url)).text()).length;

    console.log(`bench agent: ${opts.seconds} s window, 1 s interval / 1 s scrapes; machine: ${machine()}`);
    process.stderr.write('  warming up 5 s\n');
    for (let i = 0; i < 5; i++) {
      await scrape();
      await sleep(1000);
    }
    const batches0 = server.batchesOf('bench-agent').length;
    const cpu0 = { agent: await cpuSeconds(agentPid), ne: await cpuSeconds(nePid) };
    const rss = { agent: [] as number[], ne: [] as number[] };
    let scrapes = 0;
    let bytes = 0;
    const started = performance.now();
    for (let i = 0; i < opts.seconds; i++) {
      const tick = performance.now();
      bytes += await scrape();
      scrapes += 1;
      rss.agent.push(await rssBytes(agentPid));
      rss.ne.push(await rssBytes(nePid));
      await sleep(Math.max(0, 1000 - (performance.now() - tick)));
    }
    const elapsed = (performance.now() - started) / 1000;
    const cpu = { agent: (await cpuSeconds(agentPid)) - cpu0.agent, ne: (await cpuSeconds(nePid)) - cpu0.ne };
    const batches = server.batchesOf('bench-agent').length - batches0;
    const samples = server
      .batchesOf('bench-agent')
      .slice(batches0)
      .reduce((n, b) => n + b.metrics.length, 0);
    const MiB = 1024 * 1024;
    const row = (name: string, c: number, r: number[], work: string): string[] => [
      name,
      fmt(c, 2),
      fmt((c / elapsed) * 100, 2),
      fmt(Math.max(...r) / MiB, 1),
      fmt(r.at(-1)! / MiB, 1),
      work,
    ];
    console.log(
      '\n' +
        table(
          ['process', 'CPU s', 'CPU % of a core', 'RSS max MiB', 'RSS end MiB', 'work in the window'],
          [
            row('node_exporter', cpu.ne, rss.ne, `${scrapes} scrapes, ${fmt(bytes / scrapes / 1024, 1)} KiB each`),
            row('flotilla agent', cpu.agent, rss.agent, `${batches} batches, ${fmt(samples / Math.max(1, batches), 0)} samples each`),
          ],
        ),
    );
    const ratio = cpu.ne > 0 ? cpu.agent / cpu.ne : Number.POSITIVE_INFINITY;
    console.log(`\nagent/node_exporter: CPU ${ratio.toFixed(2)}x, RSS (max) ${(Math.max(...rss.agent) / Math.max(...rss.ne)).toFixed(2)}x`);
    console.log(`goal (agent CPU <= ${GOAL_RATIO}x node_exporter's): ${ratio <= GOAL_RATIO ? 'MET' : 'NOT MET'} (${ratio.toFixed(2)}x)`);
    console.log(`(${elapsed.toFixed(1)} s measured; at the end: ${machine()})`);
  } catch (err) {
    owner.passed = false;
    throw err;
  } finally {
    await server.stop();
    await owner.run();
  }
}
