/**
 * The checksums S3 clients send (x-amz-checksum-*, Content-MD5): incremental hashers over a body as it
 * streams. CRC32 comes from node:zlib (Node >= 20.15); CRC32C (Castagnoli, reflected 0x82F63B78) and
 * CRC64NVME (reflected 0x9A6C9329AC4BC9B5, init and xor-out all ones) are table-driven here, 8 bytes per
 * step (slicing-by-8) for CRC32C and byte-wise on two 32-bit halves for CRC64NVME.
 */
import { createHash } from 'node:crypto';
import { crc32 as zlibCrc32 } from 'node:zlib';

/** An incremental checksum: feed bytes, then read the digest (the big-endian bytes AWS base64-encodes). */
export interface Checksummer {
  update(data: Uint8Array): void;
  digest(): Buffer;
}

export type ChecksumAlgorithm = 'crc32' | 'crc32c' | 'crc64nvme' | 'sha1' | 'sha256';
export const checksumAlgorithms: readonly ChecksumAlgorithm[] = ['crc32', 'crc32c', 'crc64nvme', 'sha1', 'sha256'];

const crc32cTables: Uint32Array[] = (() => {
  const tables = Array.from({ length: 8 }, () => new Uint32Array(256));
  const t0 = tables[0]!;
  for (let i = 0; i < 256; i++) {
    let c = i;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
    t0[i] = c >>> 0;
  }
  for (let i = 0; i < 256; i++) {
    let c = t0[i]!;
    for (let s = 1; s < 8; s++) {
      c = (c >>> 8) ^ t0[c & 0xff]!;
      tables[s]![i] = c >>> 0;
    }
  }
  return tables;
})();

/** CRC32C of `data` continuing from `crc` (0 for a fresh checksum); returns the finished value. */
export function crc32c(data: Uint8Array, crc = 0): number {
  const [t0, t1, t2, t3, t4, t5, t6, t7] = crc32cTables as [Uint32Array, Uint32Array, Uint32Array, Uint32Array, Uint32Array, Uint32Array, Uint32Array, Uint32Array];
  let c = ~crc >>> 0;
  let i = 0;
  const n = data.length;
  for (; i + 8 <= n; i += 8) {
    const lo = (c ^ (data[i]! | (data[i + 1]! << 8) | (data[i + 2]! << 16) | (data[i + 3]! << 24))) >>> 0;
    c =
      t7[lo & 0xff]! ^
      t6[(lo >>> 8) & 0xff]! ^
      t5[(lo >>> 16) & 0xff]! ^
      t4[lo >>> 24]! ^
      t3[data[i + 4]!]! ^
      t2[data[i + 5]!]! ^
      t1[data[i + 6]!]! ^
      t0[data[i + 7]!]!;
  }
  for (; i < n; i++) c = (c >>> 8) ^ t0[(c ^ data[i]!) & 0xff]!;
  return ~c >>> 0;
}

const crc64Lo = new Uint32Array(256);
const crc64Hi = new Uint32Array(256);
(() => {
  const polyLo = 0xac4bc9b5;
  const polyHi = 0x9a6c9329;
  for (let i = 0; i < 256; i++) {
    let lo = i;
    let hi = 0;
    for (let k = 0; k < 8; k++) {
      const bit = lo & 1;
      lo = ((lo >>> 1) | ((hi & 1) << 31)) >>> 0;
      hi = hi >>> 1;
      if (bit) {
        lo = (lo ^ polyLo) >>> 0;
        hi = (hi ^ polyHi) >>> 0;
      }
    }
    crc64Lo[i] = lo;
    crc64Hi[i] = hi;
  }
})();

/** Incremental CRC64NVME; the state is the pre-inverted register as two 32-bit halves. */
export class Crc64Nvme implements Checksummer {
  private lo = 0xffffffff;
  private hi = 0xffffffff;

  update(data: Uint8Array): void {
    let lo = this.lo;
    let hi = this.hi;
    for (let i = 0; i < data.length; i++) {
      const idx = (lo ^ data[i]!) & 0xff;
      lo = (((lo >>> 8) | (hi << 24)) ^ crc64Lo[idx]!) >>> 0;
      hi = ((hi >>> 8) ^ crc64Hi[idx]!) >>> 0;
    }
    this.lo = lo;
    this.hi = hi;
  }

  digest(): Buffer {
    const out = Buffer.alloc(8);
    out.writeUInt32BE(~this.hi >>> 0, 0);
    out.writeUInt32BE(~this.lo >>> 0, 4);
    return out;
  }
}

class Crc32Family implements Checksummer {
  private value = 0;
  constructor(private readonly fn: (data: Uint8Array, crc: number) => number) {}
  update(data: Uint8Array): void {
    this.value = this.fn(data, this.value);
  }
  digest(): Buffer {
    const out = Buffer.alloc(4);
    out.writeUInt32BE(this.value >>> 0, 0);
    return out;
  }
}

class NodeHash implements Checksummer {
  private readonly hash;
  constructor(algorithm: string) {
    this.hash = createHash(algorithm);
  }
  update(data: Uint8Array): void {
    this.hash.update(data);
  }
  digest(): Buffer {
    return this.hash.digest();
  }
}

export function createChecksummer(algorithm: ChecksumAlgorithm | 'md5'): Checksummer {
  switch (algorithm) {
    case 'crc32':
      return new Crc32Family((d, c) => zlibCrc32(d, c));
    case 'crc32c':
      return new Crc32Family(crc32c);
    case 'crc64nvme':
      return new Crc64Nvme();
    default:
      return new NodeHash(algorithm);
  }
}

/** The digest length in bytes of each algorithm (to reject a malformed x-amz-checksum-* value early). */
export const checksumLength: Record<ChecksumAlgorithm, number> = { crc32: 4, crc32c: 4, crc64nvme: 8, sha1: 20, sha256: 32 };
