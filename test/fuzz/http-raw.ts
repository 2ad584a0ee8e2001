/**
 * Raw HTTP/1.1 and WebSocket exchanges over a plain TCP socket, for the HTTP fuzz run: the request bytes
 * go out exactly as generated (NUL in a path, two Content-Length headers, a body shorter than declared),
 * which fetch and node:http refuse to send. Requests carry `Connection: close`, so the end of the response
 * is the end of the connection.
 */
import { connect } from 'node:net';

export interface RawResponse {
  status: number;
  /** Header names in lower case; repeated headers joined with ", ". */
  headers: Record<string, string>;
  body: Buffer;
}

/**
 * How an exchange ended: a response; the connection closed (FIN) before any response byte; reset (RST)
 * before any response byte; or nothing at all within the deadline (a hang).
 */
export type RawOutcome =
  | { kind: 'response'; response: RawResponse; resetAfter: boolean }
  | { kind: 'closed' }
  /** The whole response came, but the server kept the connection open after it and after the client's FIN. */
  | { kind: 'lingering'; response: RawResponse }
  | { kind: 'reset'; error: string }
  | { kind: 'timeout'; received: number };

export interface RawRequestOptions {
  /** Settle as a hang after this long. */
  deadlineMs: number;
  /** The request is a HEAD: no body follows the head. */
  head?: boolean;
  /** How long a server may keep the connection open after a complete response. Default 1000 ms. */
  lingerMs?: number;
  /**
   * Half-close (FIN) after writing. Needed where the request itself gives the server no end (a body
   * shorter than declared); otherwise the request's `Connection: close` ends the exchange, because a
   * Node server treats a client's FIN as an abort of a request still being answered.
   */
  halfClose?: boolean;
}

/** Splits the bytes of a response into status, headers and body (chunked transfer coding removed). */
export function parseResponse(data: Buffer, head: boolean): RawResponse | undefined {
  const end = data.indexOf('\r\n\r\n');
  if (end < 0) return undefined;
  const lines = data.subarray(0, end).toString('latin1').split('\r\n');
  const m = /^HTTP\/1\.[01] (\d{3})/.exec(lines[0] ?? '');
  if (m === null) return undefined;
  // An interim answer (100 Continue) precedes the real one.
  if (m[1]!.startsWith('1') && m[1] !== '101') return parseResponse(data.subarray(end + 4), head);
  const headers: Record<string, string> = {};
  for (const line of lines.slice(1)) {
    const i = line.indexOf(':');
    if (i <= 0) continue;
    const name = line.slice(0, i).trim().toLowerCase();
    const value = line.slice(i + 1).trim();
    headers[name] = headers[name] === undefined ? value : `${headers[name]}, ${value}`;
  }
  let body = head ? Buffer.alloc(0) : data.subarray(end + 4);
  if (!head && /chunked/i.test(headers['transfer-encoding'] ?? '')) body = dechunk(body);
  return { status: Number(m[1]), headers, body };
}

function dechunk(data: Buffer): Buffer {
  const out: Buffer[] = [];
  let at = 0;
  for (;;) {
    const eol = data.indexOf('\r\n', at);
    if (eol < 0) break;
    const size = Number.parseInt(data.subarray(at, eol).toString('latin1'), 16);
    if (!Number.isFinite(size) || size <= 0) break;
    out.push(data.subarray(eol + 2, eol + 2 + size));
    at = eol + 2 + size + 2;
  }
  return Buffer.concat(out);
}

/** A stream (SSE) or an upgrade never ends by itself: its head is the answer. */
function isOpenEnded(r: RawResponse): boolean {
  return r.status === 101 || /text\/event-stream/i.test(r.headers['content-type'] ?? '');
}

/** True when `data` holds a whole response whose end is known from its framing (Content-Length, chunked, no body). */
function complete(data: Buffer, r: RawResponse, head: boolean): boolean {
  const end = data.indexOf('\r\n\r\n') + 4;
  if (head || r.status === 204 || r.status === 304) return true;
  if (/chunked/i.test(r.headers['transfer-encoding'] ?? '')) return data.subarray(-5).toString('latin1') === '0\r\n\r\n';
  const len = r.headers['content-length'];
  return len !== undefined && /^\d+$/.test(len) && data.length - end >= Number(len);
}

