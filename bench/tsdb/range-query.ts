/**
 * (c) A 24 h range query over about 1,000 series, on `flotilla server` and on a real Prometheus 2.42
 * holding the same samples: 25 h of node metrics (node-metrics.ts, 10 hosts x 108 series, 15 s scrapes
 * with a few ms of jitter) ending at the last whole hour. Flotilla's store gets them in-process before the
 * server starts (its WAL, blocks and head as they would be); Prometheus by remote write into its receiver,
 * in time order. Both are asked the same `/api/v1/query_range` over HTTP; each query runs once to warm up,
 * then `runs` times per peer alternating who goes first; the median wall time, the ratio and whether the
 * answers agree (same series and times, values within 1e-9 relative) are printed.
 */
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Code, FlotillaError } from '../../src/core/errors.js';
import { encodeWriteRequest, REMOTE_WRITE_HEADERS, type ExportSample } from '../../src/monitor/export/index.js';
import { createTsdb } from '../../src/monitor/tsdb/index.js';
import { startPrometheus } from '../../test/monitor/promql/prometheus-process.js';
import { startFlotilla, tcpReady, tempDir } from '../../test/testkit/index.js';
import type { BenchCleanup } from '../coord/bench-cleanup.js';
import { fmt, table } from '../coord/stats.js';
import { NodeMetrics } from './node-metrics.js';

const HOUR = 3_600_000;
const SCRAPE_MS = 15_000;

interface QueryCase {
  query: string;
  stepS: number;
}

// Functions that drop the metric name would make series of different metrics collide (an error on both
// peers), so the all-series queries keep it.
const QUERIES: QueryCase[] = [
  { query: '{__name__=~"node_.+"}', stepS: 60 },
  { query: 'last_over_time({__name__=~"node_.+"}[1h])', stepS: 3600 },
  { query: 'rate(node_cpu_seconds_total[5m])', stepS: 60 },
  { query: 'sum by (host) (rate(node_cpu_seconds_total[5m]))', stepS: 60 },
  { query: 'max_over_time(node_cpu_seconds_total[1h])', stepS: 3600 },
];

interface Matrix {
  status: string;
  error?: string;
  data: { resultType: string; result: { metric: Record<string, string>; values: [number, string][] }[] };
}

async function queryRange(base: string, q: QueryCase, startS: number, endS: number): Promise<{ ms: number; body: Matrix }> {
  const url = `${base}/api/v1/query_range?query=${encodeURIComponent(q.query)}&start=${startS}&end=${endS}&step=${q.stepS}`;
  for (let attempt = 1; ; attempt++) {
    const t0 = performance.now();
    let res: Response;
    try {
      res = await fetch(url, { signal: AbortSignal.timeout(600_000) });
    } catch (err) {
      // A kept-alive connection the server closed while idle (its keep-alive timeout) fails the next
      // request at once: retry that once on a new connection; the time of the failed try is not counted.
      if (attempt === 1) continue;
      throw new FlotillaError(Code.UNAVAILABLE, `${base}: ${q.query}: ${(err as Error).message} (${String((err as { cause?: unknown }).cause)})`);
    }
    const body = (await res.json()) as Matrix;
    const ms = performance.now() - t0;
    if (body.status !== 'success') throw new FlotillaError(Code.INTERNAL, `${base}: ${q.query}: ${body.error ?? res.status}`);
    return { ms, body };
  }
}

