/**
 * A small MonitorService server for the agent's tests: it stands in for the monitor server process (written
 * elsewhere) and follows the proto contract faithfully. CommandStream: the first message must be
 * AgentHello, answered with ServerWelcome; each MetricBatch is taken once (a resend with a seq already
 * taken by the same agent incarnation is not recorded again) and acked with BatchAck(seq); commands go
 * down the stream and their CommandAcks resolve sendCommand(). It listens on 127.0.0.1 (a free port, or
 * the same port again after restart()) and destroys open HTTP/2 sessions on stop.
 *
 * It speaks protocol 2 (series references: a ref table per stream, batches recorded with each sample as
 * a Metric, as the agent meant it) unless made with `{ protocol: 1 }`, which answers like a server older
 * than the field (its welcome names no protocol) and records only `MetricBatch.metrics`.
 */
import { randomUUID } from 'node:crypto';
import http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import { create } from '@bufbuild/protobuf';
import { Code, ConnectError, type ConnectRouter } from '@connectrpc/connect';
import { connectNodeAdapter } from '@connectrpc/connect-node';
import type { AgentHello, AgentMessage, CommandAck, Metric, MetricBatch, ServerMessage } from '../../../src/gen/flotilla/v1/monitor_pb.js';
import { MetricSchema, MonitorService, ServerMessageSchema } from '../../../src/gen/flotilla/v1/monitor_pb.js';

export interface ReceivedBatch {
  hostname: string;
  incarnation: string;
  seq: number;
  backlog: boolean;
  droppedTotal: number;
  /** Every sample of the batch (those sent as refs converted back to Metrics). */
  metrics: Metric[];
  /** Which form carried the samples. */
  form: 'refs' | 'metrics' | 'both' | 'empty';
  /** Series definitions the batch carried. */
  definitions: number;
  receivedAtMs: number;
}

/** An unbounded async queue with close (the server's outgoing side of one stream). */
class Outgoing {
  private items: ServerMessage[] = [];
  private waiter: (() => void) | undefined;
  closed = false;
  push(m: ServerMessage): void {
    this.items.push(m);
    this.waiter?.();
  }
  close(): void {
    this.closed = true;
    this.waiter?.();
  }
  async *drain(): AsyncGenerator<ServerMessage> {
    for (;;) {
      const m = this.items.shift();
      if (m !== undefined) {
        yield m;
        continue;
      }
      if (this.closed) return;
      await new Promise<void>((r) => (this.waiter = r));
      this.waiter = undefined;
    }
  }
}

interface Conn {
  hello: AgentHello;
  out: Outgoing;
  /** The stream's ref table (protocol 2). */
  refs: Map<number, { metric: string; labels: Record<string, string> }>;
}

export interface TestMonitorServerOptions {
  /** The stream protocol to speak: 2 (series references, default) or 1 (a server older than the field). */
  protocol?: 1 | 2;
  /** max_series_refs told in the welcome (protocol 2). Default 1000. */
  maxSeriesRefs?: number;
}

export class TestMonitorServer {
  readonly batches: ReceivedBatch[] = [];
  readonly hellos: AgentHello[] = [];
  readonly acks: CommandAck[] = [];
  /** Batches received again after being taken (resends). */
  duplicates = 0;
  /** When false, batches are recorded but not acked (to test resends). */
  ackBatches = true;
  private readonly conns = new Map<string, Conn>();
  private readonly taken = new Map<string, number>();
  private readonly pending = new Map<string, (ack: CommandAck) => void>();
  private server: http2.Http2Server | undefined;
  private readonly sessions = new Set<http2.ServerHttp2Session>();
  private boundPort = 0;

  constructor(private readonly options: TestMonitorServerOptions = {}) {}

  get port(): number {
    return this.boundPort;
  }

  get address(): string {
    return `127.0.0.1:${this.boundPort}`;
  }

  connected(hostname: string): boolean {
    return this.conns.has(hostname);
  }

  async start(port = this.boundPort): Promise<void> {
    const handler = connectNodeAdapter({ grpc: true, connect: false, grpcWeb: false, routes: (r) => this.routes(r) });
    const srv = http2.createServer({}, handler);
    srv.on('session', (s) => {
      this.sessions.add(s);
      s.on('close', () => this.sessions.delete(s));
      s.on('error', () => undefined);
    });
    await new Promise<void>((resolve, reject) => {
      srv.once('error', reject);
      srv.listen(port, '127.0.0.1', () => {
        srv.off('error', reject);
        resolve();
      });
    });
    this.server = srv;
    this.boundPort = (srv.address() as AddressInfo).port;
  }

  async stop(): Promise<void> {
    const srv = this.server;
    this.server = undefined;
    if (srv === undefined) return;
    for (const c of this.conns.values()) c.out.close();
    this.conns.clear();
    const closed = new Promise<void>((resolve) => srv.close(() => resolve()));
    for (const s of this.sessions) s.destroy();
    this.sessions.clear();
    await closed;
  }

  private routes(router: ConnectRouter): void {
    router.service(MonitorService, {
      commandStream: (requests) => this.commandStream(requests),
    });
  }

