/**
 * The public door of the key-value store: the node component (engine, client and replica gRPC
 * services, coordinator, hinted handoff, anti-entropy), the ring adapter, and what the CLI and HTTP API
 * need (validation, consistency levels, limits).
 */
export { createKvService, kvDataDir } from './kv-service.js';
export type { KvServiceComponent, KvServiceOptions } from './kv-service.js';
export { placementFromRing } from './ring-placement.js';
export type { Entry, KvMembership, KvPlacement, Version } from './types.js';
export { MAX_KEY_BYTES, MAX_VALUE_BYTES } from './types.js';
export { CONSISTENCY_LEVELS, checkKey, checkTtl, checkValue, parseConsistency, resolveQuorum } from './coordinator/validate.js';
export type { ConsistencyLevel } from './coordinator/validate.js';
export type { Coordinator, PutOptions, QuorumOptions, ReadResult, WriteResult } from './coordinator/coordinator.js';
export type { ScanOptions, ScanPage } from './coordinator/scan.js';
export { consistencyFromProto, consistencyToProto } from './client-service.js';
export { createKvClients } from './replica/replica-clients.js';
export type { KvClient, KvClients } from './replica/replica-clients.js';
export { KvEngine, isLive } from './engine/kv-engine.js';
export { MerkleTree, entryDigest, findDifferingLeaves, keyHash32 } from './antientropy/merkle-tree.js';
export { createNodeKv, membershipFromView } from './node-kv.js';
export type { NodeKvOptions } from './node-kv.js';
export { registerKvHttpRoutes } from './http-routes.js';
