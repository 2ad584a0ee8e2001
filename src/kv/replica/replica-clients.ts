/**
 * gRPC clients of other nodes' KV services: one HTTP/2 connection per address, shared by the replica
 * and client services, closed together.
 */
import { createClient, type Client } from '@connectrpc/connect';
import type { ClientHttp2Session } from 'node:http2';
import { createGrpcTransport, Http2SessionManager } from '@connectrpc/connect-node';
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
  manager: Http2SessionManager;
  replica: ReplicaClient;
  kv: KvClient;
}

export function createKvClients(options: KvClientsOptions = {}): KvClients {
  const conns = new Map<string, Conn>();
  function conn(address: string): Conn {
    let c = conns.get(address);
    if (c === undefined) {
      const baseUrl = `http://${address}`;
      const manager = guardSessions(new Http2SessionManager(baseUrl, { idleConnectionTimeoutMs: 60_000, pingIntervalMs: 10_000, pingTimeoutMs: 3_000 }, {}));
      const transport = createGrpcTransport({
        baseUrl,
        sessionManager: manager,
        defaultTimeoutMs: options.timeoutMs ?? 5000,
        readMaxBytes: options.readMaxBytes ?? 16 * 1024 * 1024,
      });
      c = { manager, replica: createClient(KvReplicaService, transport), kv: createClient(KvService, transport) };
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
      c.manager.abort();
    },
    close() {
      for (const c of conns.values()) c.manager.abort();
      conns.clear();
    },
  };
}

/**
 * Gives every HTTP/2 session the manager opens an 'error' listener of its own. When a peer stops, its
 * GOAWAY reaches an idle session; connect-node then destroys the session with an error that, in some
 * orders of events, is emitted after the manager removed its own listeners, and an 'error' event without
 * a listener would end the process. The manager still sees and handles the error when it listens.
 */
function guardSessions(manager: Http2SessionManager): Http2SessionManager {
  const m = manager as unknown as { gotoReady?: () => Promise<{ conn?: ClientHttp2Session }> };
  const inner = m.gotoReady;
  if (typeof inner !== 'function') return manager;
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
  return manager;
}
