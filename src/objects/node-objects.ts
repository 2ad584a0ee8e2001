/**
 * The object store as a node process uses it: the backend named by --backend, the local index under
 * <data-dir>/objects-index, the replica API and the HTTP API on the node's HTTP server, the repairer,
 * peers from the membership view (nodes with the objects role; up = ACTIVE and registered).
 */
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import type { BackendSpec, MembershipView, MemberStatus, Ring } from '../cluster/index.js';
import type { Coord } from '../coord/index.js';
import { silentLogger, type Logger } from '../core/log.js';
import { createBackendFromSpec } from './backends/index.js';
import { registerObjectHttpRoutes } from './http-routes.js';
import { LocalReplica } from './store/local-replica.js';
import { createObjectStore, type ObjectPeer, type ObjectStore } from './store/object-store.js';
import { Repairer } from './store/repair.js';
import { createReplicaClient } from './store/replica-client.js';
import { registerReplicaRoutes } from './store/replica-routes.js';

export interface NodeObjectsOptions {
  self: string;
  dataDir: string;
  backend: BackendSpec;
  coord: () => Coord;
  ring: (name: string) => Ring | undefined;
  view: () => MembershipView | undefined;
  /** Default 30 s. */
  replicateIntervalMs?: number;
  /** Default 10 min. */
  auditIntervalMs?: number;
  /** Tombstones older than this are garbage collected. Default 7 days. */
  tombstoneGraceMs?: number;
  /** Multipart uploads (and their parts) older than this are aborted. Default 7 days. */
  multipartExpiryMs?: number;
  logger?: Logger;
}

export interface NodeObjects {
  readonly name: string;
  start(): Promise<void>;
  stop(): Promise<void>;
  /** The ObjectService of this node (after start). */
  readonly service: ObjectStore;
  readonly repair: Repairer;
  /** Registers the replica API and /api/v1/objects on the node's HTTP server (before it listens). */
  registerRoutes(app: FastifyInstance): void;
}

export function createNodeObjects(o: NodeObjectsOptions): NodeObjects {
  const logger = o.logger ?? silentLogger();
  const local = new LocalReplica(createBackendFromSpec(o.backend), join(o.dataDir, 'objects-index'));
  const client = createReplicaClient();
  const peers = (): ObjectPeer[] =>
    (o.view()?.members() ?? [])
      .filter((m) => m.record.name !== o.self && m.record.roles.includes('objects'))
      .map((m) => ({ name: m.record.name, httpAddress: m.record.httpAddress, up: m.status === 'ACTIVE' && m.registered, rttMs: m.rttMs }));
  const repair: Repairer = new Repairer({
    self: o.self,
    local,
    client,
    ring: o.ring,
    peers,
    ...(o.replicateIntervalMs !== undefined ? { replicateIntervalMs: o.replicateIntervalMs } : {}),
    ...(o.auditIntervalMs !== undefined ? { auditIntervalMs: o.auditIntervalMs } : {}),
    ...(o.tombstoneGraceMs !== undefined ? { tombstoneGraceMs: o.tombstoneGraceMs } : {}),
    ...(o.multipartExpiryMs !== undefined ? { multipartExpiryMs: o.multipartExpiryMs } : {}),
    // Upload records live in the coordination store: one node (the first live name) expires them.
    expireUploads: async (maxAgeMs) => {
      const first = [o.self, ...peers().filter((p) => p.up).map((p) => p.name)].sort()[0];
      return first === o.self ? service.expireUploads(maxAgeMs) : 0;
    },
    logger,
  });
  const service: ObjectStore = createObjectStore({
    self: o.self,
    local,
    client,
    coord: o.coord,
    ring: o.ring,
    peers,
    logger,
    onDamaged: (node, blob) => {
      if (node === o.self) repair.reportDamaged(blob);
      else {
        const p = peers().find((x) => x.name === node);
        if (p !== undefined) void client.reportDamaged(p.httpAddress, blob).catch(() => undefined);
      }
    },
  });
  let subscribed: MembershipView | undefined;
  const onStatus = (_name: string, status: MemberStatus): void => {
    if (status === 'ACTIVE') repair.trigger();
  };
  return {
    name: 'objects',
    service,
    repair,
    registerRoutes(app) {
      registerReplicaRoutes(app, { local: () => local, reportDamaged: (blob) => repair.reportDamaged(blob) });
      registerObjectHttpRoutes(app, service);
    },
    async start() {
      await local.start();
      // Bucket look-ups answered from a watched copy, not a coordination-store read per request.
      service.buckets.start(logger.child({ component: 'buckets' }));
      await repair.start();
      subscribed = o.view();
      subscribed?.on('node:status:changed', onStatus);
    },
    async stop() {
      subscribed?.off('node:status:changed', onStatus);
      await repair.stop();
      await service.buckets.stop();
      client.close();
      await local.stop();
    },
  };
}
