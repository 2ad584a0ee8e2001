/**
 * Clients of other processes' peer gRPC servers: one HTTP/2 connection per address, reused by every
 * call, and closed together. Errors come back as FlotillaError with a message naming the address.
 */
import { createClient, type Client } from '@connectrpc/connect';
import { callError, createGrpcConnection, toConnectError, type GrpcConnection } from '../../core/grpc-client.js';
import type { FlotillaError } from '../../core/errors.js';
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

/**
 * A failed call to `address` as a FlotillaError: unreachable and timed-out peers are UNAVAILABLE /
 * DEADLINE_EXCEEDED; a process that does not serve the Flotilla peer API is FAILED_PRECONDITION.
 */
export function peerCallError(err: unknown, address: string, what: string): FlotillaError {
  return callError(err, { address, what, api: 'the Flotilla peer API', hint: 'is it a Flotilla server or node peer port?' });
}

export { toConnectError };
