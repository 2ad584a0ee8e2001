/**
 * gRPC clients of other nodes' KV services: one HTTP/2 connection per address, shared by the replica
 * and client services, closed together. Calls go through the lean unary client (wire/unary-client.ts);
 * the clients have the shape of ConnectRPC promise clients.
 */
import type { Client } from '@connectrpc/connect';
import { KvReplicaService, KvService } from '../../gen/flotilla/v1/kv_pb.js';
import { createUnaryClient, UnaryChannel } from '../wire/unary-client.js';

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
  channel: UnaryChannel;
  replica: ReplicaClient;
  kv: KvClient;
}

export function createKvClients(options: KvClientsOptions = {}): KvClients {
  const conns = new Map<string, Conn>();
  function conn(address: string): Conn {
    let c = conns.get(address);
    if (c === undefined) {
      const channel = new UnaryChannel(address, {
        pingTimeoutMs: 3_000,
        defaultTimeoutMs: options.timeoutMs ?? 5000,
        readMaxBytes: options.readMaxBytes ?? 16 * 1024 * 1024,
      });
      c = { channel, replica: createUnaryClient(KvReplicaService, channel), kv: createUnaryClient(KvService, channel) };
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
      c.channel.close();
    },
    close() {
      for (const c of conns.values()) c.channel.close();
      conns.clear();
    },
  };
}
