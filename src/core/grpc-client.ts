/**
 * One way to open a gRPC client connection (ConnectRPC, gRPC protocol over HTTP/2) to a Flotilla peer:
 * h2c, or, when the process has TLS (tls.ts setProcessTls), https:// presenting the process's
 * certificate and trusting only the cluster CA. Every client of the project goes through here, so every connection gets the same
 * hardening:
 *
 * Each HTTP/2 session gets an 'error' listener of its own. When a peer stops, its GOAWAY reaches an idle
 * session and connect-node destroys the session with an error that Node raises after the socket closed;
 * if the session manager has left its ready state by then, it has removed its own listeners and the
 * error would end the process (connect-es issue 1768, open upstream). The manager still sees and handles
 * the error while it listens.
 */
import type { ClientHttp2Session } from 'node:http2';
import { Code as ConnectCode, ConnectError, type Interceptor, type Transport } from '@connectrpc/connect';
import { createGrpcTransport, Http2SessionManager } from '@connectrpc/connect-node';
import { Code, FlotillaError } from './errors.js';
import { clusterClientTlsOptions, processTls, tlsFailure } from './tls.js';

export interface GrpcConnectionOptions {
  /** Close the connection after this long without a call. 0 keeps it open. Default 60 000 ms. */
  idleConnectionTimeoutMs?: number;
  /** HTTP/2 PING every this long to notice a silent peer. Default: only when idle checks need it. */
  pingIntervalMs?: number;
  /** A PING unanswered this long closes the connection. Default 15 000 ms (connect-node's). */
  pingTimeoutMs?: number;
  /** Deadline of a call that sets none. Default: none. */
  defaultTimeoutMs?: number;
  /** Largest message accepted. Default 4 MiB (connect's). */
  readMaxBytes?: number;
  /**
   * API token sent on every call as `authorization: Bearer <token>`. Default: the process's token set
   * with setDefaultCallToken (read at each call), if any.
   */
  token?: string;
}

let defaultCallToken: string | undefined;

/**
 * Sets the token every connection of this process sends unless given its own: the join token in a
 * server or node (internal calls between cluster processes), the user's token in the CLI. Set once by the
 * composition root (server, node, CLI main); undefined stops sending one.
 */
export function setDefaultCallToken(token: string | undefined): void {
  defaultCallToken = token;
}

/** The token set with setDefaultCallToken. */
export function defaultToken(): string | undefined {
  return defaultCallToken;
}

function bearer(own: string | undefined): Interceptor {
  return (next) => async (req) => {
    const token = own ?? defaultCallToken;
    if (token !== undefined && !req.header.has('authorization')) req.header.set('authorization', `Bearer ${token}`);
    return next(req);
  };
}

export interface GrpcConnection {
  readonly transport: Transport;
  /** Closes the connection and fails the calls in flight on it. */
  close(): void;
}

function guardSessions(manager: Http2SessionManager): void {
  const m = manager as unknown as { gotoReady?: () => Promise<{ conn?: ClientHttp2Session }> };
  const inner = m.gotoReady;
  if (typeof inner !== 'function') return;
  const seen = new WeakSet<ClientHttp2Session>();
  m.gotoReady = async () => {
    const ready = await inner.call(manager);
    const conn = ready.conn;
    if (conn !== undefined && !seen.has(conn)) {
      seen.add(conn);
      conn.on('error', () => undefined);
    }
    return ready;
  };
}

/** A connection to `address` (host:port). */
export function createGrpcConnection(address: string, options: GrpcConnectionOptions = {}): GrpcConnection {
  const tls = processTls();
  const baseUrl = `${tls !== undefined ? 'https' : 'http'}://${address}`;
  const manager = new Http2SessionManager(
    baseUrl,
    {
      idleConnectionTimeoutMs: options.idleConnectionTimeoutMs ?? 60_000,
      ...(options.pingIntervalMs !== undefined ? { pingIntervalMs: options.pingIntervalMs } : {}),
      ...(options.pingTimeoutMs !== undefined ? { pingTimeoutMs: options.pingTimeoutMs } : {}),
    },
    tls !== undefined ? clusterClientTlsOptions(tls) : {},
  );
  guardSessions(manager);
  const transport = createGrpcTransport({
    baseUrl,
    sessionManager: manager,
    interceptors: [bearer(options.token)],
    ...(options.defaultTimeoutMs !== undefined ? { defaultTimeoutMs: options.defaultTimeoutMs } : {}),
    ...(options.readMaxBytes !== undefined ? { readMaxBytes: options.readMaxBytes } : {}),
  });
  return { transport, close: () => manager.abort() };
}

