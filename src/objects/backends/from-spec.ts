import type { BackendSpec } from '../../cluster/index.js';
import type { ObjectBackend } from './backend.js';
import { createDirBackend } from './dir-backend.js';
import { createS3Backend } from './s3-backend.js';

/** The backend a parsed `--backend` value names (dir:PATH or s3://...). */
export function createBackendFromSpec(spec: BackendSpec): ObjectBackend {
  if (spec.kind === 'dir') return createDirBackend({ path: spec.path });
  return createS3Backend({
    endpoint: spec.endpoint,
    bucket: spec.bucket,
    prefix: spec.prefix,
    region: spec.region,
    ...(spec.accessKeyId !== undefined ? { accessKeyId: spec.accessKeyId, secretAccessKey: spec.secretAccessKey ?? '' } : {}),
  });
}
