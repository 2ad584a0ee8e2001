/**
 * A lean gRPC client for unary methods over one HTTP/2 session per address (h2c, or TLS with the
 * process's certificate and the cluster CA when the process has TLS, core/tls.ts): the KV client
 * library and the replicas' internal calls go through it. It answers exactly as a ConnectRPC client
 * would (a ConnectError with the gRPC status and message), so callers and their error mapping
 * (core/grpc-client.ts callError) are the same.
 *
 * Why: measured with 64 clients on the project's 2-core machine, ConnectRPC's client machinery cost more
 * per call than the KV request itself (see src/core/grpc-unary-server.ts for the server side).
 *
 * The session: opened on first use, reopened after it fails or the peer sends GOAWAY, closed after
 * `idleMs` without a call. A call that misses its deadline is cancelled (RST_STREAM) and the session is
 * PINGed: a peer that does not answer within `pingTimeoutMs` (stopped, cut off) gets its session
 * destroyed, so the next call dials afresh instead of queueing behind a dead TCP connection.
 */
import { connect, constants, type ClientHttp2Session, type ClientHttp2Stream, type IncomingHttpHeaders } from 'node:http2';
import { create, fromBinary, toBinary, type DescService } from '@bufbuild/protobuf';
import { Code as ConnectCode, ConnectError, type Client } from '@connectrpc/connect';
import { defaultToken } from '../../core/grpc-client.js';
import { kvCodecs } from './codecs.js';
import { clusterClientTlsOptions, processTls } from '../../core/tls.js';

/** The process's API token (grpc-client.ts setDefaultCallToken) as gRPC metadata: peers that check tokens need it. */
function bearerHeader(): { authorization?: string } {
  const t = defaultToken();
  return t === undefined ? {} : { authorization: `Bearer ${t}` };
}

export interface UnaryChannelOptions {
  /** Deadline of a call that sets none, ms. Default 5000. */
  defaultTimeoutMs?: number;
  /** Largest response message accepted, bytes. Default 16 MiB. */
  readMaxBytes?: number;
  /** Close the session after this long without a call, ms. Default 60 000. */
  idleMs?: number;
  /** A PING unanswered this long (sent after a call timed out) destroys the session, ms. Default 3000. */
  pingTimeoutMs?: number;
}

export interface CallOptions {
  timeoutMs?: number;
  signal?: AbortSignal;
}

const grpcCodes = new Set(Object.values(ConnectCode).filter((v): v is number => typeof v === 'number'));

