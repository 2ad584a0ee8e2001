/**
 * The two clusters of `bench kv`, each three members on this machine: real etcd (Debian's etcd 3.4,
 * default durability: WAL fsynced per raft batch; linearizable reads) and Flotilla (a server that builds
 * the kv ring and three `flotilla node --roles kv`; N=3, W=2, R=2, acks after fsync). The Flotilla side
 * uses the project's own client library (createKvClients: the lean unary gRPC client), one connection
 * per client, as the etcd side uses the etcd3 library.
 */
import { create } from '@bufbuild/protobuf';
import type { Etcd3 } from 'etcd3';
import { GetRequestSchema, PutRequestSchema } from '../../src/gen/flotilla/v1/kv_pb.js';
import { createKvClients, type KvClients } from '../../src/kv/index.js';
import { ETCD_BIN, freePort, grpcReady, startProcess } from '../../test/testkit/index.js';
import { eventually } from '../../test/testkit/cluster.js';
import { startKvCluster } from '../../test/kv/kv-processes.js';
import type { BenchCleanup } from '../coord/bench-cleanup.js';
import { createBenchClient } from '../coord/client.js';
import type { KvAdapter } from './load.js';

/** A started cluster: where clients connect, and the pids of its processes (for CPU accounting). */
export interface StartedCluster {
  endpoints: string[];
  pids: number[];
}

export async function startEtcdCluster(owner: BenchCleanup): Promise<StartedCluster> {
  const names = ['e0', 'e1', 'e2'];
  const ports = await Promise.all(names.map(async () => ({ client: await freePort(), peer: await freePort() })));
  const initial = names.map((n, i) => `${n}=http://127.0.0.1:${ports[i]!.peer}`).join(',');
  const procs = await Promise.all(
    names.map((name, i) =>
      startProcess({
        name: `etcd ${name}`,
        command: ETCD_BIN,
        t: owner,
        args: ({ dataDir }) => [
          '--name', name,
          '--data-dir', dataDir,
          '--listen-client-urls', `http://127.0.0.1:${ports[i]!.client}`,
          '--advertise-client-urls', `http://127.0.0.1:${ports[i]!.client}`,
          '--listen-peer-urls', `http://127.0.0.1:${ports[i]!.peer}`,
          '--initial-advertise-peer-urls', `http://127.0.0.1:${ports[i]!.peer}`,
          '--initial-cluster', initial,
          '--initial-cluster-state', 'new',
          '--logger', 'zap', '--log-outputs', 'stderr', '--log-level', 'warn',
        ],
        ready: () => grpcReady(`127.0.0.1:${ports[i]!.client}`),
        readyTimeoutMs: 60_000,
      }),
    ),
  );
  for (const p of procs) owner.trackProcess(p);
  return { endpoints: ports.map((p) => `127.0.0.1:${p.client}`), pids: procs.map((p) => p.pid ?? 0).filter((p) => p > 0) };
}

export function etcdAdapter(endpoints: string[], clients: number): KvAdapter {
  const conns: Etcd3[] = Array.from({ length: clients }, (_, i) => createBenchClient(endpoints[i % endpoints.length]!));
  return {
    get: async (c, key) => void (await conns[c]!.get(key).buffer()),
    put: async (c, key, value) => void (await conns[c]!.put(key).value(value)),
    close: async () => {
      for (const c of conns) c.close();
    },
  };
}

export async function startFlotillaCluster(owner: BenchCleanup): Promise<StartedCluster> {
  // Failure detection at the node's defaults (3 s / 1 s), not the fast test settings.
  const c = await startKvCluster(owner, undefined, [], { failureTimeout: '3s', healthInterval: '1s' });
  await eventually('the kv ring is known everywhere', async () => {
    const hs = await Promise.all(['node-a', 'node-b', 'node-c'].map((n) => c.session(n).health()));
    return hs.every((h) => (h.ringVersion as number) > 0 && (h.up as string[]).length === 3);
  }, 30_000);
  for (const p of [c.server, ...c.nodes.values()]) owner.trackProcess(p);
  c.close();
  return {
    endpoints: [...c.nodes.values()].map((n) => n.peer),
    pids: [c.server, ...c.nodes.values()].map((p) => p.pid ?? 0).filter((p) => p > 0),
  };
}

export function flotillaAdapter(addresses: string[], clients: number): KvAdapter {
  // One connection per client, as for etcd.
  const pools: KvClients[] = Array.from({ length: clients }, () => createKvClients({ timeoutMs: 10_000 }));
  const kv = pools.map((p, i) => p.kv(addresses[i % addresses.length]!));
  return {
    get: async (c, key) => void (await kv[c]!.get(create(GetRequestSchema, { key: Buffer.from(key) }))),
    put: async (c, key, value) => void (await kv[c]!.put(create(PutRequestSchema, { key: Buffer.from(key), value }))),
    close: async () => {
      for (const p of pools) p.close();
    },
  };
}
