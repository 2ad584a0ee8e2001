/**
 * The embedded coordination store: a single-member, durable store that speaks the etcd v3 gRPC API
 * (KV, Watch, Lease, Cluster.MemberList, Maintenance.Status/Alarm), so etcdctl and etcd clients work
 * against it unchanged.
 */
export { createEmbeddedCoordServer, DEFAULT_MAX_REQUEST_BYTES } from './server.js';
export type { EmbeddedCoordOptions, EmbeddedCoordServer } from './server.js';
export type { EmbeddedCoordAuth } from './auth-service.js';
