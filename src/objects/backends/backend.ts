/**
 * The `ObjectBackend` seam: where one node keeps its replicas (a local directory or an S3-compatible
 * bucket). A backend stores *blobs*: named byte streams with a small metadata string. The store chooses
 * the names (`<policy>/<partition>/<hash>`, see store/blob-names.ts); user object names never become
 * paths or backend keys. Every backend checks names anyway (checkBlobName) so that no name can leave it.
 *
 * Writes are atomic: a blob is visible whole or not at all. The metadata is computed *after* the body
 * has streamed (it carries the body's checksum), so `put` takes a `finish` callback that sees the size
 * and digests and returns the metadata, or throws to refuse the write (nothing is then visible). `finish`
 * may return a promise: the backend then holds the fully received body unpublished until it settles
 * (the store's two-phase write waits there for its write quorum before anything becomes visible).
 */
import type { Readable } from 'node:stream';
import { Code, FlotillaError } from '../../core/errors.js';

export interface BackendCapabilities {
  /** get() with a byte range reads only that range. */
  rangedReads: boolean;
  /** The backend can copy a blob without streaming it through the node. */
  serverSideCopy: boolean;
  /** put() is atomic (always true for the backends here). */
  atomicPut: boolean;
}

export interface WrittenBody {
  size: number;
  /** Hex SHA-256 of the body (when asked for in `digests`). */
  sha256?: string;
  /** Hex MD5 of the body (when asked for in `digests`). */
  md5?: string;
  /** CRC32 (ISO-HDLC, zlib's) of the body as 8 hex digits (when asked for in `digests`). */
  crc32?: string;
}

/** Digests a backend computes while a body streams. */
export interface BodyDigests {
  sha256: boolean;
  md5: boolean;
  /** CRC32 (zlib.crc32, native): what a replica computes to check the bytes it received against the writer's. */
  crc32?: boolean;
}

export interface BlobHead {
  /** Body size in bytes. */
  size: number;
  /** The metadata string given at put. */
  meta: string;
}

export interface BlobListing {
  name: string;
  /** Bytes stored (body + metadata + footer). */
  storedBytes: number;
}

export interface BackendSpace {
  capacityBytes: number;
  freeBytes: number;
}

export interface PutBlobOptions {
  /**
   * Called once the body has fully arrived (and been handed to the storage, not yet made durable);
   * returns the metadata (<= MAX_BLOB_META_BYTES) or throws / rejects to refuse. Nothing is visible
   * before it settles.
   */
  finish: (written: WrittenBody) => string | Promise<string>;
  /** Refuse a body of another length. */
  expectedSize?: number;
  /** Digests to compute while the body streams. Default: both (a caller that already hashed the bytes asks for none). */
  digests?: BodyDigests;
}

/** A check of the bytes read, fed chunk by chunk; `end` answers an error when they are not the blob's. */
export interface BodyCheck {
  update(chunk: Buffer): void;
  end(): Error | undefined;
}

export interface GetBlobOptions {
  /** The check of this blob's bytes, from its head (undefined: none). */
  check?: (head: BlobHead) => BodyCheck | undefined;
}

export interface ObjectBackend {
  readonly kind: 'dir' | 's3';
  /** Human-readable location (a path, or s3://host/bucket without credentials). */
  readonly location: string;
  readonly capabilities: BackendCapabilities;
  start(): Promise<void>;
  stop(): Promise<void>;
  /** Streams `body` into the blob `name`, replacing any previous one atomically. */
  put(name: string, body: Readable, options: PutBlobOptions): Promise<WrittenBody>;
  /**
   * NOT_FOUND when missing. `range` is inclusive and must lie inside the body. With `options.check`, a
   * backend that can checks the bytes in its own read loop (`checked: true` in the answer); otherwise the
   * caller checks them itself.
   */
  get(name: string, range?: { start: number; end: number }, options?: GetBlobOptions): Promise<{ head: BlobHead; body: Readable; checked?: boolean }>;
  /** undefined when missing. */
  head(name: string): Promise<BlobHead | undefined>;
  /** Removing a missing blob succeeds. */
  delete(name: string): Promise<void>;
  /** Every blob whose name starts with `prefix`, in no particular order. */
  list(prefix: string): AsyncIterable<BlobListing>;
  space(): Promise<BackendSpace>;
}

/** Longest blob name. */
export const MAX_BLOB_NAME_BYTES = 512;
/** Largest metadata string. */
export const MAX_BLOB_META_BYTES = 16 * 1024;

const SEGMENT = /^[A-Za-z0-9_-][A-Za-z0-9._-]*$/;

/** Throws INVALID_ARGUMENT unless `name` is slash-separated segments of [A-Za-z0-9._-], none "." or "..", not starting with ".". */
export function checkBlobName(name: string): void {
  if (typeof name !== 'string' || name.length === 0 || Buffer.byteLength(name) > MAX_BLOB_NAME_BYTES) {
    throw new FlotillaError(Code.INVALID_ARGUMENT, `a blob name is 1-${MAX_BLOB_NAME_BYTES} bytes`);
  }
  for (const seg of name.split('/')) {
    if (!SEGMENT.test(seg)) throw new FlotillaError(Code.INVALID_ARGUMENT, `bad blob name ${JSON.stringify(name.slice(0, 80))}: segments are [A-Za-z0-9._-], not empty, not starting with "."`);
  }
}

export function checkRange(range: { start: number; end: number } | undefined, size: number): void {
  if (range === undefined) return;
  const { start, end } = range;
  if (!Number.isSafeInteger(start) || !Number.isSafeInteger(end) || start < 0 || end < start || end >= size) {
    throw new FlotillaError(Code.INVALID_ARGUMENT, `range ${start}-${end} is not inside 0-${size - 1}`, { details: { reason: 'range-not-satisfiable', size } });
  }
}
