/**
 * Test fixtures for the monitoring server: an in-process coordination store (embedded, or real etcd), the
 * monitor server on its own ConnectRPC HTTP/2 listener and Fastify app, a captured log, and agent streams
 * written with a ConnectRPC client following monitor.proto.
 */
import http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { create } from '@bufbuild/protobuf';
import { createClient, type Client } from '@connectrpc/connect';
import { connectNodeAdapter, createGrpcTransport, Http2SessionManager } from '@connectrpc/connect-node';
import type { FastifyInstance } from 'fastify';
import { createHttpServer } from '../../../src/http/index.js';
import { createLogger } from '../../../src/core/log.js';
import { createCoord, createEmbeddedCoordServer, type Coord } from '../../../src/coord/index.js';
import { AgentMessageSchema, MonitorService, type AgentMessage, type Command, type ServerMessage } from '../../../src/gen/flotilla/v1/monitor_pb.js';
import { createMonitorServer, type MonitorServer, type MonitorServerOptions } from '../../../src/monitor/index.js';
import type { Cleanup } from '../../testkit/index.js';
import { startEtcd, tempDir } from '../../testkit/index.js';
import { existsSync } from 'node:fs';
import { ETCD_BIN } from '../../testkit/index.js';

/** A log that keeps its lines (JSON, one per line) for assertions. */
export class LogCapture extends Writable {
  readonly lines: string[] = [];
  override _write(chunk: Buffer, _enc: BufferEncoding, cb: () => void): void {
    for (const l of chunk.toString('utf8').split('\n')) if (l !== '') this.lines.push(l);
    if (this.lines.length > 200_000) this.lines.splice(0, 100_000);
    cb();
  }
  /** The `msg` of every line. */
  messages(): string[] {
    return this.lines.map((l) => (JSON.parse(l) as { msg?: string }).msg ?? '');
  }
  has(msg: string): boolean {
    return this.messages().includes(msg);
  }
  count(msg: string): number {
    return this.messages().filter((m) => m === msg).length;
  }
}

/** Polls until `check` holds (errors count as false); bounded. */
export async function eventually(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await Promise.resolve().then(check).catch(() => false)) return;
    if (Date.now() > deadline) throw new Error(`${what}: not true within ${timeoutMs} ms`);
    await sleep(25);
  }
}

export interface TestCoord {
  coord: Coord;
  endpoint: string;
}

export const HAVE_ETCD = existsSync(ETCD_BIN);

/** A coordination store for one test: 'embedded' (in this process) or 'etcd' (a real etcd process). */
export async function startCoord(t: Cleanup, kind: 'embedded' | 'etcd' = 'embedded'): Promise<TestCoord> {
  let endpoint: string;
  if (kind === 'etcd') {
    endpoint = (await startEtcd({ t })).endpoint;
  } else {
    const dataDir = await tempDir(t);
    const server = createEmbeddedCoordServer({ listen: '127.0.0.1:0', dataDir });
    await server.start();
    t.after(() => server.stop());
    endpoint = server.address;
  }
  const coord = await createCoord({ endpoints: [endpoint] });
  t.after(() => coord.close());
  return { coord, endpoint };
}

export interface TestMonitor {
  monitor: MonitorServer;
  /** host:port of the gRPC listener. */
  address: string;
  /** http://host:port of the HTTP app. */
  url: string;
  log: LogCapture;
  app: FastifyInstance;
}

/**
 * The monitor server on free loopback ports, stopped by `t`. Agent streams are served as `flotilla server`
 * serves them: the lean stream path in front of ConnectRPC; `transport: 'connect'` serves them with
 * ConnectRPC only.
 */
