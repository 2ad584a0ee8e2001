/**
 * The ingest benchmark's load generator: simulated agents speaking MonitorService.CommandStream (gRPC over
 * HTTP/2, monitor.proto) with pre-encoded batches, so that generating load costs next to nothing.
 *
 * Two wire forms, as agents send them. `RefBatchTemplate` (protocol 2, what `flotilla agent` sends): the
 * stream's first batch defines the N series (SeriesDef: ref, metric, labels), every batch then carries one
 * Scrape (time_ms, packed refs, packed values). `BatchTemplate` (protocol 1, the older form): one Metric
 * per sample with its own labels. Each encodes one agent's batch once; each send is a copy with the seq,
 * the time and the values patched in place (time_ms is a 6-byte varint for any time from 1971 to 2109,
 * a value 8 bytes). `AgentLoad` runs agents over raw `node:http2` streams: hello, then batches with at
 * most `inFlight` unacked, counting acks.
 */
import http2 from 'node:http2';
import { fromBinary } from '@bufbuild/protobuf';
import { ServerMessageSchema } from '../../src/gen/flotilla/v1/monitor_pb.js';

function varint(n: bigint | number): number[] {
  let v = BigInt(n);
  const out: number[] = [];
  while (v >= 0x80n) {
    out.push(Number(v & 0x7fn) | 0x80);
    v >>= 7n;
  }
  out.push(Number(v));
  return out;
}

function str(tag: number, s: string): number[] {
  const b = [...Buffer.from(s, 'utf8')];
  return [tag, ...varint(b.length), ...b];
}

/** time_ms as a 6-byte varint (7 bits per byte), for patching in place. */
function time6(timeMs: number): number[] {
  if (!(timeMs >= 2 ** 35 && timeMs < 2 ** 42)) throw new Error(`time ${timeMs} out of the 6-byte varint range`);
  const t = [0, 0, 0, 0, 0, 0];
  let rest = timeMs;
  for (let i = 0; i < 6; i++) {
    t[i] = (rest % 128) | (i < 5 ? 0x80 : 0);
    rest = Math.floor(rest / 128);
  }
  return t;
}

function lengthDelimited(tag: number, body: number[]): number[] {
  return [tag, ...varint(body.length), ...body];
}

/** The labels of series k of a simulated agent (16 cpus x N/16 devices). */
function benchLabels(k: number): [string, string][] {
  return [
    ['cpu', String(k % 16)],
    ['device', `dev${k >> 4}`],
  ];
}

/** The value of series k in batch `base`. */
function benchValue(base: number, k: number): number {
  return (base * 7 + k) % 1000;
}

/** Wire form of the simulated agents' batches. */
export type WireForm = 'refs' | 'metrics';

/** What both templates offer: a gRPC frame of AgentMessage{batch}. */
export interface Template {
  readonly series: number;
  /** `first`: the stream's first batch (carries the series definitions in the refs form). */
  encode(seq: bigint, timeMs: number, base: number, first: boolean): Buffer;
}

/**
 * Protocol 2: MetricBatch{seq, series (first batch of a stream only), scrapes: [Scrape{time_ms, refs,
 * values}]}, refs 0..N-1.
 */
export class RefBatchTemplate implements Template {
  private readonly defs: Buffer;
  private readonly refs: Buffer;

  constructor(
    readonly series: number,
    private readonly metric = 'bench_metric',
  ) {
    const defs: number[] = [];
    const refs: number[] = [];
    for (let k = 0; k < series; k++) {
      const entries = benchLabels(k).flatMap(([name, value]) => lengthDelimited(0x1a, [...str(0x0a, name), ...str(0x12, value)]));
      // MetricBatch.series (5): SeriesDef{1 ref, 2 metric, 3 labels}.
      defs.push(...lengthDelimited(0x2a, [0x08, ...varint(k), ...str(0x12, this.metric), ...entries]));
      refs.push(...varint(k));
    }
    this.defs = Buffer.from(defs);
    this.refs = Buffer.from(refs);
  }

