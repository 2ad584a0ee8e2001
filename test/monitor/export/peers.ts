/**
 * Real peers of the export tests, started on loopback with everything in a temp dir: Prometheus 2.42
 * (remote-write receiver on, optional scrape config) and InfluxDB 1.x (a temp config: meta, data and wal
 * dirs inside, HTTP and RPC bound to 127.0.0.1 on free ports, reporting and self-monitoring off, no other
 * listener). Both Debian packages; scripts/test-deps.sh installs them.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Cleanup, ProcessHandle } from '../../testkit/index.js';
import { freePort, startProcess, tempDir } from '../../testkit/index.js';

export const PROMETHEUS_BIN = '/usr/bin/prometheus';
export const INFLUXD_BIN = '/usr/bin/influxd';

async function httpOk(url: string): Promise<boolean> {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(2_000) });
    await res.arrayBuffer();
    return res.ok;
  } catch {
    return false;
  }
}

export interface PrometheusPeer {
  h: ProcessHandle;
  url: string;
  /** Instant query; the result vector. */
  query(expr: string): Promise<{ metric: Record<string, string>; value: [number, string] }[]>;
}

export async function startPrometheus(t: Cleanup, options: { scrapeTarget?: string; scrapeIntervalSeconds?: number } = {}): Promise<PrometheusPeer> {
  const dataDir = await tempDir(t, 'flotilla-prom-');
  const interval = `${options.scrapeIntervalSeconds ?? 1}s`;
  const yaml =
    `global:\n  scrape_interval: ${interval}\n  evaluation_interval: ${interval}\n` +
    (options.scrapeTarget !== undefined
      ? `scrape_configs:\n  - job_name: flotilla\n    scrape_interval: ${interval}\n    static_configs:\n      - targets: ['${options.scrapeTarget}']\n`
      : 'scrape_configs: []\n');
  await writeFile(join(dataDir, 'prometheus.yml'), yaml);
  const port = await freePort();
  const h = await startProcess({
    name: 'prometheus',
    command: PROMETHEUS_BIN,
    t,
    dataDir,
    args: [
      `--config.file=${join(dataDir, 'prometheus.yml')}`,
      `--storage.tsdb.path=${join(dataDir, 'tsdb')}`,
      `--web.listen-address=127.0.0.1:${port}`,
      '--web.enable-remote-write-receiver',
    ],
    ready: async () => httpOk(`http://127.0.0.1:${port}/-/ready`),
  });
  const url = `http://127.0.0.1:${port}`;
  return {
    h,
    url,
    async query(expr) {
      const res = await fetch(`${url}/api/v1/query?query=${encodeURIComponent(expr)}`);
      const body = (await res.json()) as { status: string; data: { result: { metric: Record<string, string>; value: [number, string] }[] }; error?: string };
      if (body.status !== 'success') throw new Error(`prometheus query ${expr}: ${body.error ?? res.status}`);
      return body.data.result;
    },
  };
}

export interface InfluxSeries {
  name: string;
  columns: string[];
  values: unknown[][];
  tags?: Record<string, string>;
}

export interface InfluxPeer {
  h: ProcessHandle;
  url: string;
  /** Runs InfluxQL (times in ms); the first statement's series. */
  query(db: string, q: string): Promise<InfluxSeries[]>;
  createDatabase(name: string): Promise<void>;
}

export async function startInfluxd(t: Cleanup): Promise<InfluxPeer> {
  const dataDir = await tempDir(t, 'flotilla-influx-');
  const httpPort = await freePort();
  const rpcPort = await freePort();
  await writeFile(join(dataDir, 'influxdb.conf'), influxConfig(dataDir, httpPort, rpcPort));
  const url = `http://127.0.0.1:${httpPort}`;
  const h = await startProcess({
    name: 'influxd',
    command: INFLUXD_BIN,
    t,
    dataDir,
    args: ['run', '-config', join(dataDir, 'influxdb.conf')],
    ready: async () => httpOk(`${url}/ping`),
  });
  return {
    h,
    url,
    async query(db, q) {
      const res = await fetch(`${url}/query?db=${encodeURIComponent(db)}&epoch=ms&q=${encodeURIComponent(q)}`);
      const body = (await res.json()) as { results?: { series?: InfluxSeries[]; error?: string }[]; error?: string };
      const r = body.results?.[0];
      if (body.error !== undefined || r?.error !== undefined) throw new Error(`influx ${q}: ${body.error ?? r?.error}`);
      return r?.series ?? [];
    },
    async createDatabase(name) {
      const res = await fetch(`${url}/query`, { method: 'POST', body: new URLSearchParams({ q: `CREATE DATABASE "${name}"` }) });
      if (!res.ok) throw new Error(`CREATE DATABASE ${name}: HTTP ${res.status} ${await res.text()}`);
    },
  };
}

/** The influxd config for a data dir and ports. */
export function influxConfig(dataDir: string, httpPort: number, rpcPort: number): string {
  return [
    'reporting-disabled = true',
    `bind-address = "127.0.0.1:${rpcPort}"`,
    '[meta]',
    `  dir = "${join(dataDir, 'meta')}"`,
    '[data]',
    `  dir = "${join(dataDir, 'data')}"`,
    `  wal-dir = "${join(dataDir, 'wal')}"`,
    '  query-log-enabled = false',
    '[monitor]',
    '  store-enabled = false',
    '[http]',
    '  enabled = true',
    `  bind-address = "127.0.0.1:${httpPort}"`,
    '  auth-enabled = false',
    '  log-enabled = false',
    '[continuous_queries]',
    '  enabled = false',
    '',
  ].join('\n');
}
