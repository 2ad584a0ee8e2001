/**
 * The stored form of a blob, the same in every backend: the body, then the metadata (UTF-8), then a
 * 12-byte footer: the metadata length (uint32 BE) and the magic "FLBLOB01". The footer comes last
 * because the metadata holds the body's checksum, known only once the body has streamed.
 */
import { createHash, type Hash } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';
import { crc32 } from '../../core/crc32.js';
import { Code, FlotillaError } from '../../core/errors.js';
import { MAX_BLOB_META_BYTES, type BodyDigests, type WrittenBody } from './backend.js';

export const BLOB_MAGIC = Buffer.from('FLBLOB01', 'latin1');
export const FOOTER_BYTES = 12;

/** The metadata and footer appended after a body. */
export function encodeTrailer(meta: string): Buffer {
  const m = Buffer.from(meta, 'utf8');
  if (m.length > MAX_BLOB_META_BYTES) throw new FlotillaError(Code.INVALID_ARGUMENT, `blob metadata is ${m.length} bytes; the limit is ${MAX_BLOB_META_BYTES}`);
  const footer = Buffer.alloc(FOOTER_BYTES);
  footer.writeUInt32BE(m.length, 0);
  BLOB_MAGIC.copy(footer, 4);
  return Buffer.concat([m, footer]);
}

/** The metadata length from a footer; throws INTERNAL when the footer is not one (a damaged blob). */
export function decodeFooter(footer: Buffer, storedBytes: number): number {
  if (footer.length !== FOOTER_BYTES || !footer.subarray(4).equals(BLOB_MAGIC)) throw new FlotillaError(Code.INTERNAL, 'blob footer is damaged');
  const len = footer.readUInt32BE(0);
  if (len > MAX_BLOB_META_BYTES || len + FOOTER_BYTES > storedBytes) throw new FlotillaError(Code.INTERNAL, 'blob footer is damaged');
  return len;
}

/** Bytes read from a stored blob's end for its head: the footer and, nearly always, the metadata before it. */
export const TAIL_READ_BYTES = 4096;

/**
 * The head of a stored blob of `stored` bytes, read with `readAt(start, length)` (which answers exactly
 * those bytes): one read of the tail holds the footer and, for metadata of up to TAIL_READ_BYTES less the
 * footer (nearly all), the metadata too; a second read otherwise. INTERNAL when the footer is not one.
 */
export async function headFromTail(stored: number, readAt: (start: number, length: number) => Promise<Buffer>): Promise<{ size: number; meta: string }> {
  if (stored < FOOTER_BYTES) throw new FlotillaError(Code.INTERNAL, 'blob is shorter than its footer');
  const tailLen = Math.min(stored, TAIL_READ_BYTES);
  const tail = await readAt(stored - tailLen, tailLen);
  const metaLen = decodeFooter(tail.subarray(tailLen - FOOTER_BYTES), stored);
  const metaAt = stored - FOOTER_BYTES - metaLen;
  const meta = metaLen + FOOTER_BYTES <= tailLen ? tail.subarray(tailLen - FOOTER_BYTES - metaLen, tailLen - FOOTER_BYTES) : await readAt(metaAt, metaLen);
  return { size: metaAt, meta: meta.toString('utf8') };
}

/** A CRC32 value as the 8 hex digits stored in replica metadata. */
export const crc32Hex = (v: number): string => (v >>> 0).toString(16).padStart(8, '0');

/** INVALID_ARGUMENT when a body of `size` bytes so far is longer than the `declared` size. */
export function checkNotOverDeclared(declared: number | undefined, size: number): void {
  if (declared !== undefined && size > declared) throw new FlotillaError(Code.INVALID_ARGUMENT, `body is longer than the declared ${declared} bytes`);
}

/** INVALID_ARGUMENT when a whole body of `size` bytes is not the `declared` size. */
export function checkDeclaredSize(declared: number | undefined, size: number): void {
  if (declared !== undefined && size !== declared) throw new FlotillaError(Code.INVALID_ARGUMENT, `body is ${size} bytes, ${declared} were declared (truncated upload?)`);
}

/** A body's size and the digests computed of it (the CRC32 as its value, stored as 8 hex digits). */
export function writtenBody(size: number, d: { sha256?: string | undefined; md5?: string | undefined; crc32?: number | undefined }): WrittenBody {
  return { size, ...(d.sha256 !== undefined ? { sha256: d.sha256 } : {}), ...(d.md5 !== undefined ? { md5: d.md5 } : {}), ...(d.crc32 !== undefined ? { crc32: crc32Hex(d.crc32) } : {}) };
}

/** Both digests (the default of a backend put). */
export const ALL_DIGESTS: BodyDigests = { sha256: true, md5: true };

/**
 * Counts bytes and computes the asked digests in one pass (node's native hashes, fed whole chunks).
 * `update` throws INVALID_ARGUMENT once more than `expectedSize` bytes arrived; `result()` checks the
 * final size. Used inline (no stream of its own) by the store and as a Transform by `HashingCounter`.
 */
export class BodyHasher {
  private readonly sha: Hash | undefined;
  private readonly md5: Hash | undefined;
  private crc: number | undefined;
  size = 0;

  constructor(
    private readonly expectedSize: number | undefined,
    digests: BodyDigests = ALL_DIGESTS,
  ) {
    this.sha = digests.sha256 ? createHash('sha256') : undefined;
    this.md5 = digests.md5 ? createHash('md5') : undefined;
    this.crc = digests.crc32 === true ? 0 : undefined;
  }

  update(chunk: Buffer): void {
    this.size += chunk.length;
    checkNotOverDeclared(this.expectedSize, this.size);
    this.sha?.update(chunk);
    this.md5?.update(chunk);
    if (this.crc !== undefined) this.crc = crc32(chunk, this.crc);
  }

  /** Size and digests; throws INVALID_ARGUMENT when a declared size was not reached. Call once. */
  result(): WrittenBody {
    checkDeclaredSize(this.expectedSize, this.size);
    return writtenBody(this.size, { sha256: this.sha?.digest('hex'), md5: this.md5?.digest('hex'), crc32: this.crc });
  }
}

/** Passes bytes through a BodyHasher. Fails the stream when more than `expectedSize` bytes arrive. */
export class HashingCounter extends Transform {
  private readonly hasher: BodyHasher;

  constructor(expectedSize?: number, digests: BodyDigests = ALL_DIGESTS) {
    super({ highWaterMark: 1024 * 1024 });
    this.hasher = new BodyHasher(expectedSize, digests);
  }

  get size(): number {
    return this.hasher.size;
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    try {
      this.hasher.update(chunk);
    } catch (err) {
      cb(err as Error);
      return;
    }
    cb(null, chunk);
  }

  /** Size and digests; throws INVALID_ARGUMENT when a declared size was not reached. */
  result(): WrittenBody {
    return this.hasher.result();
  }
}
