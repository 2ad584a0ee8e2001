/**
 * A minimal NATS core client on node:net, speaking the NATS text protocol: INFO, CONNECT, PUB, SUB,
 * UNSUB, MSG, PING/PONG, +OK/-ERR. Enough for fan-out between servers: publish, subscribe, flush (a PING
 * answered by a PONG proves every earlier PUB reached the server), and reconnect with backoff that
 * restores subscriptions. No TLS, no auth beyond user:pass in the URL, no headers (HPUB), no JetStream.
 */
import { connect, type Socket } from 'node:net';
import { backoffDelayMs } from '../core/backoff.js';
import { Code, FlotillaError } from '../core/errors.js';
import type { Logger } from '../core/log.js';

export interface NatsClientOptions {
  /** nats://[user:pass@]host:port */
  url: string;
  logger: Logger;
  /** Client name shown by the NATS server. */
  name?: string;
  /** Largest wait for a flush (PONG). Default 5000 ms. */
  flushTimeoutMs?: number;
}

type MsgHandler = (subject: string, payload: Buffer) => void;

interface PendingPong {
  resolve: () => void;
  reject: (err: Error) => void;
  timer: NodeJS.Timeout;
}

export function parseNatsUrl(url: string): { host: string; port: number; user?: string; pass?: string } {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new FlotillaError(Code.CONFIG_INVALID, `invalid NATS URL ${JSON.stringify(url)}: expected nats://host:port`);
  }
  if (u.protocol !== 'nats:') throw new FlotillaError(Code.CONFIG_INVALID, `invalid NATS URL ${JSON.stringify(url)}: expected nats://host:port (TLS is not supported)`);
  const out: { host: string; port: number; user?: string; pass?: string } = { host: u.hostname.replace(/^\[|\]$/g, ''), port: u.port === '' ? 4222 : Number(u.port) };
  if (u.username !== '') out.user = decodeURIComponent(u.username);
  if (u.password !== '') out.pass = decodeURIComponent(u.password);
  return out;
}

export class NatsClient {
  private socket: Socket | undefined;
  private buf: Buffer = Buffer.alloc(0);
  private readonly subs = new Map<number, { subject: string; handler: MsgHandler }>();
  private nextSid = 1;
  private readonly pongs: PendingPong[] = [];
  private closed = false;
  private connected = false;
  private attempt = 0;
  private reconnectTimer: NodeJS.Timeout | undefined;
  private pingTimer: NodeJS.Timeout | undefined;
  private readonly target: ReturnType<typeof parseNatsUrl>;
  private maxPayload = 1024 * 1024;
  private firstConnect: { resolve: () => void; reject: (e: Error) => void } | undefined;

  constructor(private readonly options: NatsClientOptions) {
    this.target = parseNatsUrl(options.url);
  }

  get isConnected(): boolean {
    return this.connected;
  }

