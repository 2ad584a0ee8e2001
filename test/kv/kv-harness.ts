/**
 * In-process KV nodes for tests: each node is the real KV component (its own engine in a temp dir)
 * served by a real peer gRPC server on 127.0.0.1, sharing one `kv` ring and one membership table the
 * test can change (mark a node down, stop it, restart it).
 */
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { buildRing, createPeerServer, type PeerServer, type Ring } from '../../src/cluster/index.js';
import { createKvService, placementFromRing, type KvMembership, type KvPlacement, type KvServiceComponent } from '../../src/kv/index.js';
import type { Cleanup } from '../testkit/index.js';
import { tempDir } from '../testkit/index.js';

export interface HarnessNode {
  name: string;
  kv: KvServiceComponent;
  server: PeerServer;
  dataDir: string;
  running: boolean;
}

export interface Harness {
  nodes: Map<string, HarnessNode>;
  ring: Ring;
  /** Every node switches to this ring (as the ring watcher would make them). */
  setRing(ring: Ring): void;
  node(name: string): HarnessNode;
  address(name: string): string;
  /** Marks a node down in everybody's view (it keeps running). */
  markDown(name: string): void;
  markUp(name: string): void;
  /** Stops a node (its server and KV component) and marks it down. */
  stop(name: string): Promise<void>;
  /** Starts a stopped node again on its data dir and marks it up. */
  restart(name: string): Promise<void>;
  close(): Promise<void>;
}

export interface HarnessOptions {
  names?: string[];
  /** Nodes of the initial ring. Default: every node. */
  ringNames?: string[];
  replicas?: number;
  partPower?: number;
  writeQuorum?: number;
  readQuorum?: number;
  gcGraceMs?: number;
  /** Background rounds: long by default so tests drive them by hand. */
  antiEntropyIntervalMs?: number;
  hintIntervalMs?: number;
}

export async function startHarness(t: Cleanup, options: HarnessOptions = {}): Promise<Harness> {
  const names = options.names ?? ['node-a', 'node-b', 'node-c'];
  const root = await tempDir(undefined, 'flotilla-kv-');
  const ring = buildRing({
    name: 'kv',
    partPower: options.partPower ?? 6,
    replicas: options.replicas ?? 3,
    devices: (options.ringNames ?? names).map((id, i) => ({ id, zone: `z${i}`, weight: 1 })),
  });
  let placement: KvPlacement = placementFromRing(ring);
  const addresses = new Map<string, string>();
  const down = new Set<string>();
  const nodes = new Map<string, HarnessNode>();

  const membershipOf = (self: string): KvMembership => ({
    self,
    isUp: (n) => n === self || (!down.has(n) && addresses.has(n)),
    addressOf: (n) => addresses.get(n),
  });

  async function boot(name: string): Promise<HarnessNode> {
    const dataDir = join(root, name);
    const kv = createKvService({
      dataDir,
      placement: () => placement,
      membership: membershipOf(name),
      antiEntropyIntervalMs: options.antiEntropyIntervalMs ?? 3_600_000,
      hintIntervalMs: options.hintIntervalMs ?? 3_600_000,
      replicaTimeoutMs: 2000,
      ...(options.writeQuorum !== undefined ? { writeQuorum: options.writeQuorum } : {}),
      ...(options.readQuorum !== undefined ? { readQuorum: options.readQuorum } : {}),
      ...(options.gcGraceMs !== undefined ? { gcGraceMs: options.gcGraceMs } : {}),
    });
    // As a node serves it: the lean unary path first, ConnectRPC behind it.
    const server = createPeerServer({ listen: '127.0.0.1:0', routes: (r) => kv.routes(r), fastPath: (req, res) => kv.unaryHandler(req, res), fastStream: (stream, headers) => kv.unaryHandler.stream(stream, headers), readMaxBytes: 16 * 1024 * 1024 });
    await kv.start();
    await server.start();
    addresses.set(name, server.address);
    const n: HarnessNode = { name, kv, server, dataDir, running: true };
    nodes.set(name, n);
    return n;
  }

  for (const name of names) await boot(name);

  const h: Harness = {
    nodes,
    ring,
    setRing(next) {
      h.ring = next;
      placement = placementFromRing(next);
    },
    node(name) {
      const n = nodes.get(name);
      if (n === undefined) throw new Error(`no node ${name}`);
      return n;
    },
    address: (name) => addresses.get(name) ?? '',
    markDown: (name) => void down.add(name),
    markUp: (name) => void down.delete(name),
    async stop(name) {
      const n = h.node(name);
      if (!n.running) return;
      down.add(name);
      n.running = false;
      await n.server.stop();
      await n.kv.stop();
    },
    async restart(name) {
      if (h.node(name).running) return;
      await boot(name);
      down.delete(name);
    },
    async close() {
      for (const n of nodes.values()) {
        if (!n.running) continue;
        n.running = false;
        await n.server.stop().catch(() => undefined);
        await n.kv.stop().catch(() => undefined);
      }
      await rm(root, { recursive: true, force: true });
    },
  };
  t.after(() => h.close());
  return h;
}
