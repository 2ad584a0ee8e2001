/**
 * gRPC clients of other nodes' KV services: one HTTP/2 connection per address, shared by the replica
 * and client services, closed together.
 */
import { createClient, type Client } from '@connectrpc/connect';
import { createGrpcConnection, type GrpcConnection } from '../../core/grpc-client.js';
import { KvReplicaService, KvService } from '../../gen/flotilla/v1/kv_pb.js';

export type ReplicaClient = Client<typeof KvReplicaService>;
export type KvClient = Client<typeof KvService>;

export interface KvClients {
  replica(address: string): ReplicaClient;
  kv(address: string): KvClient;
  forget(address: string): void;
  close(): void;
}

export interface KvClientsOptions {
  /** Default deadline of a call, ms. Default 5000. */
  timeoutMs?: number;
  /** Largest message accepted, bytes. Default 16 MiB. */
  readMaxBytes?: number;
}

interface Conn {
  connection: GrpcConnection;
  replica: ReplicaClient;
  kv: KvClient;
}

export function createKvClients(options: KvClientsOptions = {}): KvClients {
  const conns = new Map<string, Conn>();
  function conn(address: string): Conn {
    let c = conns.get(address);
    if (c === undefined) {
      const connection = createGrpcConnection(address, {
        pingIntervalMs: 10_000,
        pingTimeoutMs: 3_000,
        defaultTimeoutMs: options.timeoutMs ?? 5000,
        readMaxBytes: options.readMaxBytes ?? 16 * 1024 * 1024,
      });
      c = { connection, replica: createClient(KvReplicaService, connection.transport), kv: createClient(KvService, connection.transport) };
      conns.set(address, c);
    }
    return c;
  }
  return {
    replica: (address) => conn(address).replica,
    kv: (address) => conn(address).kv,
    forget(address) {
      const c = conns.get(address);
      if (c === undefined) return;
      conns.delete(address);
      c.connection.close();
    },
    close() {
      for (const c of conns.values()) c.connection.close();
      conns.clear();
    },
  };
}