/** Differences between two answers (0 when the same series, times and values within 1e-9 relative). */
function differences(a: Matrix, b: Matrix): number {
  const key = (m: Record<string, string>): string => JSON.stringify(Object.entries(m).sort(([x], [y]) => (x < y ? -1 : 1)));
  const bm = new Map(b.data.result.map((s) => [key(s.metric), s.values]));
  let diff = Math.abs(a.data.result.length - b.data.result.length);
  for (const s of a.data.result) {
    const other = bm.get(key(s.metric));
    if (other === undefined || other.length !== s.values.length) {
      diff += 1;
      continue;
    }
    s.values.forEach(([t, v], i) => {
      const [t2, v2] = other[i]!;
      const x = Number(v);
      const y = Number(v2);
      if (t !== t2 || !(x === y || (Number.isNaN(x) && Number.isNaN(y)) || Math.abs(x - y) <= 1e-9 * Math.max(Math.abs(x), Math.abs(y)))) diff += 1;
    });
  }
  return diff;
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 === 1 ? s[(s.length - 1) >> 1]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

export async function rangeQuery(owner: BenchCleanup, series: number, runs = 5): Promise<void> {
  const hostCount = Math.max(1, Math.ceil(series / new NodeMetrics(1).size));
  const hosts = Array.from({ length: hostCount }, (_, i) => new NodeMetrics(i + 1));
  const end = Math.floor(Date.now() / HOUR) * HOUR;
  const start = end - 24 * HOUR;
  const first = end - 25 * HOUR;
  const scrapes = (end - first) / SCRAPE_MS + 1;
  const total = scrapes * hostCount * hosts[0]!.size;
  process.stderr.write(`  (c) ${hostCount} hosts x ${hosts[0]!.size} series, 25 h of 15 s scrapes (${fmt(total)} samples per peer): loading both\n`);

  const prom = await startPrometheus(owner);
  const dataDir = await tempDir(owner, 'flotilla-bench-query-');
  const db = createTsdb({ dir: join(dataDir, 'tsdb') });
  await db.start();
  // In chunks of 40 scrapes (10 minutes): one append to our store, one remote-write request per 10 000 samples to Prometheus.
  const loadStart = performance.now();
  let promMs = 0;
  const CHUNK = 40;
  for (let k = 0; k < scrapes; k += CHUNK) {
    const ours: { labels: Record<string, string>; timeMs: number; value: number }[] = [];
    const theirs: ExportSample[] = [];
    for (let j = k; j < Math.min(scrapes, k + CHUNK); j++) {
      hosts.forEach((g, h) => {
        const timeMs = first + j * SCRAPE_MS + g.jitter();
        for (const s of g.next()) {
          const labels = { ...s.labels, __name__: s.metric, host: `host-${h}` };
          ours.push({ labels, timeMs, value: s.value });
          theirs.push({ labels, timeMs, value: s.value });
        }
      });
    }
    const r = await db.append(ours);
    if (r.accepted !== ours.length) throw new FlotillaError(Code.INTERNAL, `the store refused samples: ${JSON.stringify(r.rejected)}`);
    const t0 = performance.now();
    for (let i = 0; i < theirs.length; i += 10_000) {
      const res = await fetch(`${prom.url}/api/v1/write`, { method: 'POST', headers: REMOTE_WRITE_HEADERS, body: encodeWriteRequest(theirs.slice(i, i + 10_000)) });
      if (res.status !== 204 && res.status !== 200) throw new FlotillaError(Code.INTERNAL, `Prometheus remote write answered ${res.status}: ${await res.text()}`);
    }
    promMs += performance.now() - t0;
  }
  await db.compact();
  const st = db.stats();
  await db.stop();
  process.stderr.write(`      loaded in ${fmt((performance.now() - loadStart) / 1000, 0)} s (Prometheus remote write ${fmt(promMs / 1000, 0)} s); ours: ${st.blocks} blocks + ${fmt(st.headSeries)} head series\n`);

  const server = await startFlotilla(
    ({ port }) => ['server', '--listen', `127.0.0.1:${port('grpc')}`, '--http', `127.0.0.1:${port('http')}`, '--coord-listen', `127.0.0.1:${port('coord')}`, '--data-dir', dataDir],
    { name: 'flotilla server', t: owner, ports: ['grpc', 'http', 'coord'], env: { FLOTILLA_LOG_LEVEL: 'warn', FLOTILLA_LOG_PRETTY: '0' }, ready: async (p) => tcpReady(p.port('http')) },
  );
  owner.trackProcess(server);
  const ours = `http://127.0.0.1:${server.port('http')}`;
  await sleep(500);

  const rows: string[][] = [];
  for (const q of QUERIES) {
    const warmP = await queryRange(prom.url, q, start / 1000, end / 1000);
    const warmO = await queryRange(ours, q, start / 1000, end / 1000);
    const diff = differences(warmO.body, warmP.body);
    const pm: number[] = [];
    const om: number[] = [];
    for (let r = 0; r < runs; r++) {
      if (r % 2 === 0) {
        pm.push((await queryRange(prom.url, q, start / 1000, end / 1000)).ms);
        om.push((await queryRange(ours, q, start / 1000, end / 1000)).ms);
      } else {
        om.push((await queryRange(ours, q, start / 1000, end / 1000)).ms);
        pm.push((await queryRange(prom.url, q, start / 1000, end / 1000)).ms);
      }
    }
    const points = warmP.body.data.result.reduce((n, s) => n + s.values.length, 0);
    rows.push([q.query, `${q.stepS}s`, fmt(warmP.body.data.result.length), fmt(points), fmt(median(pm), 0), fmt(median(om), 0), `${fmt(median(om) / median(pm), 2)}x`, diff === 0 ? 'yes' : `no (${fmt(diff)} differ)`]);
  }
  console.log(
    `\n(c) 24 h range queries over ${fmt(hostCount * hosts[0]!.size)} series (median of ${runs} runs, ms, over HTTP)\n` +
      table(['query', 'step', 'series', 'points', 'Prometheus ms', 'Flotilla ms', 'Flotilla/Prometheus', 'same answer'], rows),
  );
}
