/**
 * One way to reach any replica: this node's own engine directly (no RPC), every other node through its
 * KvReplicaService. Failures come back as FlotillaError naming the node.
 */
import { create } from '@bufbuild/protobuf';
import { peerCallError } from '../../cluster/index.js';
import { Code, FlotillaError } from '../../core/errors.js';
import type { HybridLogicalClock } from '../../core/hlc.js';
import { LocalScanRequestSchema, ReplicateRequestSchema, StoreHintsRequestSchema, type ReadRequest, type ReplicateRequest } from '../../gen/flotilla/v1/kv_pb.js';
import type { KvEngine } from '../engine/kv-engine.js';
import { entryFromProto, entryToProto } from '../replica/convert.js';
import type { KvClients, ReplicaClient } from '../replica/replica-clients.js';
import { acceptEntries } from '../replica/replica-service.js';
import { CallBatcher } from '../replica/call-batcher.js';
import type { Entry, KvMembership } from '../types.js';

export interface ReplicaAccess {
  readonly self: string;
  replicate(node: string, entries: readonly Entry[]): Promise<number>;
  read(node: string, keys: readonly Uint8Array[]): Promise<(Entry | undefined)[]>;
  storeHints(node: string, target: string, entries: readonly Entry[]): Promise<void>;
  /** A replica's entries under a prefix after `startAfter`, in key order (tombstones included). */
  scan(node: string, prefix: Uint8Array, startAfter: Uint8Array, limit: number): Promise<{ entries: Entry[]; more: boolean }>;
  /** The RPC client of a remote node (throws UNAVAILABLE when its address is unknown). */
  client(node: string): { client: ReplicaClient; address: string };
}

export interface ReplicaAccessDeps {
  engine: KvEngine;
  clock: HybridLogicalClock;
  membership: KvMembership;
  clients: KvClients;
  /** Deadline of one replica call, ms. Default 3000. */
  timeoutMs?: number;
}

export function createReplicaAccess(deps: ReplicaAccessDeps): ReplicaAccess {
  const { engine, membership, clients } = deps;
  const timeoutMs = deps.timeoutMs ?? 3000;
  const self = membership.self;
  const client = (node: string): { client: ReplicaClient; address: string } => {
    const address = membership.addressOf(node);
    if (address === undefined) throw new FlotillaError(Code.UNAVAILABLE, `no known address for node ${node}`);
    return { client: clients.replica(address), address };
  };
  const call = async <T>(node: string, what: string, fn: (c: ReplicaClient) => Promise<T>): Promise<T> => {
    const { client: c, address } = client(node);
    try {
      return await fn(c);
    } catch (err) {
      throw peerCallError(err, `${node} (${address})`, what);
    }
  };
  async function readRemote(node: string, keys: readonly Uint8Array[]): Promise<(Entry | undefined)[]> {
    const res = await call(node, 'read', (c) => c.read({ $typeName: 'flotilla.v1.ReadRequest', keys: [...keys] } satisfies ReadRequest, { timeoutMs }));
    if (res.results.length !== keys.length) throw new FlotillaError(Code.INTERNAL, `${node} answered ${res.results.length} results for ${keys.length} keys`);
    const out = res.results.map((r) => (r.found && r.entry !== undefined ? entryFromProto(r.entry) : undefined));
    acceptEntries(
      out.filter((e): e is Entry => e !== undefined),
      deps.clock,
    );
    return out;
  }
  const perPeer = new Map<string, { write: CallBatcher<Entry, number>; read: CallBatcher<Uint8Array, Entry | undefined> }>();
  function batchers(node: string): { write: CallBatcher<Entry, number>; read: CallBatcher<Uint8Array, Entry | undefined> } {
    let b = perPeer.get(node);
    if (b === undefined) {
      b = {
        write: new CallBatcher(
          async (entries) => {
            const req: ReplicateRequest = { $typeName: 'flotilla.v1.ReplicateRequest', entries: entries.map(entryToProto), from: self };
            await call(node, 'replicate', (c) => c.replicate(req, { timeoutMs }));
            return entries.map(() => 1);
          },
          2,
          256,
          // Several 1 MiB values never make one request too big for a peer (4 MiB).
          (e) => e.key.length + e.value.length + 64,
          4 * 1024 * 1024,
        ),
        read: new CallBatcher((keys) => readRemote(node, keys)),
      };
      perPeer.set(node, b);
    }
    return b;
  }
  return {
    self,
    client,
    async replicate(node, entries) {
      if (node === self) return engine.apply(entries);
      // Single entries (client writes, repairs) are coalesced per peer; bulk pushes go as they are.
      if (entries.length === 1) return batchers(node).write.submit(entries[0] as Entry);
      const res = await call(node, 'replicate', (c) =>
        c.replicate(create(ReplicateRequestSchema, { entries: entries.map(entryToProto), from: self }), { timeoutMs }),
      );
      return res.applied;
    },
    async read(node, keys) {
      if (node === self) return engine.getMany(keys);
      if (keys.length === 1) return [await batchers(node).read.submit(keys[0] as Uint8Array)];
      return readRemote(node, keys);
    },
    async storeHints(node, target, entries) {
      if (node === self) return engine.storeHints(target, entries);
      await call(node, 'store hints', (c) => c.storeHints(create(StoreHintsRequestSchema, { target, entries: entries.map(entryToProto) }), { timeoutMs }));
    },
    async scan(node, prefix, startAfter, limit) {
      if (node === self) return engine.scanPrefix(prefix, startAfter, limit);
      const res = await call(node, 'local scan', (c) => c.localScan(create(LocalScanRequestSchema, { prefix, startAfter, limit }), { timeoutMs }));
      return { entries: res.entries.map(entryFromProto), more: res.more };
    },
  };
}
