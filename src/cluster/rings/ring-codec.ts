/**
 * The stored form of a ring: the value of `/flotilla/rings/<name>`.
 *
 * - A ring whose JSON is at most `PLAIN_LIMIT_BYTES` (128 KiB; part power <= ~13 with 3 replicas, which
 *   covers the default part power 10) is stored as that JSON, readable with `etcdctl get`.
 * - A larger ring is stored as the gzip of the same JSON (`etcdctl get ... --print-value-only | gunzip`).
 *   Readers tell the two apart by the gzip magic bytes, so either form is accepted at any size.
 * - Whatever the form, the stored value must not exceed `MAX_STORED_RING_BYTES` (1 MiB). etcd refuses a
 *   request above 1.5 MiB (`--max-request-bytes`) and the embedded store does the same; the limit leaves
 *   room for the key and the transaction around it. A larger ring is refused before anything is written.
 *
 * Why not chunks: etcd's limit is per request, so chunks written in one transaction are bounded by the
 * same 1.5 MiB, and chunks spread over several transactions would no longer appear atomically. In practice
 * (measured with 3 replicas): 2^16 partitions compress to 65-220 KB (3-100 devices), 2^18 to 530-860 KB,
 * 2^19 with 12 devices to ~1.06 MB (refused). So part power 18 is the largest that is always storable.
 */
import { gunzipSync, gzipSync } from 'node:zlib';
import { Code, FlotillaError } from '../../core/errors.js';
import { ringFromJSON, type Ring } from '../ring/index.js';

/** Rings whose JSON is at most this size are stored uncompressed. */
export const PLAIN_LIMIT_BYTES = 128 * 1024;
/** The largest stored value (after compression) a ring may have. */
export const MAX_STORED_RING_BYTES = 1024 * 1024;
/** A decompressed ring larger than this is refused (2^20 partitions x 16 replicas stay below it). */
const MAX_RING_JSON_BYTES = 96 * 1024 * 1024;

export type RingEncoding = 'json' | 'gzip';

export interface EncodedRing {
  value: Buffer;
  encoding: RingEncoding;
  /** Size of the JSON before compression. */
  jsonBytes: number;
}

function isGzip(value: Buffer): boolean {
  return value.length >= 2 && value[0] === 0x1f && value[1] === 0x8b;
}

/**
 * The value to store for a ring. RESOURCE_EXHAUSTED (nothing is written) when it does not fit the store.
 */
export function encodeRing(ring: Ring): EncodedRing {
  const json = Buffer.from(JSON.stringify(ring.toJSON()), 'utf8');
  if (json.length <= PLAIN_LIMIT_BYTES) return { value: json, encoding: 'json', jsonBytes: json.length };
  const value = gzipSync(json);
  if (value.length > MAX_STORED_RING_BYTES) {
    throw new FlotillaError(
      Code.RESOURCE_EXHAUSTED,
      `ring ${ring.name} is too large to store: ${value.length} bytes compressed (2^${ring.partPower} partitions x ${ring.replicas} replicas, ` +
        `${ring.devices.length} devices), the limit is ${MAX_STORED_RING_BYTES} bytes (etcd refuses requests above 1.5 MiB); use a smaller part power`,
      { retryable: false, details: { storedBytes: value.length, limitBytes: MAX_STORED_RING_BYTES } },
    );
  }
  return { value, encoding: 'gzip', jsonBytes: json.length };
}

/**
 * Reads a stored value back into a Ring. FAILED_PRECONDITION naming `key` when it is corrupt (bad gzip,
 * bad JSON, a broken invariant) or holds a ring of another name.
 */
export function decodeRing(key: string, name: string, value: Buffer): { ring: Ring; encoding: RingEncoding } {
  const corrupt = (why: string, cause?: unknown): FlotillaError =>
    new FlotillaError(Code.FAILED_PRECONDITION, `the ring stored at ${key} is corrupt: ${why}`, { cause, details: { key } });
  let text: Buffer = value;
  let encoding: RingEncoding = 'json';
  if (isGzip(value)) {
    encoding = 'gzip';
    try {
      text = gunzipSync(value, { maxOutputLength: MAX_RING_JSON_BYTES });
    } catch (err) {
      throw corrupt(`not valid gzip (${err instanceof Error ? err.message : String(err)})`, err);
    }
  }
  let ring: Ring;
  try {
    ring = ringFromJSON(text.toString('utf8'));
  } catch (err) {
    throw corrupt(err instanceof FlotillaError ? err.rawMessage : String(err), err);
  }
  if (ring.name !== name) throw corrupt(`it holds ring "${ring.name}", not "${name}"`);
  return { ring, encoding };
}