export async function startMonitor(t: Cleanup, coord: Coord, options: Partial<MonitorServerOptions> & { transport?: 'lean' | 'connect' } = {}): Promise<TestMonitor> {
  const log = new LogCapture();
  const logger = createLogger({ name: 'server', level: 'debug', pretty: false, destination: log });
  const { transport = 'lean', ...monitorOptions } = options;
  const monitor = createMonitorServer({ coord, logger, ...monitorOptions });
  const sessions = new Set<http2.ServerHttp2Session>();
  const connect = connectNodeAdapter({ grpc: true, connect: false, grpcWeb: false, readMaxBytes: 4 * 1024 * 1024, routes: (r) => monitor.registerGrpc(r) });
  const srv = http2.createServer({}, transport === 'connect' ? connect : (req, res) => void (monitor.streamHandler(req, res) || connect(req, res)));
  srv.on('session', (s) => {
    sessions.add(s);
    s.on('close', () => sessions.delete(s));
    s.on('error', () => undefined);
  });
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  const http = createHttpServer({ listen: '127.0.0.1:0', logger, processName: 'test', version: 'test' });
  const app = http.app;
  monitor.registerHttp(app);
  await http.start();
  await monitor.start();
  t.after(async () => {
    await monitor.stop();
    await app.close();
    const closed = new Promise<void>((resolve) => srv.close(() => resolve()));
    for (const s of sessions) s.destroy();
    await closed;
  });
  return { monitor, address: `127.0.0.1:${(srv.address() as AddressInfo).port}`, url: http.url, log, app };
}

/** A MonitorService client, closed by `t`. */
export function monitorClient(t: Cleanup, address: string): Client<typeof MonitorService> {
  const manager = new Http2SessionManager(`http://${address}`);
  t.after(() => manager.abort());
  return createClient(MonitorService, createGrpcTransport({ baseUrl: `http://${address}`, sessionManager: manager }));
}

/** A push-driven async iterable of outgoing agent messages. */
class Outbox implements AsyncIterable<AgentMessage> {
  private readonly queue: AgentMessage[] = [];
  private wake: (() => void) | undefined;
  private ended = false;
  push(m: AgentMessage): void {
    this.queue.push(m);
    this.wake?.();
  }
  end(): void {
    this.ended = true;
    this.wake?.();
  }
  async *[Symbol.asyncIterator](): AsyncGenerator<AgentMessage> {
    for (;;) {
      const m = this.queue.shift();
      if (m !== undefined) {
        yield m;
        continue;
      }
      if (this.ended) return;
      await new Promise<void>((resolve) => (this.wake = resolve));
      this.wake = undefined;
    }
  }
}

export interface TestAgentOptions {
  incarnation?: string;
  ackedSeq?: bigint;
  /** Answers each command; default: ok with message "done <action>". Return undefined to never ack. */
  onCommand?: (c: Command) => { ok: boolean; message: string; resultJson?: string } | undefined;
  /** Do not send the hello (to test the server's refusal). */
  noHello?: boolean;
  /** The protocol named in the hello. Default 2. */
  protocol?: number;
  /** A deadline for the whole stream (grpc-timeout). Default: none. */
  timeoutMs?: number;
}

/** A batch in the series-reference form (protocol 2): definitions, then scrapes of (ref, value) pairs. */
export interface RefBatch {
  series?: { ref: number; metric: string; labels?: Record<string, string> }[];
  scrapes?: { timeMs?: number; refs: number[]; values: number[] }[];
  /** Samples in the per-Metric form in the same batch. */
  metrics?: { metric: string; value: number; labels?: Record<string, string>; timeMs?: number }[];
  droppedTotal?: bigint;
  backlog?: boolean;
}

/** One agent stream as the proto contract says: hello first, then batches and acks. */
export class TestAgent {
  readonly received: ServerMessage[] = [];
  readonly commands: Command[] = [];
  /** Settles when the stream ends: undefined when cleanly, else the error. */
  readonly done: Promise<Error | undefined>;
  private readonly outbox = new Outbox();
  private readonly abort = new AbortController();