  private commandStream(requests: AsyncIterable<AgentMessage>): AsyncIterable<ServerMessage> {
    const out = new Outgoing();
    let conn: Conn | undefined;
    const reader = async (): Promise<void> => {
      try {
        for await (const msg of requests) {
          if (conn === undefined) {
            if (msg.kind.case !== 'hello') throw new ConnectError('the first message must be AgentHello', Code.InvalidArgument);
            conn = { hello: msg.kind.value, out, refs: new Map() };
            this.hellos.push(msg.kind.value);
            this.conns.get(conn.hello.hostname)?.out.close();
            this.conns.set(conn.hello.hostname, conn);
            const v2 = (this.options.protocol ?? 2) === 2;
            out.push(
              create(ServerMessageSchema, {
                kind: { case: 'welcome', value: { serverVersion: 'test', configJson: '', ...(v2 ? { protocol: 2, maxSeriesRefs: this.options.maxSeriesRefs ?? 1000 } : {}) } },
              }),
            );
            continue;
          }
          if (msg.kind.case === 'batch') this.onBatch(conn, msg.kind.value);
          else if (msg.kind.case === 'ack') {
            this.acks.push(msg.kind.value);
            this.pending.get(msg.kind.value.id)?.(msg.kind.value);
            this.pending.delete(msg.kind.value.id);
          }
        }
      } catch {
        // the stream broke: the agent reconnects
      } finally {
        if (conn !== undefined && this.conns.get(conn.hello.hostname) === conn) this.conns.delete(conn.hello.hostname);
        out.close();
      }
    };
    void reader();
    return out.drain();
  }

  /** The batch's samples as Metrics: its own, then those of its scrapes through the stream's ref table. */
  private samplesOf(conn: Conn, b: MetricBatch): Metric[] {
    if ((this.options.protocol ?? 2) === 1) return b.metrics;
    for (const d of b.series) conn.refs.set(d.ref, { metric: d.metric, labels: { ...d.labels } });
    const out = [...b.metrics];
    for (const sc of b.scrapes) {
      if (sc.refs.length !== sc.values.length) throw new ConnectError('refs and values differ in length', Code.InvalidArgument);
      sc.refs.forEach((ref, i) => {
        const def = conn.refs.get(ref);
        if (def === undefined) throw new ConnectError(`ref ${ref} was never defined on this stream`, Code.InvalidArgument);
        out.push(create(MetricSchema, { timeMs: sc.timeMs, hostname: conn.hello.hostname, metric: def.metric, value: sc.values[i]!, labels: def.labels }));
      });
    }
    return out;
  }

  private onBatch(conn: Conn, b: MetricBatch): void {
    const metrics = this.samplesOf(conn, b);
    const refs = (this.options.protocol ?? 2) === 2 && b.scrapes.length > 0;
    const form = refs && b.metrics.length > 0 ? 'both' : refs ? 'refs' : b.metrics.length > 0 ? 'metrics' : 'empty';
    const key = `${conn.hello.hostname}/${conn.hello.incarnation}`;
    const seq = Number(b.seq);
    const last = this.taken.get(key) ?? Number(conn.hello.ackedSeq);
    if (seq <= last) {
      this.duplicates += 1;
    } else {
      this.taken.set(key, seq);
      this.batches.push({
        hostname: conn.hello.hostname,
        incarnation: conn.hello.incarnation,
        seq,
        backlog: b.backlog,
        droppedTotal: Number(b.droppedTotal),
        metrics,
        form,
        definitions: b.series.length,
        receivedAtMs: Date.now(),
      });
    }
    if (this.ackBatches) conn.out.push(create(ServerMessageSchema, { kind: { case: 'batchAck', value: { seq: BigInt(Math.max(seq, last)) } } }));
  }

  /** Sends a command to a connected agent and waits for its ack. */
  async sendCommand(hostname: string, action: string, payload: unknown = {}, opts: { deadlineMs?: number; timeoutMs?: number; rawPayload?: string } = {}): Promise<CommandAck> {
    const conn = this.conns.get(hostname);
    if (conn === undefined) throw new Error(`agent ${hostname} is not connected`);
    const id = randomUUID();
    const ack = new Promise<CommandAck>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new Error(`no ack for ${action} in ${opts.timeoutMs ?? 10_000} ms`));
      }, opts.timeoutMs ?? 10_000);
      this.pending.set(id, (a) => {
        clearTimeout(timer);
        resolve(a);
      });
    });
    conn.out.push(
      create(ServerMessageSchema, {
        kind: { case: 'command', value: { id, action, payloadJson: opts.rawPayload ?? JSON.stringify(payload), deadlineMs: BigInt(opts.deadlineMs ?? 0) } },
      }),
    );
    return ack;
  }

  /** Waits (bounded) until `predicate()` holds. */
  async waitFor(what: string, predicate: () => boolean, timeoutMs = 15_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!predicate()) {
      if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  batchesOf(hostname: string): ReceivedBatch[] {
    return this.batches.filter((b) => b.hostname === hostname);
  }
}
