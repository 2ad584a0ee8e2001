/** Object backends: one per node, behind the ObjectBackend seam. */
export * from './backend.js';
export { createDirBackend, type DirBackendOptions } from './dir-backend.js';
export { createS3Backend, type S3BackendOptions } from './s3-backend.js';
export { createBackendFromSpec } from './from-spec.js';
