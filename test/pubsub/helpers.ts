/** Test helpers for scheduled messaging: a raw WebSocket subscriber that records frames, and HTTP calls. */
import { createRequire } from 'node:module';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { silentLogger } from '../../src/core/log.js';
import { openSqlStore, type SqlStore } from '../../src/core/sql/index.js';
import { createHttpServer, type HttpServer } from '../../src/http/index.js';
import { createPubsubService, type PubsubService, type WebSocketConstructor } from '../../src/pubsub/index.js';
import { freePort, tempDir } from '../testkit/index.js';

/** The `ws` package's WebSocket, typed as much as the tests use (the package ships no types). */
export interface NodeWs {
  readyState: number;
  send(data: string | Buffer): void;
  close(code?: number, reason?: string): void;
  terminate(): void;
  on(event: 'message', fn: (data: Buffer, isBinary: boolean) => void): void;
  on(event: 'open', fn: () => void): void;
  on(event: 'close', fn: (code: number, reason: Buffer) => void): void;
  on(event: 'error', fn: (err: Error) => void): void;
}
const require = createRequire(import.meta.url);
const wsModule = require('ws') as { WebSocket: new (url: string) => NodeWs };
export const NodeWebSocket = wsModule.WebSocket;
export const ClientWebSocket = wsModule.WebSocket as unknown as WebSocketConstructor;

export interface Frame {
  id?: number;
  result?: Record<string, unknown>;
  error?: { code: string; message: string };
  pub?: { channel: string; offset: number; epoch: string; id: string; data?: unknown; deliverAt: number; publishedAt: number; duplicate?: boolean };
  [k: string]: unknown;
}

export interface Received {
  frame: Frame;
  atMs: number;
}

/** A raw subscriber: records every frame with its arrival time; acks publications when `autoAck`. */
export class RawSubscriber {
  readonly frames: Received[] = [];
  readonly ws: NodeWs;
  closeCode: number | undefined;
  private nextId = 1000;

  private constructor(url: string, private readonly autoAck: boolean) {
    this.ws = new NodeWebSocket(url);
    this.ws.on('message', (data) => {
      const frame = JSON.parse(data.toString('utf8')) as Frame;
      this.frames.push({ frame, atMs: Date.now() });
      if (this.autoAck && frame.pub !== undefined) this.ws.send(JSON.stringify({ ack: { channel: frame.pub.channel, offset: frame.pub.offset } }));
    });
    this.ws.on('close', (code) => {
      this.closeCode = code;
    });
    this.ws.on('error', () => undefined);
  }

  static async open(url: string, autoAck = true): Promise<RawSubscriber> {
    const s = new RawSubscriber(url, autoAck);
    await new Promise<void>((resolve, reject) => {
      s.ws.on('open', () => resolve());
      s.ws.on('error', reject);
    });
    return s;
  }

  pubs(channel?: string): NonNullable<Frame['pub']>[] {
    return this.frames.map((f) => f.frame.pub).filter((p): p is NonNullable<Frame['pub']> => p !== undefined && (channel === undefined || p.channel === channel));
  }

  send(frame: unknown): void {
    this.ws.send(typeof frame === 'string' ? frame : JSON.stringify(frame));
  }

  /** Sends a command with a fresh id and waits for its reply. */
  async request(body: Record<string, unknown>, timeoutMs = 5000): Promise<Frame> {
    const id = this.nextId++;
    const from = this.frames.length;
    this.send({ id, ...body });
    return this.waitFor((f) => f.id === id, timeoutMs, from);
  }

  /** Waits for a frame matching `pred` among those received from index `from` on. */
  async waitFor(pred: (f: Frame) => boolean, timeoutMs = 5000, from = 0): Promise<Frame> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const hit = this.frames.slice(from).find((r) => pred(r.frame));
      if (hit !== undefined) return hit.frame;
      if (Date.now() > deadline) throw new Error(`no matching frame within ${timeoutMs} ms; got ${JSON.stringify(this.frames.slice(-5).map((r) => r.frame))}`);
      await sleep(10);
    }
  }

  close(): void {
    this.ws.terminate();
  }
}

export async function httpJson(base: string, method: string, path: string, body?: unknown): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(base + path, {
    method,
    ...(body !== undefined ? { headers: { 'content-type': 'application/json' }, body: typeof body === 'string' ? body : JSON.stringify(body) } : {}),
  });
  const text = await res.text();
  return { status: res.status, body: text === '' ? {} : (JSON.parse(text) as Record<string, unknown>) };
}

/** Waits until `cond()` holds, polling every 20 ms, at most timeoutMs. */
export async function waitUntil(cond: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(20);
  }
}

export function percentile(values: number[], p: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

/**
 * A pubsub service on a SQLite store in a temp dir, its routes on an HTTP server on a free loopback port,
 * both started and stopped when the test ends. `beforeStart` registers more routes on the same app.
 */
export async function startPubsub(t: TestContext, secretSeed: string, beforeStart?: (app: HttpServer['app'], service: PubsubService) => void): Promise<{ service: PubsubService; http: HttpServer; sql: SqlStore; dir: string }> {
  const dir = await tempDir(t);
  const sql = await openSqlStore(`sqlite:${join(dir, 'db.sqlite')}`);
  t.after(() => sql.close());
  const service = createPubsubService({ sql, logger: silentLogger(), dataDir: dir, tokenSecret: `${secretSeed}-test-secret-`.padEnd(40, secretSeed[0]) });
  const http = createHttpServer({ listen: `127.0.0.1:${await freePort()}`, logger: silentLogger(), processName: 'test', version: 'test' });
  service.registerHttp(http.app);
  beforeStart?.(http.app, service);
  await service.start();
  t.after(() => service.stop());
  await http.start();
  t.after(() => http.stop());
  return { service, http, sql, dir };
}
