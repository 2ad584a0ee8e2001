/**
 * The HTTP/2 server for gRPC, as the embedded coordination store and every peer server run it: without
 * TLS (h2c), or, when the process has TLS (tls.ts setProcessTls) or `tls` is given, with mutual TLS (ALPN
 * h2; a client without a certificate signed by the cluster CA is refused at the handshake, and each
 * (address, reason) is logged at most once a minute). Sessions are tracked so that stop() ends open ones (http2Server.close() waits for them
 * otherwise), a client's GOAWAY is answered as grpc-go answers it (peer-goaway.ts), session errors are
 * logged at debug (a peer going away is routine), and a failure to bind is a LISTEN_FAILED error.
 */
import http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import { Code, FlotillaError } from './errors.js';
import type { Logger } from './log.js';
import { servePastPeerGoaway } from './peer-goaway.js';
import { answerGrpcError, answerGrpcErrorOnStream } from './grpc-unary-server.js';
import { clusterServerTlsOptions, processTls, type ProcessTls } from './tls.js';

export interface H2cServerOptions {
  host: string;
  /** 0 picks a free port. */
  port: number;
  handler: (req: http2.Http2ServerRequest, res: http2.Http2ServerResponse) => void;
  logger: Logger;
  /** Names the server in logs and errors, e.g. `peer gRPC`. */
  what: string;
  /**
   * Runs before `handler` for every request: an error refuses the call as gRPC does (trailers-only
   * response, grpc-status from the error's code, e.g. UNAUTHENTICATED 16 / PERMISSION_DENIED 7, and the
   * error's message), so no service, ConnectRPC or a fast path, is reached without it. Default: none.
   */
  authorize?: (req: H2cRequestInfo) => FlotillaError | undefined;
  /**
   * Serves a stream from the server's raw `stream` event, before the compatibility request/response
   * objects exist (they cost more per call than a small unary gRPC request): returns true when it took
   * the stream, false to pass it on to `handler`. `authorize` runs first, once per stream. Default: none.
   */
  stream?: (stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders) => boolean;
  /** TLS material: mutual TLS with it; null: h2c even when the process has TLS. Default: the process's (tls.ts processTls()). */
  tls?: ProcessTls | null;
  /** A session with no open stream and no traffic for this long is closed (GOAWAY). Default 300 000 ms; 0 never. */
  idleSessionTimeoutMs?: number;
  /** A TLS handshake not finished within this is dropped. Default 10 000 ms. */
  handshakeTimeoutMs?: number;
}

/** What `authorize` sees of a request (an Http2ServerRequest is one). */
export interface H2cRequestInfo {
  readonly url: string;
  readonly method: string;
  readonly headers: http2.IncomingHttpHeaders;
  readonly socket?: { readonly remoteAddress?: string | undefined } | null;
}

/** A gate that lets each key through at most once a minute; the table of recent keys is bounded (1000). */
function oncePerMinute(): (key: string) => boolean {
  const last = new Map<string, number>();
  return (key) => {
    const now = Date.now();
    if ((last.get(key) ?? 0) > now - 60_000) return false;
    if (last.size >= 1000) last.clear();
    last.set(key, now);
    return true;
  };
}

/** Logs a refused call, each (address, code, method) at most once a minute: a refused caller usually retries. */
export function createRefusalLog(logger: Logger, what: string): (req: H2cRequestInfo, err: FlotillaError) => void {
  const gate = oncePerMinute();
  return (req, err) => {
    const from = req.socket?.remoteAddress ?? 'unknown';
    if (gate(`${from} ${err.code} ${req.url}`)) logger.warn({ from, method: req.url, code: err.code, err: err.rawMessage }, `${what}: refused a call`);
  };
}

export interface H2cServer {
  /** The bound address. */
  readonly bound: AddressInfo;
  /** Stops accepting, ends every open session, and resolves once the server is closed. */
  close(): Promise<void>;
}

/**
 * Puts `hook` in front of the compatibility API: Node's HTTP/2 server creates the request/response
 * objects in its own `stream` listener, which is replaced by one that runs `authorize`, then `hook`, and
 * only then, for a stream the hook does not take, the original listener.
 */
