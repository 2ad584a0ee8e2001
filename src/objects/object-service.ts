/**
 * The contract between the object store's core (placement, replication, integrity: src/objects/store/)
 * and its front ends (the S3-compatible API in src/objects/s3/, the /upload and /download endpoints, the
 * `flotilla obj` CLI and the HTTP API). Any node is an access point: every method works on any node.
 * Bodies are streams end to end; nothing buffers a whole object.
 */
import type { Readable } from 'node:stream';

export interface BucketInfo {
  name: string;
  /** Storage policy, e.g. replicated-3 (default), replicated-2, single. */
  policy: string;
  createdAtMs: number;
}

export interface ObjectMeta {
  bucket: string;
  key: string;
  size: number;
  /** Hex SHA-256 of the whole object (the integrity checksum every replica stores). */
  sha256: string;
  /**
   * Hex MD5 for S3 single-part uploads; multipart ETags are `md5-of-md5s-N`; objects written with
   * `etag: 'sha256'` (the native API, /upload) have `sha256-<hex SHA-256>`.
   */
  etag: string;
  contentType: string;
  /** x-amz-meta-* user metadata, lower-case keys without the prefix. */
  userMetadata: Record<string, string>;
  /** Version timestamp (ms since the epoch); a newer version wins on repair. */
  lastModifiedMs: number;
}

export interface PutObjectInput {
  bucket: string;
  key: string;
  body: Readable;
  /** When known (Content-Length); a body of another length is refused and nothing is stored. */
  size?: number;
  contentType?: string;
  userMetadata?: Record<string, string>;
  /** When given, the body must hash to it or nothing is stored. */
  expectedSha256?: string;
  expectedMd5?: string;
  /**
   * What the ETag is: `md5` (default) is S3's, the body's MD5; `sha256` makes it `sha256-<hex SHA-256>`
   * and spares the MD5 pass (~90 ms of CPU per 64 MiB here). The dash keeps S3 tools (rclone, s3cmd) from
   * taking it for an MD5 to check downloads against, as they do for multipart ETags. Either way the
   * SHA-256 is stored and checked. Ignored when `expectedMd5` is given (the MD5 is computed then).
   */
  etag?: 'md5' | 'sha256';
}

export interface GetObjectInput {
  bucket: string;
  key: string;
  /** Inclusive byte range. */
  range?: { start: number; end: number };
  /**
   * Instead of `range`: decides it from the object's metadata once that is known, before anything is
   * read (one look-up for conditional and suffix-range requests); a throw fails the call with that error.
   */
  rangeFor?: (meta: ObjectMeta) => { start: number; end: number } | undefined;
}

export interface ListObjectsInput {
  bucket: string;
  prefix?: string;
  delimiter?: string;
  /** Return keys strictly after this one (continuation / start-after). */
  after?: string;
  /** At most this many keys + common prefixes. Default 1000. */
  limit?: number;
}

export interface ListObjectsResult {
  objects: ObjectMeta[];
  commonPrefixes: string[];
  /** Set when the listing was cut short: pass it as `after` for the next page. */
  nextAfter?: string;
}

export interface MultipartPart {
  partNumber: number;
  etag: string;
  size: number;
}

export interface ObjectService {
  listBuckets(): Promise<BucketInfo[]>;
  /** FlotillaError ALREADY_EXISTS when it exists; INVALID_ARGUMENT for a bad name or unknown policy. */
  createBucket(name: string, options?: { policy?: string }): Promise<BucketInfo>;
  /** FAILED_PRECONDITION when not empty; NOT_FOUND when missing. */
  deleteBucket(name: string): Promise<void>;
  headBucket(name: string): Promise<BucketInfo>;

  putObject(input: PutObjectInput): Promise<ObjectMeta>;
  /** NOT_FOUND when missing. The stream is verified against the checksum as it flows; a damaged replica is never served. */
  getObject(input: GetObjectInput): Promise<{ meta: ObjectMeta; body: Readable }>;
  headObject(bucket: string, key: string): Promise<ObjectMeta>;
  /** Deleting a missing key succeeds (S3 semantics). */
  deleteObject(bucket: string, key: string): Promise<void>;
  copyObject(from: { bucket: string; key: string }, to: { bucket: string; key: string }, options?: { metadata?: { contentType?: string; userMetadata?: Record<string, string> } }): Promise<ObjectMeta>;
  /** Served from an ordered per-bucket index, not a walk of every node. */
  listObjects(input: ListObjectsInput): Promise<ListObjectsResult>;

  createMultipartUpload(bucket: string, key: string, options?: { contentType?: string; userMetadata?: Record<string, string> }): Promise<{ uploadId: string }>;
  uploadPart(bucket: string, key: string, uploadId: string, partNumber: number, body: Readable, size?: number): Promise<MultipartPart>;
  listParts(bucket: string, key: string, uploadId: string): Promise<MultipartPart[]>;
  completeMultipartUpload(bucket: string, key: string, uploadId: string, parts: { partNumber: number; etag: string }[]): Promise<ObjectMeta>;
  abortMultipartUpload(bucket: string, key: string, uploadId: string): Promise<void>;
}
