/**
 * The key-value capability of a node as one component: the local engine, the client and replica gRPC
 * services (registered on the node's peer server through `routes`), the coordinator, hint delivery and
 * anti-entropy. The composition root gives it the `kv` ring and the membership view as two small
 * functions/interfaces, and calls `peerUp` when a peer returns.
 */
import { join } from 'node:path';
import { ConnectError, Code as ConnectCode, type ConnectRouter, type ServiceImpl } from '@connectrpc/connect';
import { HybridLogicalClock } from '../core/hlc.js';
import type { Component } from '../core/lifecycle.js';
import { silentLogger, type Logger } from '../core/log.js';
import { KvReplicaService, KvService as KvServiceDesc } from '../gen/flotilla/v1/kv_pb.js';
import { createAntiEntropy, type AntiEntropy } from './antientropy/anti-entropy.js';
import { createClientServiceImpl } from './client-service.js';
import { createCoordinator, type Coordinator } from './coordinator/coordinator.js';
import { createReplicaAccess } from './coordinator/replica-access.js';
import { KvEngine } from './engine/kv-engine.js';
import { createHintDelivery, type HintDelivery } from './handoff/hint-delivery.js';
import { createKvClients } from './replica/replica-clients.js';
import { createReplicaServiceImpl } from './replica/replica-service.js';
import type { KvMembership, KvPlacement } from './types.js';
import { createUnaryGrpcHandler, type UnaryGrpcHandler } from '../core/grpc-unary-server.js';
import { kvCodecs } from './wire/codecs.js';

export interface KvServiceOptions {
  /** Directory of the local engine (`<data-dir>/kv`). */
  dataDir: string;
  /** The current `kv` ring, or undefined while unknown. */
  placement: () => KvPlacement | undefined;
  membership: KvMembership;
  /** Cluster default W. Default 2. */
  writeQuorum?: number;
  /** Cluster default R. Default 2. */
  readQuorum?: number;
  /** Time between anti-entropy rounds, ms. Default 10 000. */
  antiEntropyIntervalMs?: number;
  /** Time between hint delivery rounds, ms. Default 1000. */
  hintIntervalMs?: number;
  /** Tombstones are kept at least this long (and until every replica has them), ms. Default 24 h. */
  gcGraceMs?: number;
  /** Merkle tree depth. Default 16. */
  treeDepth?: number;
  /** Deadline of one replica call, ms. Default 3000. */
  replicaTimeoutMs?: number;
  logger?: Logger;
}

export interface KvServiceComponent extends Component {
  /** Registers KvService and KvReplicaService; they answer UNAVAILABLE until started. */
  routes(router: ConnectRouter): void;
  /**
   * The same two services as a lean unary gRPC handler to put in front of the peer server's ConnectRPC
   * adapter (src/core/grpc-unary-server.ts): serves a KV request and returns true, or returns false.
   */
  readonly unaryHandler: UnaryGrpcHandler;
  /** A peer became reachable again: deliver its hints and compare trees with it now. */
  peerUp(node: string): void;
  /** After start. */
  readonly coordinator: Coordinator;
  readonly engine: KvEngine;
  readonly antiEntropy: AntiEntropy;
  readonly hints: HintDelivery;
}

/**
 * Largest KV request the lean handler reads (16 MiB): far above the 1 MiB value limit, so an oversized
 * value still reaches validation and gets its clear `invalid_argument` answer.
 */
const KV_READ_MAX_BYTES = 16 * 1024 * 1024;

