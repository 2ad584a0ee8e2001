/**
 * The public door of the object store: the ObjectService contract, backends, the node component
 * (createNodeObjects: store, replica API, /api/v1/objects, repair), the /upload and /download server,
 * and the object rings' automatic builders for the server.
 */
export type * from './object-service.js';
export * from './backends/index.js';
export { createNodeObjects, type NodeObjects, type NodeObjectsOptions } from './node-objects.js';
export { createObjectRingBuilders, type ObjectRingBuildersOptions } from './ring-builders.js';
export { createXferServer, FILES_BUCKET, type XferServer, type XferServerOptions } from './xfer/xfer-server.js';
export { DEFAULT_POLICY, POLICIES, RESERVED_BUCKET_NAMES, ringNameOf, checkBucketName, checkNewBucketName, checkKey, checkFileName, type PolicyInfo } from './store/names.js';
export type { ObjectStore, ObjectPeer } from './store/object-store.js';
export { registerS3Routes, type S3RoutesOptions } from './s3/index.js';