function decodeGrpcMessage(m: string | string[] | undefined): string {
  const s = Array.isArray(m) ? m.join(',') : (m ?? '');
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

/** The gRPC status of an HTTP status other than 200, as gRPC's HTTP/2 protocol document maps them. */
function codeFromHttpStatus(status: number): ConnectCode {
  switch (status) {
    case 400:
      return ConnectCode.Internal;
    case 401:
      return ConnectCode.Unauthenticated;
    case 403:
      return ConnectCode.PermissionDenied;
    case 404:
      return ConnectCode.Unimplemented;
    case 429:
    case 502:
    case 503:
    case 504:
      return ConnectCode.Unavailable;
    default:
      return ConnectCode.Unknown;
  }
}

export class UnaryChannel {
  private session: ClientHttp2Session | undefined;
  private closed = false;
  private readonly defaultTimeoutMs: number;
  private readonly readMaxBytes: number;
  private readonly idleMs: number;
  private readonly pingTimeoutMs: number;

  constructor(
    readonly address: string,
    options: UnaryChannelOptions = {},
  ) {
    this.defaultTimeoutMs = options.defaultTimeoutMs ?? 5000;
    this.readMaxBytes = options.readMaxBytes ?? 16 * 1024 * 1024;
    this.idleMs = options.idleMs ?? 60_000;
    this.pingTimeoutMs = options.pingTimeoutMs ?? 3000;
  }

  private open(): ClientHttp2Session {
    const existing = this.session;
    if (existing !== undefined && !existing.closed && !existing.destroyed) return existing;
    const tls = processTls();
    const s = tls === undefined ? connect(`http://${this.address}`) : connect(`https://${this.address}`, clusterClientTlsOptions(tls));
    const drop = (): void => {
      if (this.session === s) this.session = undefined;
    };
    s.on('error', drop);
    s.on('close', drop);
    s.on('goaway', drop);
    s.setTimeout(this.idleMs, () => {
      drop();
      s.close();
    });
    this.session = s;
    return s;
  }

  /** A session that may be dead: PING it, destroy it when no answer comes in time. */
  private check(s: ClientHttp2Session): void {
    if (s.destroyed) return;
    const timer = setTimeout(() => {
      if (this.session === s) this.session = undefined;
      s.destroy();
    }, this.pingTimeoutMs);
    timer.unref();
    try {
      s.ping((err) => {
        clearTimeout(timer);
        if (err !== null && this.session === s) this.session = undefined;
      });
    } catch {
      clearTimeout(timer);
      if (this.session === s) this.session = undefined;
      s.destroy();
    }
  }

  /** Calls `path` with one encoded request message; resolves with the response message's bytes. */
  call(path: string, message: Uint8Array, options: CallOptions = {}): Promise<Uint8Array> {
    if (this.closed) return Promise.reject(new ConnectError(`the client of ${this.address} is closed`, ConnectCode.Canceled));
    if (options.signal?.aborted === true) return Promise.reject(new ConnectError('the call was cancelled', ConnectCode.Canceled));
    const timeoutMs = options.timeoutMs ?? this.defaultTimeoutMs;
    const frame = Buffer.allocUnsafe(5 + message.length);
    frame[0] = 0;
    frame.writeUInt32BE(message.length, 1);
    frame.set(message, 5);
    return new Promise<Uint8Array>((resolve, reject) => {
      let session: ClientHttp2Session;
      let stream: ClientHttp2Stream;
      try {
        session = this.open();
        stream = session.request(
          { ':method': 'POST', ':path': path, 'content-type': 'application/grpc', te: 'trailers', 'grpc-timeout': `${Math.max(1, Math.ceil(timeoutMs))}m`, ...bearerHeader() },
          { endStream: false },
        );
      } catch (err) {
        reject(new ConnectError(`cannot open a stream to ${this.address}: ${(err as Error).message}`, ConnectCode.Unavailable));
        return;
      }
      const chunks: Buffer[] = [];
      let size = 0;
      let headers: IncomingHttpHeaders | undefined;
      let trailers: IncomingHttpHeaders | undefined;
      let done = false;
      const finish = (err: ConnectError | undefined, out?: Uint8Array): void => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        options.signal?.removeEventListener('abort', onAbort);
        if (err !== undefined) {
          if (!stream.closed) stream.close(constants.NGHTTP2_CANCEL);
          reject(err);
        } else resolve(out as Uint8Array);
      };
      const onAbort = (): void => finish(new ConnectError('the call was cancelled', ConnectCode.Canceled));
      options.signal?.addEventListener('abort', onAbort, { once: true });
      const timer = setTimeout(() => {
        finish(new ConnectError(`the operation timed out after ${timeoutMs} ms`, ConnectCode.DeadlineExceeded));
        this.check(session);
      }, timeoutMs);
      stream.on('response', (h) => {
        headers = h;
      });
      stream.on('trailers', (t: IncomingHttpHeaders) => {
        trailers = t;
      });
      stream.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size > this.readMaxBytes + 5) {
          finish(new ConnectError(`message is larger than configured readMaxBytes ${this.readMaxBytes}`, ConnectCode.ResourceExhausted));
          return;
        }
        chunks.push(chunk);
      });
      stream.on('error', (err: Error) => {
        // A stream cancelled because the session failed (e.g. connect ECONNREFUSED) names the cause.
        const cause = err.cause instanceof Error ? err.cause : undefined;
        finish(new ConnectError(cause?.message ?? err.message, ConnectCode.Unavailable, undefined, undefined, cause ?? err));
      });
      stream.on('close', () => {
        if (done) return;
        if (headers === undefined) {
          finish(new ConnectError(`the stream to ${this.address} closed without an answer (rst code ${stream.rstCode ?? 0})`, ConnectCode.Unavailable));
          return;
        }
        const httpStatus = Number(headers[':status']);
        if (httpStatus !== 200) {
          finish(new ConnectError(`HTTP status ${String(httpStatus)} from ${this.address}`, codeFromHttpStatus(httpStatus)));
          return;
        }
        const contentType = headers['content-type'];
        if (typeof contentType !== 'string' || !/^application\/grpc($|[+;])/.test(contentType)) {
          finish(new ConnectError(`unexpected content-type ${String(contentType)} from ${this.address}`, ConnectCode.Internal));
          return;
        }
        // A trailers-only answer carries its status in the headers.
        const meta = trailers ?? headers;
        const statusText = meta['grpc-status'];
        const status = Number(statusText);
        if (statusText === undefined || !Number.isInteger(status)) {
          finish(new ConnectError(`protocol error: no grpc-status from ${this.address}`, ConnectCode.Internal));
          return;
        }
        if (status !== 0) {
          finish(new ConnectError(decodeGrpcMessage(meta['grpc-message']), grpcCodes.has(status) ? status : ConnectCode.Unknown));
          return;
        }
        const body = chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks);
        if (body.length < 5 || body[0] !== 0 || body.readUInt32BE(1) !== body.length - 5) {
          finish(new ConnectError(`protocol error: a malformed response message from ${this.address}`, ConnectCode.Internal));
          return;
        }
        finish(undefined, body.subarray(5));
      });
      stream.end(frame);
    });
  }

  /** Closes the session and fails the calls in flight on it. */
  close(): void {
    this.closed = true;
    const s = this.session;
    this.session = undefined;
    s?.destroy();
  }
}

/**
 * A client of `service` over `channel`, shaped like a ConnectRPC promise client (request init or
 * message in, response message out; `timeoutMs` and `signal` honoured). Unary methods only.
 */
export function createUnaryClient<S extends DescService>(service: S, channel: UnaryChannel): Client<S> {
  const client: Record<string, (req: unknown, options?: CallOptions) => Promise<unknown>> = {};
  for (const method of service.methods) {
    if (method.methodKind !== 'unary') continue;
    const path = `/${service.typeName}/${method.name}`;
    // The hot KV messages have hand-written codecs (codecs.ts); the rest, and what those decline, the generic ones.
    const input = kvCodecs.get(method.input.typeName);
    const output = kvCodecs.get(method.output.typeName);
    client[method.localName] = async (req, options) => {
      const bytes = input?.encode(req as object) ?? toBinary(method.input, create(method.input, req as never));
      const answer = await channel.call(path, bytes, options);
      return output?.decode(answer) ?? fromBinary(method.output, answer);
    };
  }
  return client as unknown as Client<S>;
}
