/**
 * A real Prometheus (Debian's 2.42) for comparison tests: started on a free loopback port with no scrape
 * targets and the remote-write receiver on, fed by a hand-encoded remote-write WriteRequest (protobuf +
 * snappy), queried through its HTTP API.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import snappy from 'snappyjs';
import { startProcess, tempDir, type Cleanup, type ProcessHandle } from '../../testkit/index.js';
import type { Labels } from '../../../src/monitor/tsdb/types.js';

export const PROMETHEUS_BIN = process.env.FLOTILLA_TEST_PROMETHEUS ?? '/usr/bin/prometheus';

export interface PrometheusHandle {
  readonly proc: ProcessHandle;
  readonly url: string;
  write(series: readonly { labels: Labels; samples: readonly [number, number][] }[]): Promise<void>;
  query(expr: string, timeMs: number): Promise<{ resultType: string; result: unknown }>;
}

function varint(n: number | bigint, out: number[]): void {
  let v = BigInt.asUintN(64, BigInt(n));
  while (v >= 0x80n) {
    out.push(Number(v & 0x7fn) | 0x80);
    v >>= 7n;
  }
  out.push(Number(v));
}
function lenDelimited(field: number, bytes: number[] | Uint8Array, out: number[]): void {
  varint((field << 3) | 2, out);
  varint(bytes.length, out);
  for (const b of bytes) out.push(b);
}

/** prometheus.WriteRequest { repeated TimeSeries timeseries = 1 }, TimeSeries { labels = 1, samples = 2 }, Sample { double value = 1; int64 timestamp = 2 }. */
export function encodeWriteRequest(series: readonly { labels: Labels; samples: readonly [number, number][] }[]): Uint8Array {
  const out: number[] = [];
  const enc = new TextEncoder();
  for (const s of series) {
    const ts: number[] = [];
    for (const name of Object.keys(s.labels).sort()) {
      const l: number[] = [];
      lenDelimited(1, enc.encode(name), l);
      lenDelimited(2, enc.encode(s.labels[name]), l);
      lenDelimited(1, l, ts);
    }
    for (const [t, v] of s.samples) {
      const smp: number[] = [];
      varint((1 << 3) | 1, smp);
      const b = new Uint8Array(8);
      new DataView(b.buffer).setFloat64(0, v, true);
      smp.push(...b);
      varint((2 << 3) | 0, smp);
      varint(t, smp);
      lenDelimited(2, smp, ts);
    }
    lenDelimited(1, ts, out);
  }
  return Uint8Array.from(out);
}

export async function startPrometheus(t: Cleanup): Promise<PrometheusHandle> {
  const dataDir = await tempDir(t, 'flotilla-prometheus-');
  const config = join(dataDir, 'prometheus.yml');
  await writeFile(config, 'global:\n  scrape_interval: 1h\n  evaluation_interval: 1h\nscrape_configs: []\n');
  const proc = await startProcess({
    dataDir,
    name: 'prometheus',
    command: PROMETHEUS_BIN,
    ports: ['http'],
    t,
    args: (env) => {
      return [
        `--config.file=${config}`,
        `--storage.tsdb.path=${join(env.dataDir, 'data')}`,
        `--web.listen-address=127.0.0.1:${env.port('http')}`,
        '--web.enable-remote-write-receiver',
        '--storage.tsdb.retention.time=30d',
      ];
    },
    ready: async (h) => {
      try {
        const res = await fetch(`http://127.0.0.1:${h.port('http')}/-/ready`);
        return res.ok;
      } catch {
        return false;
      }
    },
  });
  const url = `http://127.0.0.1:${proc.port('http')}`;
  return {
    proc,
    url,
    async write(series) {
      const body = snappy.compress(encodeWriteRequest(series));
      const res = await fetch(`${url}/api/v1/write`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-protobuf', 'content-encoding': 'snappy', 'x-prometheus-remote-write-version': '0.1.0' },
        body,
      });
      if (res.status !== 204 && res.status !== 200) throw new Error(`remote write answered ${res.status}: ${await res.text()}`);
    },
    async query(expr, timeMs) {
      const res = await fetch(`${url}/api/v1/query?query=${encodeURIComponent(expr)}&time=${timeMs / 1000}`);
      const body = (await res.json()) as { status: string; data: { resultType: string; result: unknown }; error?: string };
      if (body.status !== 'success') throw new Error(`prometheus query ${expr} failed: ${body.error}`);
      return body.data;
    },
  };
}