export function createKvService(options: KvServiceOptions): KvServiceComponent {
  const logger = options.logger ?? silentLogger();
  const { membership } = options;
  const clock = new HybridLogicalClock({ node: membership.self });
  const clients = createKvClients({ timeoutMs: options.replicaTimeoutMs ?? 3000 });
  let engine: KvEngine | undefined;
  let coordinator: Coordinator | undefined;
  let antiEntropy: AntiEntropy | undefined;
  let hints: HintDelivery | undefined;
  let replicaImpl: ReturnType<typeof createReplicaServiceImpl> | undefined;
  let serving = false;

  const notServing = (): ConnectError => new ConnectError(`[unavailable] the kv service of ${membership.self} is not serving`, ConnectCode.Unavailable);
  const need = <T>(v: T | undefined): T => {
    if (v === undefined || !serving) throw notServing();
    return v;
  };
  const clientImpl = createClientServiceImpl({
    coordinator: () => need(coordinator),
    health: () => {
      const nodes = options.placement()?.nodes() ?? [];
      return {
        node: membership.self,
        serving,
        up: nodes.filter((n) => membership.isUp(n)),
        down: nodes.filter((n) => !membership.isUp(n)),
        pendingHints: engine?.pendingHints ?? 0,
      };
    },
  });

  const replicaRoutes = {
    replicate: (req, ctx) => need(replicaImpl).replicate(req, ctx),
    read: (req, ctx) => need(replicaImpl).read(req, ctx),
    storeHints: (req, ctx) => need(replicaImpl).storeHints(req, ctx),
    getTreeNodes: (req, ctx) => need(replicaImpl).getTreeNodes(req, ctx),
    syncRange: (req, ctx) => need(replicaImpl).syncRange(req, ctx),
    localScan: (req, ctx) => need(replicaImpl).localScan(req, ctx),
  } satisfies ServiceImpl<typeof KvReplicaService>;
  const unaryHandler = createUnaryGrpcHandler({
    services: [
      { service: KvServiceDesc, impl: clientImpl },
      { service: KvReplicaService, impl: replicaRoutes },
    ],
    readMaxBytes: KV_READ_MAX_BYTES,
    codecs: kvCodecs,
    logger,
    what: 'kv',
  });

  return {
    name: 'kv',
    unaryHandler,
    get coordinator() {
      return need(coordinator);
    },
    get engine() {
      return need(engine);
    },
    get antiEntropy() {
      return need(antiEntropy);
    },
    get hints() {
      return need(hints);
    },
    routes(router) {
      router.service(KvServiceDesc, clientImpl);
      router.service(KvReplicaService, replicaRoutes);
    },
    peerUp(node) {
      if (!serving) return;
      void hints?.deliverNow().catch(() => undefined);
      void antiEntropy?.exchange(node).catch((err: unknown) => logger.debug({ node, err: String(err) }, 'anti-entropy with a returning peer failed'));
    },
    async start() {
      engine = await KvEngine.open({
        dir: options.dataDir,
        ...(options.treeDepth !== undefined ? { treeDepth: options.treeDepth } : {}),
        ...(options.gcGraceMs !== undefined ? { gcGraceMs: options.gcGraceMs } : {}),
      });
      const replicas = createReplicaAccess({ engine, clock, membership, clients, ...(options.replicaTimeoutMs !== undefined ? { timeoutMs: options.replicaTimeoutMs } : {}) });
      replicaImpl = createReplicaServiceImpl({ engine, clock });
      coordinator = createCoordinator({
        placement: options.placement,
        membership,
        replicas,
        clock,
        ...(options.writeQuorum !== undefined ? { writeQuorum: options.writeQuorum } : {}),
        ...(options.readQuorum !== undefined ? { readQuorum: options.readQuorum } : {}),
        logger,
      });
      hints = createHintDelivery({ engine, replicas, membership, logger, ...(options.hintIntervalMs !== undefined ? { intervalMs: options.hintIntervalMs } : {}) });
      antiEntropy = createAntiEntropy({
        engine,
        replicas,
        membership,
        placement: options.placement,
        logger,
        ...(options.antiEntropyIntervalMs !== undefined ? { intervalMs: options.antiEntropyIntervalMs } : {}),
      });
      serving = true;
      hints.start();
      antiEntropy.start();
    },
    async stop() {
      serving = false;
      await antiEntropy?.stop();
      await hints?.stop();
      await coordinator?.idle().catch(() => undefined);
      clients.close();
      await engine?.close();
    },
  };
}

/** Where a node keeps its KV data under its data dir. */
export function kvDataDir(nodeDataDir: string): string {
  return join(nodeDataDir, 'kv');
}
