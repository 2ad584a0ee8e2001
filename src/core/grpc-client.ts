/**
 * One way to open a gRPC client connection (ConnectRPC, gRPC protocol over HTTP/2 without TLS) to a
 * Flotilla peer. Every client of the project goes through here, so every connection gets the same
 * hardening:
 *
 * Each HTTP/2 session gets an 'error' listener of its own. When a peer stops, its GOAWAY reaches an idle
 * session and connect-node destroys the session with an error that Node raises after the socket closed;
 * if the session manager has left its ready state by then, it has removed its own listeners and the
 * error would end the process (connect-es issue 1768, open upstream). The manager still sees and handles
 * the error while it listens.
 */
import type { ClientHttp2Session } from 'node:http2';
import type { Transport } from '@connectrpc/connect';
import { createGrpcTransport, Http2SessionManager } from '@connectrpc/connect-node';

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
  const baseUrl = `http://${address}`;
  const manager = new Http2SessionManager(
    baseUrl,
    {
      idleConnectionTimeoutMs: options.idleConnectionTimeoutMs ?? 60_000,
      ...(options.pingIntervalMs !== undefined ? { pingIntervalMs: options.pingIntervalMs } : {}),
      ...(options.pingTimeoutMs !== undefined ? { pingTimeoutMs: options.pingTimeoutMs } : {}),
    },
    {},
  );
  guardSessions(manager);
  const transport = createGrpcTransport({
    baseUrl,
    sessionManager: manager,
    ...(options.defaultTimeoutMs !== undefined ? { defaultTimeoutMs: options.defaultTimeoutMs } : {}),
    ...(options.readMaxBytes !== undefined ? { readMaxBytes: options.readMaxBytes } : {}),
  });
  return { transport, close: () => manager.abort() };
}
