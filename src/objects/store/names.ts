/**
 * Names: storage policies and their rings, bucket and key validation, and the blob name of an object
 * (`<policy>/<partition, 4 hex>/<SHA-256 of bucket NUL key>`). User names never become paths: a blob
 * name is a fixed-shape hash, the real bucket and key live in the blob's metadata.
 */
import { createHash } from 'node:crypto';
import { Code, FlotillaError } from '../../core/errors.js';

export interface PolicyInfo {
  name: string;
  replicas: number;
  description: string;
}

/** The storage policies ("options", OBJ-4). Each has its own ring `objects-<name>`. */
export const POLICIES: readonly PolicyInfo[] = [
  { name: 'replicated-3', replicas: 3, description: 'three replicas on three nodes, zones first (default)' },
  { name: 'replicated-2', replicas: 2, description: 'two replicas on two nodes' },
  { name: 'single', replicas: 1, description: 'one copy, no redundancy' },
];
export const DEFAULT_POLICY = 'replicated-3';

export const ringNameOf = (policy: string): string => `objects-${policy}`;

export function policyOf(name: string): PolicyInfo {
  const p = POLICIES.find((x) => x.name === name);
  if (p === undefined) throw new FlotillaError(Code.INVALID_ARGUMENT, `unknown storage policy ${JSON.stringify(name)}; policies: ${POLICIES.map((x) => x.name).join(', ')}`);
  return p;
}

/** Write quorum of a ring with `replicas` copies: a majority. */
export const writeQuorum = (replicas: number): number => Math.floor(replicas / 2) + 1;

/** S3's bucket rules: 3-63 of [a-z0-9.-], starting and ending with a letter or digit, no "..", not an IP address. */
export function checkBucketName(name: string): void {
  if (typeof name !== 'string' || !/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(name) || name.includes('..') || /^\d+\.\d+\.\d+\.\d+$/.test(name)) {
    throw new FlotillaError(Code.INVALID_ARGUMENT, `bad bucket name ${JSON.stringify(String(name).slice(0, 80))}: 3-63 lower-case letters, digits, "." or "-", starting and ending with a letter or digit`);
  }
}

/**
 * Names of the node's own HTTP routes (`/api/...`, `/internal/...`, `/healthz`, `/readyz`, `/metrics`):
 * those routes are matched before the S3 API, so a bucket of that name would be unreachable over S3.
 */
export const RESERVED_BUCKET_NAMES: readonly string[] = ['api', 'internal', 'healthz', 'readyz', 'metrics'];

/** checkBucketName plus the names a new bucket may not take (RESERVED_BUCKET_NAMES). */
export function checkNewBucketName(name: string): void {
  checkBucketName(name);
  if (RESERVED_BUCKET_NAMES.includes(name)) {
    throw new FlotillaError(Code.INVALID_ARGUMENT, `bucket name ${JSON.stringify(name)} is reserved: ${RESERVED_BUCKET_NAMES.join(', ')} are the node's own HTTP routes and would shadow the bucket over S3`);
  }
}

/** Longest key, in UTF-8 bytes (S3's limit). */
export const MAX_KEY_BYTES = 1024;

/**
 * A key is 1-1024 bytes of UTF-8 without control characters. Keys are names, not paths: "../x" is a
 * valid key (as in S3) and is stored under its hash; the /upload endpoint, which takes file names,
 * refuses more (checkFileName).
 */
export function checkKey(key: string): void {
  if (typeof key !== 'string' || key.length === 0) throw new FlotillaError(Code.INVALID_ARGUMENT, 'an object key may not be empty');
  if (Buffer.byteLength(key) > MAX_KEY_BYTES) throw new FlotillaError(Code.INVALID_ARGUMENT, `an object key is at most ${MAX_KEY_BYTES} bytes of UTF-8`);
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(key) || /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/.test(key)) throw new FlotillaError(Code.INVALID_ARGUMENT, 'an object key may not contain control characters or lone surrogates');
}

/** A file name for /upload and /download: a plain name, no directories, no "." or "..". */
export function checkFileName(name: string): void {
  checkKey(name);
  if (name === '.' || name === '..' || name.includes('/') || name.includes('\\') || Buffer.byteLength(name) > 255) {
    throw new FlotillaError(Code.INVALID_ARGUMENT, `bad file name ${JSON.stringify(name.slice(0, 80))}: a plain name of at most 255 bytes, without "/" or "\\", not "." or ".."`);
  }
}

const hex4 = (n: number): string => n.toString(16).padStart(4, '0');

export function objectBlobName(policy: string, partition: number, bucket: string, key: string): string {
  return `${policy}/${hex4(partition)}/${createHash('sha256').update(`${bucket}\0${key}`).digest('hex')}`;
}

export function partBlobName(policy: string, partition: number, uploadId: string, partNumber: number): string {
  return `${policy}/${hex4(partition)}/${createHash('sha256').update(`part\0${uploadId}\0${partNumber}`).digest('hex')}`;
}

/** The policy and partition of a blob name; undefined for a name of another shape. */
export function parseBlobName(name: string): { policy: string; partition: number } | undefined {
  const m = /^([a-z0-9-]+)\/([0-9a-f]{4})\/[0-9a-f]{64}$/.exec(name);
  return m === null ? undefined : { policy: m[1] as string, partition: parseInt(m[2] as string, 16) };
}
