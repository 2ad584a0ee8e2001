/**
 * CRC-32 (IEEE 802.3: zlib's, gzip's, S3's `x-amz-checksum-crc32`) of bytes, continuing from a previous
 * value. From @node-rs/crc32 (SIMD, ~8 ms per 64 MiB on this kind of machine, ~3x node:zlib's) when its
 * native binary loads on this platform, else node:zlib's: the same values either way. The object store
 * computes one over every byte it receives and serves, on the threads that move them.
 */
import { createRequire } from 'node:module';
import { crc32 as zlibCrc32 } from 'node:zlib';

type Crc32 = (data: Uint8Array, value?: number) => number;

function load(): { crc32: Crc32; crc32c: Crc32 | undefined; module: string | undefined } {
  const fallback = { crc32: zlibCrc32, crc32c: undefined, module: undefined };
  try {
    const require = createRequire(import.meta.url);
    const module = require.resolve('@node-rs/crc32');
    const m = require(module) as { crc32: (data: Uint8Array, initial?: number) => number; crc32c: (data: Uint8Array, initial?: number) => number };
    // The binary loaded; check it on the standard check values ("123456789") before trusting it.
    const probe = Buffer.from('123456789');
    if (m.crc32(probe) !== 0xcbf43926 || m.crc32c(probe) !== 0xe3069283) return fallback;
    return { crc32: (data, value = 0) => m.crc32(data, value), crc32c: (data, value = 0) => m.crc32c(data, value), module };
  } catch {
    return fallback;
  }
}

const loaded = load();

/** The CRC-32 of `data` continuing from `value` (0 to start); unsigned. */
export const crc32: Crc32 = loaded.crc32;

/** CRC-32C (Castagnoli) from the same native module, continuing from `value`; undefined without it (callers keep a table of their own). */
export const crc32cNative: Crc32 | undefined = loaded.crc32c;

/** The resolved path of the native module in use (for worker threads to load the same), undefined when zlib's is. */
export const CRC32_NATIVE_MODULE: string | undefined = loaded.module;
