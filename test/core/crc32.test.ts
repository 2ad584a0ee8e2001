import { strict as assert } from 'node:assert';
import { randomBytes } from 'node:crypto';
import { arch, platform } from 'node:os';
import { describe, it } from 'node:test';
import { crc32 as zlibCrc32 } from 'node:zlib';
import { CRC32_NATIVE_MODULE, crc32, crc32cNative } from '../../src/core/crc32.js';
import { crc32c as tableCrc32c } from '../../src/objects/s3/checksums.js';

describe('CRC-32 (src/core/crc32.ts)', () => {
  it('uses the native module on this platform (linux-x64 has a prebuilt binary)', () => {
    if (platform() === 'linux' && arch() === 'x64') {
      assert.ok(CRC32_NATIVE_MODULE !== undefined, 'the @node-rs/crc32 binary did not load: CRC-32 falls back to zlib (3x slower)');
      assert.ok(crc32cNative !== undefined);
    }
  });

  it("gives zlib's values, whole and continued chunk by chunk, over shared memory too", () => {
    assert.equal(crc32(Buffer.from('123456789')), 0xcbf43926);
    assert.equal(crc32(Buffer.alloc(0)), 0);
    for (const n of [1, 7, 64, 4095, 65_536, 1_000_003]) {
      const b = randomBytes(n);
      assert.equal(crc32(b), zlibCrc32(b), `${n} bytes`);
      const cut = Math.floor(n / 3);
      assert.equal(crc32(b.subarray(cut), crc32(b.subarray(0, cut))), zlibCrc32(b), `${n} bytes in two parts`);
      assert.equal(crc32(new Uint8Array(b)), zlibCrc32(b), 'a plain Uint8Array');
    }
    const shared = Buffer.from(new SharedArrayBuffer(4096));
    randomBytes(4096).copy(shared);
    assert.equal(crc32(shared), zlibCrc32(shared));
  });

  it("CRC-32C from the native module gives the table's values (S3's x-amz-checksum-crc32c)", () => {
    if (crc32cNative === undefined) return;
    assert.equal(crc32cNative(Buffer.from('123456789')), 0xe3069283);
    for (const n of [1, 9, 1000, 100_001]) {
      const b = randomBytes(n);
      assert.equal(crc32cNative(b), tableCrc32c(b), `${n} bytes`);
      assert.equal(crc32cNative(b.subarray(5), crc32cNative(b.subarray(0, 5))), tableCrc32c(b), `${n} bytes in two parts`);
    }
  });
});