function serveRawStreams(
  srv: http2.Http2Server | http2.Http2SecureServer,
  hook: NonNullable<H2cServerOptions['stream']>,
  authorize: H2cServerOptions['authorize'],
  authorized: WeakSet<http2.ServerHttp2Stream>,
  logRefusal: (req: H2cRequestInfo, err: FlotillaError) => void,
): void {
  const compat = srv.listeners('stream');
  if (compat.length !== 1) throw new Error(`listenH2c: expected the compatibility API's one stream listener, found ${compat.length}`);
  const passOn = compat[0] as (...args: unknown[]) => void;
  srv.removeAllListeners('stream');
  srv.on('stream', (stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders, flags: number, rawHeaders: string[]) => {
    if (authorize !== undefined) {
      const req: H2cRequestInfo = { url: headers[':path'] ?? '', method: headers[':method'] ?? '', headers, socket: stream.session?.socket };
      const refused = authorize(req);
      if (refused !== undefined) {
        // As on the compatibility path: the body is discarded unread, the client gets the refusal.
        stream.on('error', () => undefined);
        stream.resume();
        answerGrpcErrorOnStream(stream, refused.grpcStatus, refused.message);
        logRefusal(req, refused);
        return;
      }
      authorized.add(stream);
    }
    if (!hook(stream, headers)) passOn.call(srv, stream, headers, flags, rawHeaders);
  });
}

export async function listenH2c(options: H2cServerOptions): Promise<H2cServer> {
  const { logger, what } = options;
  const sessions = new Set<http2.ServerHttp2Session>();
  const authorize = options.authorize;
  const logRefusal = createRefusalLog(logger, what);
  /** Streams `authorize` let through on the raw path, so the compatibility path does not check them again. */
  const authorized = new WeakSet<http2.ServerHttp2Stream>();
  const handler: H2cServerOptions['handler'] =
    authorize === undefined
      ? options.handler
      : (req, res) => {
          if (authorized.has(req.stream)) return options.handler(req, res);
          const refused = authorize(req);
          if (refused === undefined) return options.handler(req, res);
          // The request body is discarded unread: the client gets the refusal and the stream ends.
          req.resume();
          answerGrpcError(res, refused.grpcStatus, refused.message);
          logRefusal(req, refused);
        };
  const tls = options.tls === null ? undefined : (options.tls ?? processTls());
  const srv = tls === undefined ? http2.createServer({}, handler) : http2.createSecureServer({ ...clusterServerTlsOptions(tls), allowHTTP1: false, handshakeTimeout: options.handshakeTimeoutMs ?? 10_000 }, handler);
  if (tls !== undefined) {
    // A client without a certificate of the cluster CA (or none) fails here; it retries, so log each (address, reason) once a minute.
    const gate = oncePerMinute();
    srv.on('tlsClientError', (err: Error & { code?: string }, socket: { remoteAddress?: string }) => {
      const from = socket.remoteAddress ?? 'unknown';
      if (!gate(`${from} ${err.code ?? err.message}`)) return;
      logger.warn({ from, code: err.code, err: err.message }, `${what}: refused a connection at the TLS handshake (a client certificate signed by the cluster CA is required)`);
    });
  }
  if (options.stream !== undefined) serveRawStreams(srv, options.stream, authorize, authorized, logRefusal);
  const idleMs = options.idleSessionTimeoutMs ?? 300_000;
  srv.on('session', (session) => {
    servePastPeerGoaway(session);
    sessions.add(session);
    session.on('close', () => sessions.delete(session));
    if (idleMs > 0) {
      // Closes sessions that carry nothing; a long-lived stream (an agent's, a watch) keeps its session open.
      let open = 0;
      session.on('stream', (stream: http2.ServerHttp2Stream) => {
        open++;
        stream.once('close', () => open--);
      });
      session.setTimeout(idleMs, () => {
        if (open === 0 && !session.closed && !session.destroyed) session.close();
      });
    }
    session.on('error', (err: Error) => logger.debug({ err: err.message }, `${what}: HTTP/2 session error`));
  });
  srv.on('sessionError', (err: Error) => logger.debug({ err: err.message }, `${what}: HTTP/2 session error`));
  try {
    await new Promise<void>((resolve, reject) => {
      srv.once('error', reject);
      srv.listen(options.port, options.host, () => {
        srv.off('error', reject);
        resolve();
      });
    });
  } catch (err) {
    throw new FlotillaError(Code.LISTEN_FAILED, `cannot listen for ${what} on ${options.host}:${options.port}: ${(err as Error).message}`, { cause: err });
  }
  srv.on('error', (err: Error) => logger.error({ err: err.message }, `${what}: server error`));
  return {
    bound: srv.address() as AddressInfo,
    async close() {
      const closed = new Promise<void>((resolve) => srv.close(() => resolve()));
      for (const session of sessions) session.destroy();
      sessions.clear();
      await closed;
    },
  };
}
