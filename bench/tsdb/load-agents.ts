/**
 * The ingest benchmark's load generator: simulated agents speaking MonitorService.CommandStream (gRPC over
 * HTTP/2, monitor.proto) with pre-encoded batches, so that generating load costs next to nothing.
 *
 * `BatchTemplate` encodes one agent's MetricBatch (N series, one scrape: every Metric with the same
 * time_ms) once; each batch is a copy with the seq, the time and the values patched in place (time_ms is
 * a 6-byte varint for any time from 1971 to 2109, value a fixed64). `AgentLoad` runs agents over raw
 * `node:http2` streams: hello, then batches with at most `inFlight` unacked, counting acks.
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

/** One agent's batch, encoded once and patched per send. */
export class BatchTemplate {
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
      const body = [0x08, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01, ...str(0x1a, metric), 0x21, 0, 0, 0, 0, 0, 0, 0, 0, ...entry('cpu', String(k % 16)), ...entry('device', `dev${k >> 4}`)];
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
    if (!(timeMs >= 2 ** 35 && timeMs < 2 ** 42)) throw new Error(`time ${timeMs} out of the 6-byte varint range`);
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
    // time_ms as a 6-byte varint (7 bits per byte).
    const t = [0, 0, 0, 0, 0, 0];
    let rest = timeMs;
    for (let i = 0; i < 6; i++) {
      t[i] = (rest % 128) | (i < 5 ? 0x80 : 0);
      rest = Math.floor(rest / 128);
    }
    for (let k = 0; k < this.series; k++) {
      const to = m + this.timeOffsets[k]!;
      for (let i = 0; i < 6; i++) out[to + i] = t[i]!;
      out.writeDoubleLE((base * 7 + k) % 1000, m + this.valueOffsets[k]!);
    }
    return out;
  }
}

/** A gRPC frame of AgentMessage{hello}. */
export function helloFrame(hostname: string): Buffer {
  const hello = [...str(0x0a, hostname), ...str(0x12, 'bench'), ...str(0x1a, `bench-${hostname}`)];
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
    const tpl = new BatchTemplate(this.o.series);
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

  private agent(session: http2.ClientHttp2Session, host: string, tpl: BatchTemplate, index: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const req = session.request({ ':method': 'POST', ':path': '/flotilla.v1.MonitorService/CommandStream', 'content-type': 'application/grpc+proto', te: 'trailers' });
      let seq = 0n;
      let acked = 0n;
      let pending: Buffer = Buffer.alloc(0);
      const pump = (): void => {
        while (!this.stopped && seq - acked < BigInt(this.o.inFlight)) {
          seq += 1n;
          req.write(tpl.encode(seq, this.o.t0 + Number(seq) * 1000, Number(seq) + index));
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
      req.write(helloFrame(host));
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