  encode(seq: bigint, timeMs: number, base: number, first: boolean): Buffer {
    const n = this.series;
    // Scrape (6): 1 time_ms, 2 refs (packed varints), 3 values (packed doubles).
    const scrapeHead = [0x08, ...time6(timeMs), 0x12, ...varint(this.refs.length)];
    const valuesHead = [0x1a, ...varint(8 * n)];
    const scrapeLen = scrapeHead.length + this.refs.length + valuesHead.length + 8 * n;
    const scrapeTag = [0x32, ...varint(scrapeLen)];
    const seqField = [0x08, ...varint(seq)];
    const defs = first ? this.defs : Buffer.alloc(0);
    const batchLen = seqField.length + defs.length + scrapeTag.length + scrapeLen;
    const msgHead = [0x12, ...varint(batchLen), ...seqField];
    const msgLen = msgHead.length + defs.length + scrapeTag.length + scrapeLen;
    const out = Buffer.allocUnsafe(5 + msgLen);
    out[0] = 0;
    out.writeUInt32BE(msgLen, 1);
    let o = 5;
    o += Buffer.from(msgHead).copy(out, o);
    o += defs.copy(out, o);
    o += Buffer.from([...scrapeTag, ...scrapeHead]).copy(out, o);
    o += this.refs.copy(out, o);
    o += Buffer.from(valuesHead).copy(out, o);
    for (let k = 0; k < n; k++) out.writeDoubleLE(benchValue(base, k), o + 8 * k);
    return out;
  }
}

/** Protocol 1: one agent's batch of one Metric per sample, encoded once and patched per send. */
export class BatchTemplate implements Template {
  private readonly metrics: Buffer;
  private readonly timeOffsets: number[] = [];
  private readonly valueOffsets: number[] = [];

  constructor(readonly series: number, metric = 'bench_metric') {
    const parts: number[] = [];
    for (let k = 0; k < series; k++) {
      const entry = (key: string, value: string): number[] => {
        const e = [...str(0x0a, key), ...str(0x12, value)];
        return [0x2a, ...varint(e.length), ...e];
      };
      // Metric: 1 time_ms (6-byte varint, patched), 3 metric, 4 value (fixed64, patched), 5 labels.
      const body = [0x08, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01, ...str(0x1a, metric), 0x21, 0, 0, 0, 0, 0, 0, 0, 0, ...benchLabels(k).flatMap(([name, value]) => entry(name, value))];
      parts.push(0x12, ...varint(body.length));
      const start = parts.length;
      this.timeOffsets.push(start + 1);
      this.valueOffsets.push(start + 7 + str(0x1a, metric).length + 1);
      parts.push(...body);
    }
    this.metrics = Buffer.from(parts);
  }

  /** A gRPC frame of AgentMessage{batch: {seq, metrics}} with every sample at `timeMs`, values from `base`. */
  encode(seq: bigint, timeMs: number, base: number): Buffer {
    const seqField = [0x08, ...varint(seq)];
    const batchLen = seqField.length + this.metrics.length;
    const head = [0x12, ...varint(batchLen), ...seqField];
    const msgLen = head.length + this.metrics.length;
    const out = Buffer.allocUnsafe(5 + msgLen);
    out[0] = 0;
    out.writeUInt32BE(msgLen, 1);
    Buffer.from(head).copy(out, 5);
    const m = 5 + head.length;
    this.metrics.copy(out, m);
    const t = time6(timeMs);
    for (let k = 0; k < this.series; k++) {
      const to = m + this.timeOffsets[k]!;
      for (let i = 0; i < 6; i++) out[to + i] = t[i]!;
      out.writeDoubleLE(benchValue(base, k), m + this.valueOffsets[k]!);
    }
    return out;
  }
}

/** A gRPC frame of AgentMessage{hello} (protocol 2 when the agent sends refs). */
export function helloFrame(hostname: string, wire: WireForm = 'refs'): Buffer {
  const hello = [...str(0x0a, hostname), ...str(0x12, 'bench'), ...str(0x1a, `bench-${hostname}`), ...(wire === 'refs' ? [0x40, 2] : [])];
  const msg = [0x0a, ...varint(hello.length), ...hello];
  const out = Buffer.alloc(5 + msg.length);
  out.writeUInt32BE(msg.length, 1);
  Buffer.from(msg).copy(out, 5);
  return out;
}