/** Sends `request` to 127.0.0.1:`port` as is and reads what comes back until the server closes. */
export function rawRequest(port: number, request: Buffer, o: RawRequestOptions): Promise<RawOutcome> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let received = 0;
    let settled = false;
    const sock = connect({ host: '127.0.0.1', port });
    const settle = (outcome: RawOutcome): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      clearTimeout(linger);
      sock.destroy();
      resolve(outcome);
    };
    const timer = setTimeout(() => settle({ kind: 'timeout', received }), o.deadlineMs);
    let linger: NodeJS.Timeout | undefined;
    const parsed = (): RawResponse | undefined => parseResponse(Buffer.concat(chunks), o.head === true);
    sock.on('connect', () => {
      sock.write(request);
      if (o.halfClose === true) sock.end();
    });
    sock.on('data', (d: Buffer) => {
      chunks.push(d);
      received += d.length;
      const r = parsed();
      if (r === undefined) return;
      if (isOpenEnded(r)) settle({ kind: 'response', response: r, resetAfter: false });
      else if (linger === undefined && complete(Buffer.concat(chunks), r, o.head === true)) {
        linger = setTimeout(() => settle({ kind: 'lingering', response: r }), o.lingerMs ?? 1000);
      }
    });
    sock.on('error', (err: NodeJS.ErrnoException) => {
      const r = received > 0 ? parsed() : undefined;
      if (r !== undefined) settle({ kind: 'response', response: r, resetAfter: true });
      else settle({ kind: 'reset', error: `${err.code ?? ''} ${err.message}` });
    });
    sock.on('close', () => {
      if (received === 0) return settle({ kind: 'closed' });
      const r = parsed();
      if (r !== undefined) return settle({ kind: 'response', response: r, resetAfter: false });
      // Only an interim answer (100 Continue) came: the server closed without a final one.
      if (/^HTTP\/1\.[01] 1\d\d /.test(Buffer.concat(chunks).toString('latin1'))) return settle({ kind: 'closed' });
      settle({ kind: 'reset', error: `the connection closed after ${received} bytes that are not an HTTP response` });
    });
  });
}

/** One WebSocket frame as a client sends it (masked unless `mask` is false). */
export function wsFrame(o: { opcode: number; payload: Buffer; fin?: boolean; rsv?: number; mask?: boolean; declaredLength?: number | bigint }): Buffer {
  const len = o.declaredLength ?? o.payload.length;
  const first = ((o.fin ?? true) ? 0x80 : 0) | (((o.rsv ?? 0) & 7) << 4) | (o.opcode & 0x0f);
  const maskBit = (o.mask ?? true) ? 0x80 : 0;
  let head: Buffer;
  if (typeof len === 'number' && len < 126) head = Buffer.from([first, maskBit | len]);
  else if (typeof len === 'number' && len < 65536) {
    head = Buffer.alloc(4);
    head[0] = first;
    head[1] = maskBit | 126;
    head.writeUInt16BE(len, 2);
  } else {
    head = Buffer.alloc(10);
    head[0] = first;
    head[1] = maskBit | 127;
    head.writeBigUInt64BE(BigInt(len), 2);
  }
  if (maskBit === 0) return Buffer.concat([head, o.payload]);
  const key = Buffer.from([0x37, 0xfa, 0x21, 0x3d]);
  const masked = Buffer.from(o.payload.map((b, i) => b ^ key[i % 4]!));
  return Buffer.concat([head, key, masked]);
}

export type WsOutcome =
  | { kind: 'refused'; status: number; body: string }
  | { kind: 'ended'; answered: Buffer; reset: boolean }
  | { kind: 'timeout'; upgraded: boolean };

/**
 * Opens a WebSocket on `path` (a raw handshake), writes `frames` one by one, and waits until the server
 * ends the connection, or until `idleMs` passes with the connection open and answering (then it is closed
 * by us: a connection may stay open on frames the server accepts, e.g. a ping command).
 */
export function wsExchange(port: number, path: string, frames: Buffer[], o: { deadlineMs: number; idleMs: number }): Promise<WsOutcome> {
  return new Promise((resolve) => {
    const sock = connect({ host: '127.0.0.1', port });
    let upgraded = false;
    let head = Buffer.alloc(0);
    const got: Buffer[] = [];
    let answered = 0;
    let settled = false;
    const answeredBytes = (): Buffer => Buffer.concat(got);
    let idle: NodeJS.Timeout | undefined;
    const settle = (outcome: WsOutcome): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      clearTimeout(idle);
      sock.destroy();
      resolve(outcome);
    };
    const timer = setTimeout(() => settle({ kind: 'timeout', upgraded }), o.deadlineMs);
    const armIdle = (): void => {
      clearTimeout(idle);
      idle = setTimeout(() => settle({ kind: 'ended', answered: answeredBytes(), reset: false }), o.idleMs);
    };
    sock.on('connect', () => {
      sock.write(
        `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
          'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n',
      );
    });
    sock.on('data', (d: Buffer) => {
      if (upgraded) {
        if (answered < 65_536) got.push(d);
        answered += d.length;
        return;
      }
      head = Buffer.concat([head, d]);
      const r = parseResponse(head, false);
      if (r === undefined) return;
      if (r.status !== 101) {
        settle({ kind: 'refused', status: r.status, body: r.body.toString('utf8') });
        return;
      }
      upgraded = true;
      for (const f of frames) if (!sock.destroyed) sock.write(f);
      armIdle();
    });
    sock.on('error', () => settle(upgraded ? { kind: 'ended', answered: answeredBytes(), reset: true } : { kind: 'refused', status: 0, body: 'reset' }));
    sock.on('close', () => settle(upgraded ? { kind: 'ended', answered: answeredBytes(), reset: false } : { kind: 'refused', status: 0, body: 'closed' }));
  });
}