  /** Connects; rejects if the first connection fails (later drops reconnect on their own). */
  async connect(): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      this.firstConnect = { resolve, reject };
      this.open();
    });
  }

  /** Subscribes to `subject`; the handler gets each message's subject and payload. */
  subscribe(subject: string, handler: MsgHandler): number {
    const sid = this.nextSid++;
    this.subs.set(sid, { subject, handler });
    if (this.connected) this.write(`SUB ${subject} ${sid}\r\n`);
    return sid;
  }

  unsubscribe(sid: number): void {
    if (this.subs.delete(sid) && this.connected) this.write(`UNSUB ${sid}\r\n`);
  }

  /** Publishes; throws UNAVAILABLE when not connected (the caller retries later). */
  publish(subject: string, payload: Buffer | string): void {
    if (!this.connected) throw new FlotillaError(Code.UNAVAILABLE, `not connected to NATS at ${this.options.url}`);
    const data = typeof payload === 'string' ? Buffer.from(payload) : payload;
    if (data.length > this.maxPayload) throw new FlotillaError(Code.RESOURCE_EXHAUSTED, `NATS payload of ${data.length} bytes exceeds the server's max_payload ${this.maxPayload}`, { retryable: false });
    this.socket!.write(Buffer.concat([Buffer.from(`PUB ${subject} ${data.length}\r\n`), data, Buffer.from('\r\n')]));
  }

  /** Resolves once the server has processed everything sent before (PING/PONG round trip). */
  flush(): Promise<void> {
    if (!this.connected) return Promise.reject(new FlotillaError(Code.UNAVAILABLE, `not connected to NATS at ${this.options.url}`));
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        const i = this.pongs.findIndex((p) => p.timer === timer);
        if (i >= 0) this.pongs.splice(i, 1);
        reject(new FlotillaError(Code.DEADLINE_EXCEEDED, `NATS did not answer PING within ${this.options.flushTimeoutMs ?? 5000} ms`));
      }, this.options.flushTimeoutMs ?? 5000);
      this.pongs.push({ resolve, reject, timer });
      this.write('PING\r\n');
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.reconnectTimer);
    clearInterval(this.pingTimer);
    this.failPongs(new FlotillaError(Code.CANCELLED, 'NATS client closed'));
    const s = this.socket;
    this.socket = undefined;
    this.connected = false;
    if (s !== undefined && !s.destroyed) {
      await new Promise<void>((resolve) => {
        s.once('close', () => resolve());
        s.end();
        setTimeout(() => s.destroy(), 500).unref();
      });
    }
  }

  private write(text: string): void {
    if (this.socket !== undefined && !this.socket.destroyed) this.socket.write(text);
  }

  private failPongs(err: Error): void {
    for (const p of this.pongs.splice(0)) {
      clearTimeout(p.timer);
      p.reject(err);
    }
  }

  private open(): void {
    const sock = connect({ host: this.target.host, port: this.target.port });
    this.socket = sock;
    this.buf = Buffer.alloc(0);
    sock.setNoDelay(true);
    sock.on('data', (chunk: Buffer) => {
      this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
      try {
        this.parse();
      } catch (err) {
        this.options.logger.warn({ err: FlotillaError.from(err).message }, 'nats: protocol error; reconnecting');
        sock.destroy();
      }
    });
    sock.on('error', (err) => {
      this.options.logger.debug({ err: err.message }, 'nats: socket error');
    });
    sock.on('close', () => {
      const was = this.connected;
      this.connected = false;
      clearInterval(this.pingTimer);
      this.failPongs(new FlotillaError(Code.UNAVAILABLE, 'NATS connection lost'));
      if (this.firstConnect !== undefined) {
        const fc = this.firstConnect;
        this.firstConnect = undefined;
        this.closed = true;
        fc.reject(new FlotillaError(Code.UNAVAILABLE, `cannot connect to NATS at ${this.options.url}`));
        return;
      }
      if (this.closed || this.socket !== sock) return;
      if (was) this.options.logger.warn({ url: this.options.url }, 'nats: connection lost; reconnecting');
      const delay = backoffDelayMs(this.attempt++, { baseMs: 100, maxMs: 5000, jitter: 'equal' });
      this.reconnectTimer = setTimeout(() => this.open(), delay);
    });
  }

  private onInfo(json: string): void {
    try {
      const info = JSON.parse(json) as { max_payload?: number };
      if (typeof info.max_payload === 'number') this.maxPayload = info.max_payload;
    } catch {
      // keep the default
    }
    if (this.connected) return; // an INFO update (cluster change)
    const connectOpts: Record<string, unknown> = { verbose: false, pedantic: false, lang: 'node', version: '0.1.0', protocol: 1, name: this.options.name ?? 'flotilla', echo: true };
    if (this.target.user !== undefined) connectOpts.user = this.target.user;
    if (this.target.pass !== undefined) connectOpts.pass = this.target.pass;
    let text = `CONNECT ${JSON.stringify(connectOpts)}\r\n`;
    for (const [sid, s] of this.subs) text += `SUB ${s.subject} ${sid}\r\n`;
    text += 'PING\r\n';
    this.write(text);
    this.connected = true;
    this.attempt = 0;
    this.pingTimer = setInterval(() => this.write('PING\r\n'), 30_000);
    this.pingTimer.unref();
    // The PONG to the PING above confirms the CONNECT was accepted.
    const fc = this.firstConnect;
    this.pongs.unshift({
      resolve: () => {
        this.firstConnect = undefined;
        fc?.resolve();
        this.options.logger.info({ url: this.options.url }, 'nats: connected');
      },
      reject: () => undefined,
      timer: setTimeout(() => undefined, 0),
    });
  }

  private parse(): void {
    for (;;) {
      const eol = this.buf.indexOf('\r\n');
      if (eol < 0) {
        if (this.buf.length > 64 * 1024) throw new Error('control line too long');
        return;
      }
      const line = this.buf.subarray(0, eol).toString('latin1');
      const op = line.slice(0, 4).toUpperCase();
      if (op === 'MSG ') {
        const parts = line.split(' ').filter((p) => p !== '');
        // MSG <subject> <sid> [reply-to] <#bytes>
        const size = Number(parts[parts.length - 1]);
        if (!Number.isInteger(size) || size < 0 || parts.length < 4) throw new Error(`bad MSG line ${line}`);
        if (this.buf.length < eol + 2 + size + 2) return;
        const payload = Buffer.from(this.buf.subarray(eol + 2, eol + 2 + size));
        this.buf = this.buf.subarray(eol + 2 + size + 2);
        const sub = this.subs.get(Number(parts[2]));
        if (sub !== undefined) {
          try {
            sub.handler(parts[1]!, payload);
          } catch (err) {
            this.options.logger.error({ err: FlotillaError.from(err).message }, 'nats: message handler failed');
          }
        }
        continue;
      }
      this.buf = this.buf.subarray(eol + 2);
      if (op === 'PING') this.write('PONG\r\n');
      else if (op === 'PONG') {
        const p = this.pongs.shift();
        if (p !== undefined) {
          clearTimeout(p.timer);
          p.resolve();
        }
      } else if (op === 'INFO') this.onInfo(line.slice(5));
      else if (op === '-ERR') {
        this.options.logger.warn({ err: line }, 'nats: server error');
        if (this.firstConnect !== undefined) this.socket?.destroy();
      }
      // +OK (verbose mode only) and unknown lines are ignored.
    }
  }
}