export interface AgentLoadOptions {
  address: string;
  /** Host names of the agents this load drives. */
  hosts: readonly string[];
  series: number;
  inFlight: number;
  /** Agents per HTTP/2 connection. */
  agentsPerSession: number;
  /** First sample time; batch `seq` is at `t0 + seq * 1000`. */
  t0: number;
  /** Wire form of the batches. Default 'refs'. */
  wire?: WireForm;
}

/** Agents sending pre-encoded batches until stopped; `acked()` is the number of batches acked. */
export class AgentLoad {
  private readonly sessions: http2.ClientHttp2Session[] = [];
  private stopped = false;
  private ackedBatches = 0;
  private failure: Error | undefined;
  private readonly done: Promise<void>[] = [];

  constructor(private readonly o: AgentLoadOptions) {}

  acked(): number {
    if (this.failure !== undefined) throw this.failure;
    return this.ackedBatches;
  }

  start(): void {
    const wire = this.o.wire ?? 'refs';
    const tpl: Template = wire === 'refs' ? new RefBatchTemplate(this.o.series) : new BatchTemplate(this.o.series);
    this.o.hosts.forEach((host, i) => {
      if (i % this.o.agentsPerSession === 0) {
        const s = http2.connect(`http://${this.o.address}`);
        s.on('error', (err: Error) => {
          this.failure ??= err;
        });
        this.sessions.push(s);
      }
      this.done.push(this.agent(this.sessions.at(-1)!, host, tpl, i));
    });
  }

  private agent(session: http2.ClientHttp2Session, host: string, tpl: Template, index: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const req = session.request({ ':method': 'POST', ':path': '/flotilla.v1.MonitorService/CommandStream', 'content-type': 'application/grpc+proto', te: 'trailers' });
      let seq = 0n;
      let acked = 0n;
      let pending: Buffer = Buffer.alloc(0);
      const pump = (): void => {
        while (!this.stopped && seq - acked < BigInt(this.o.inFlight)) {
          seq += 1n;
          req.write(tpl.encode(seq, this.o.t0 + Number(seq) * 1000, Number(seq) + index, seq === 1n));
        }
      };
      req.on('response', (headers) => {
        const status = headers['grpc-status'];
        if (status !== undefined && status !== '0') this.failure ??= new Error(`${host}: stream refused: grpc-status ${String(status)} ${String(headers['grpc-message'] ?? '')}`);
      });
      req.on('data', (chunk: Buffer) => {
        pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
        while (pending.length >= 5) {
          const len = pending.readUInt32BE(1);
          if (pending.length < 5 + len) break;
          const msg = fromBinary(ServerMessageSchema, pending.subarray(5, 5 + len));
          pending = pending.subarray(5 + len);
          if (msg.kind.case === 'welcome' && (this.o.wire ?? 'refs') === 'refs' && msg.kind.value.protocol < 2) {
            this.failure ??= new Error(`${host}: the server does not speak protocol 2 (series references): its welcome says ${msg.kind.value.protocol}; rebuild dist/ (npx tsc -p tsconfig.build.json)`);
          }
          if (msg.kind.case === 'batchAck') {
            const n = msg.kind.value.seq;
            if (n > acked) {
              this.ackedBatches += Number(n - acked);
              acked = n;
            }
          }
        }
        pump();
      });
      req.on('trailers', (trailers) => {
        const status = trailers['grpc-status'];
        if (!this.stopped && status !== undefined && status !== '0') this.failure ??= new Error(`${host}: stream ended: grpc-status ${String(status)} ${String(trailers['grpc-message'] ?? '')}`);
      });
      req.on('error', (err) => {
        if (!this.stopped) this.failure ??= err;
      });
      req.on('close', () => resolve());
      req.write(helloFrame(host, this.o.wire ?? 'refs'));
      pump();
    });
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const s of this.sessions) s.close();
    await Promise.race([Promise.all(this.done), new Promise((r) => setTimeout(r, 3000))]);
    for (const s of this.sessions) s.destroy();
  }
}