  constructor(
    client: Client<typeof MonitorService>,
    readonly hostname: string,
    options: TestAgentOptions = {},
  ) {
    if (options.noHello !== true) {
      this.send({
        kind: {
          case: 'hello',
          value: {
            hostname,
            version: 'test',
            incarnation: options.incarnation ?? 'inc-1',
            configJson: '',
            availableMetrics: ['cpu', 'memory'],
            ackedSeq: options.ackedSeq ?? 0n,
            protocol: options.protocol ?? 2,
          },
        },
      });
    }
    const onCommand = options.onCommand ?? ((c: Command): { ok: boolean; message: string; resultJson?: string } => ({ ok: true, message: `done ${c.action}` }));
    this.done = (async () => {
      try {
        for await (const m of client.commandStream(this.outbox, { signal: this.abort.signal, ...(options.timeoutMs !== undefined ? { timeoutMs: options.timeoutMs } : {}) })) {
          this.received.push(m);
          if (m.kind.case === 'command') {
            const c = m.kind.value;
            this.commands.push(c);
            const r = onCommand(c);
            if (r !== undefined) this.send({ kind: { case: 'ack', value: { id: c.id, ok: r.ok, message: r.message, resultJson: r.resultJson ?? '' } } });
          }
        }
        return undefined;
      } catch (err) {
        return err as Error;
      }
    })();
  }

  send(init: Parameters<typeof create<typeof AgentMessageSchema>>[1]): void {
    this.outbox.push(create(AgentMessageSchema, init));
  }

  batch(seq: bigint, metrics: { metric: string; value: number; labels?: Record<string, string>; timeMs?: number; hostname?: string }[], extra: { droppedTotal?: bigint; backlog?: boolean } = {}): void {
    this.send({
      kind: {
        case: 'batch',
        value: {
          seq,
          droppedTotal: extra.droppedTotal ?? 0n,
          backlog: extra.backlog ?? false,
          metrics: metrics.map((m) => ({ timeMs: BigInt(m.timeMs ?? Date.now()), hostname: m.hostname ?? this.hostname, metric: m.metric, value: m.value, labels: m.labels ?? {} })),
        },
      },
    });
  }

  /** Sends a batch in the series-reference form. */
  refBatch(seq: bigint, b: RefBatch): void {
    this.send({
      kind: {
        case: 'batch',
        value: {
          seq,
          droppedTotal: b.droppedTotal ?? 0n,
          backlog: b.backlog ?? false,
          series: (b.series ?? []).map((d) => ({ ref: d.ref, metric: d.metric, labels: d.labels ?? {} })),
          scrapes: (b.scrapes ?? []).map((sc) => ({ timeMs: BigInt(sc.timeMs ?? Date.now()), refs: sc.refs, values: sc.values })),
          metrics: (b.metrics ?? []).map((m) => ({ timeMs: BigInt(m.timeMs ?? Date.now()), hostname: this.hostname, metric: m.metric, value: m.value, labels: m.labels ?? {} })),
        },
      },
    });
  }

  /** The welcome, once received. */
  welcome(): Extract<ServerMessage['kind'], { case: 'welcome' }>['value'] | undefined {
    const k = this.received[0]?.kind;
    return k?.case === 'welcome' ? k.value : undefined;
  }

  /** The highest batch ack received so far (0n when none). */
  ackedSeq(): bigint {
    let s = 0n;
    for (const m of this.received) if (m.kind.case === 'batchAck' && m.kind.value.seq > s) s = m.kind.value.seq;
    return s;
  }

  welcomed(): boolean {
    return this.received[0]?.kind.case === 'welcome';
  }

  /** Half-closes the stream (the agent is done sending). */
  end(): void {
    this.outbox.end();
  }

  /** Breaks the stream at once (as a killed agent would). */
  kill(): void {
    this.abort.abort();
  }
}

/** Opens an agent stream; `t` kills it at the end. */
export function startAgent(t: Cleanup, client: Client<typeof MonitorService>, hostname: string, options: TestAgentOptions = {}): TestAgent {
  const a = new TestAgent(client, hostname, options);
  t.after(async () => {
    a.kill();
    await a.done;
  });
  return a;
}
