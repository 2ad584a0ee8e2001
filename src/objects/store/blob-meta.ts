/** The metadata every replica stores with its bytes (JSON in the blob trailer) and in the node's index. */
import { Code, FlotillaError } from '../../core/errors.js';
import type { ObjectMeta } from '../object-service.js';

export type BlobKind = 'object' | 'tombstone' | 'part';

export interface StoredMeta {
  kind: BlobKind;
  bucket: string;
  key: string;
  size: number;
  sha256: string;
  md5: string;
  /**
   * CRC32 (zlib's) of the body as 8 hex digits, computed by the writer: what holders check the bytes they
   * received with, and what GETs verify with. Absent on replicas written before it existed (GETs then
   * verify the SHA-256). The auditor always checks the SHA-256.
   */
  crc32?: string;
  etag: string;
  contentType: string;
  userMetadata: Record<string, string>;
  lastModifiedMs: number;
  /** Orders versions: zero-padded ms, "-", random hex. Greater is newer; a newer version wins. */
  version: string;
  /** kind 'part' only. */
  uploadId?: string;
  partNumber?: number;
}

/** What a writer fixes before the body streams (size and digests come from the bytes). */
export type MetaDraft = Omit<StoredMeta, 'size' | 'sha256' | 'md5' | 'etag' | 'crc32'> & { etag?: string };

export function newVersion(nowMs: number): string {
  return `${String(nowMs).padStart(15, '0')}-${Math.floor(Math.random() * 2 ** 48).toString(16).padStart(12, '0')}`;
}

export function parseStoredMeta(text: string): StoredMeta {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    throw new FlotillaError(Code.INTERNAL, 'replica metadata is not JSON');
  }
  const m = v as StoredMeta;
  if (typeof m !== 'object' || m === null || typeof m.version !== 'string' || typeof m.sha256 !== 'string' || typeof m.bucket !== 'string') {
    throw new FlotillaError(Code.INTERNAL, 'replica metadata is incomplete');
  }
  return m;
}

export function toObjectMeta(m: StoredMeta): ObjectMeta {
  return {
    bucket: m.bucket,
    key: m.key,
    size: m.size,
    sha256: m.sha256,
    etag: m.etag,
    contentType: m.contentType,
    userMetadata: m.userMetadata,
    lastModifiedMs: m.lastModifiedMs,
  };
}

/** Encodes metadata for an HTTP header (base64url JSON). */
export const metaHeader = (m: unknown): string => Buffer.from(JSON.stringify(m)).toString('base64url');
export function parseMetaHeader<T>(h: string | string[] | undefined): T {
  if (typeof h !== 'string') throw new FlotillaError(Code.INVALID_ARGUMENT, 'missing x-flotilla-meta header');
  try {
    return JSON.parse(Buffer.from(h, 'base64url').toString('utf8')) as T;
  } catch {
    throw new FlotillaError(Code.INVALID_ARGUMENT, 'x-flotilla-meta is not base64url JSON');
  }
}