const fromGrpc: Partial<Record<ConnectCode, Code>> = {
  [ConnectCode.InvalidArgument]: Code.INVALID_ARGUMENT,
  [ConnectCode.NotFound]: Code.NOT_FOUND,
  [ConnectCode.AlreadyExists]: Code.ALREADY_EXISTS,
  [ConnectCode.FailedPrecondition]: Code.FAILED_PRECONDITION,
  [ConnectCode.Unavailable]: Code.UNAVAILABLE,
  [ConnectCode.DeadlineExceeded]: Code.DEADLINE_EXCEEDED,
  [ConnectCode.Unauthenticated]: Code.UNAUTHENTICATED,
  [ConnectCode.PermissionDenied]: Code.PERMISSION_DENIED,
  [ConnectCode.ResourceExhausted]: Code.RESOURCE_EXHAUSTED,
  [ConnectCode.Canceled]: Code.CANCELLED,
};

export interface CallErrorContext {
  /** The address called. */
  address: string;
  /** The method, for the message (e.g. `GetJoinInfo`). */
  what: string;
  /** What a process that answers UNIMPLEMENTED does not serve, and a hint, e.g. `the Flotilla peer API` and `is it a node's peer port?`. */
  api: string;
  hint: string;
}

/**
 * A failed client call as a FlotillaError with a message a person can act on: the callee's own
 * FlotillaError code when it sent one (`[not_found] ...` on the wire), an unreachable or silent peer as
 * UNAVAILABLE / DEADLINE_EXCEEDED, a port that speaks HTTP but not our gRPC API as FAILED_PRECONDITION.
 */
export function callError(err: unknown, ctx: CallErrorContext): FlotillaError {
  if (err instanceof FlotillaError) return err;
  const { address, what } = ctx;
  const tlsErr = tlsFailure(err, address);
  if (tlsErr !== undefined) return new FlotillaError(tlsErr.code, `${what}: ${tlsErr.rawMessage}`, { cause: err });
  const ce = ConnectError.from(err);
  const raw = ce.rawMessage;
  if (ce.code === ConnectCode.Unimplemented) {
    return new FlotillaError(Code.FAILED_PRECONDITION, `${address} does not serve ${ctx.api} (${what}): ${ctx.hint}`, { cause: err });
  }
  const own = /^\[([a-z_]+)\] (.*)$/s.exec(raw);
  if (own !== null && Object.hasOwn(Code, own[1]!.toUpperCase())) {
    return new FlotillaError(own[1]!.toUpperCase() as Code, own[2]!, { cause: err });
  }
  if (/protocol error|unexpected content-type|invalid content-type|HTTP status|ERR_HTTP2/i.test(raw) || (ce.code === ConnectCode.Internal && /http/i.test(raw))) {
    return new FlotillaError(Code.FAILED_PRECONDITION, `${address} is not a Flotilla gRPC port (${what}: ${raw})`, { cause: err });
  }
  // A plain (h2c) client at a TLS port sees its stream or connection dropped: say what may be wrong.
  const dropped = /closed without an answer|stream closed with error code|ECONNRESET|socket hang up|other side closed|NGHTTP2/i.test(raw);
  if (processTls() === undefined && dropped && (ce.code === ConnectCode.Unavailable || ce.code === ConnectCode.Unknown || ce.code === ConnectCode.Canceled)) {
    return new FlotillaError(Code.UNAVAILABLE, `cannot reach ${address} (${what}): ${raw} (if that process runs with TLS, give this one --tls-dir: docs/security.md)`, { cause: err });
  }
  if (ce.code === ConnectCode.Unavailable || ce.code === ConnectCode.Unknown) {
    return new FlotillaError(Code.UNAVAILABLE, `cannot reach ${address} (${what}): ${raw}`, { cause: err });
  }
  if (ce.code === ConnectCode.DeadlineExceeded) {
    return new FlotillaError(Code.DEADLINE_EXCEEDED, `${address} did not answer ${what} in time`, { cause: err });
  }
  return new FlotillaError(fromGrpc[ce.code] ?? Code.INTERNAL, `${address}: ${what} failed: ${raw}`, { cause: err });
}

/**
 * What a gRPC handler throws for any error: a ConnectError as it is, anything else through FlotillaError
 * with its code (the cause stays in the log, not on the wire; an INTERNAL error says only that).
 */
export function toConnectError(err: unknown): ConnectError {
  if (err instanceof ConnectError) return err;
  const fe = FlotillaError.from(err);
  return new ConnectError(fe.code === Code.INTERNAL ? 'internal error' : fe.message, fe.grpcStatus);
}

/** Runs a gRPC handler body, turning whatever it throws into the ConnectError clients should see. */
export async function asGrpcCall<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    throw toConnectError(err);
  }
}
