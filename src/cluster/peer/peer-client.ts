/**
 * Clients of other processes' peer gRPC servers: one HTTP/2 connection per address, reused by every
 * call, and closed together. Errors come back as FlotillaError with a message naming the address.
 */
import { Code as ConnectCode, ConnectError, createClient, type Client } from '@connectrpc/connect';
import { createGrpcConnection, type GrpcConnection } from '../../core/grpc-client.js';
import { Code, FlotillaError } from '../../core/errors.js';
import { ClusterService } from '../../gen/flotilla/v1/cluster_pb.js';

export type ClusterClient = Client<typeof ClusterService>;

export interface PeerClientsOptions {
  /** Longest wait for a connection to open before a call fails. Default: 2000 ms. */
  connectTimeoutMs?: number;
}

export interface PeerClients {
  /** The ClusterService client of the process at `address` (host:port). */
  cluster(address: string): ClusterClient;
  /** Closes the connection to one address (e.g. a peer that left). */
  forget(address: string): void;
  /** Closes every connection. */
  close(): void;
}

interface Entry {
  connection: GrpcConnection;
  cluster: ClusterClient;
}

export function createPeerClients(options: PeerClientsOptions = {}): PeerClients {
  const entries = new Map<string, Entry>();
  const connectTimeoutMs = options.connectTimeoutMs ?? 2000;

  function entry(address: string): Entry {
    let e = entries.get(address);
    if (e === undefined) {
      // Idle connections close on their own; a peer that went away is noticed by the next call.
      const connection = createGrpcConnection(address, { defaultTimeoutMs: connectTimeoutMs * 2 });
      e = { connection, cluster: createClient(ClusterService, connection.transport) };
      entries.set(address, e);
    }
    return e;
  }

  return {
    cluster: (address) => entry(address).cluster,
    forget(address) {
      const e = entries.get(address);
      if (e === undefined) return;
      entries.delete(address);
      e.connection.close();
    },
    close() {
      for (const e of entries.values()) e.connection.close();
      entries.clear();
    },
  };
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

/**
 * A failed call to `address` as a FlotillaError: unreachable and timed-out peers are UNAVAILABLE /
 * DEADLINE_EXCEEDED; a process that does not serve the Flotilla peer API is FAILED_PRECONDITION.
 */
export function peerCallError(err: unknown, address: string, what: string): FlotillaError {
  if (err instanceof FlotillaError) return err;
  const ce = ConnectError.from(err);
  const raw = ce.rawMessage;
  if (ce.code === ConnectCode.Unimplemented) {
    return new FlotillaError(Code.FAILED_PRECONDITION, `${address} does not serve the Flotilla peer API (${what}): is it a Flotilla server or node peer port?`, {
      cause: err,
    });
  }
  if (/protocol error|unexpected content-type|invalid content-type|HTTP status|ERR_HTTP2/i.test(raw) || (ce.code === ConnectCode.Internal && /http/i.test(raw))) {
    return new FlotillaError(Code.FAILED_PRECONDITION, `${address} is not a Flotilla gRPC port (${what}: ${raw})`, { cause: err });
  }
  if (ce.code === ConnectCode.Unavailable || ce.code === ConnectCode.Unknown) {
    return new FlotillaError(Code.UNAVAILABLE, `cannot reach ${address} (${what}): ${raw}`, { cause: err });
  }
  if (ce.code === ConnectCode.DeadlineExceeded) {
    return new FlotillaError(Code.DEADLINE_EXCEEDED, `${address} did not answer ${what} in time`, { cause: err });
  }
  return new FlotillaError(fromGrpc[ce.code] ?? Code.INTERNAL, `${address}: ${what} failed: ${raw}`, { cause: err });
}

/** A FlotillaError as the ConnectError a handler throws (the cause stays in the log, not on the wire). */
export function toConnectError(err: unknown): ConnectError {
  const fe = FlotillaError.from(err);
  return new ConnectError(fe.code === Code.INTERNAL ? 'internal error' : fe.message, fe.grpcStatus);
}
