// Checksums against the catalogue check values (CRC RevEng: the CRC of the ASCII string "123456789")
// and incremental updates split anywhere (fast-check). The @aws-sdk/client-s3 end-to-end test also
// has the SDK compute each algorithm and this server verify it.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { createChecksummer, crc32c } from '../../../src/objects/s3/checksums.js';

const check = Buffer.from('123456789');

describe('checksums', () => {
  it('match the catalogue check values', () => {
    const hex = (alg: 'crc32' | 'crc32c' | 'crc64nvme'): string => {
      const c = createChecksummer(alg);
      c.update(check);
      return c.digest().toString('hex');
    };
    assert.equal(hex('crc32'), 'cbf43926');
    assert.equal(hex('crc32c'), 'e3069283');
    assert.equal(hex('crc64nvme'), 'ae8b14860a799888');
    assert.equal(crc32c(Buffer.alloc(0)), 0);
  });

  it('CRC64NVME (slicing-by-8, aligned and unaligned input) equals a bit-by-bit reference', () => {
    // The definition, one bit at a time with BigInt: reflected polynomial 0x9A6C9329AC4BC9B5, init and xor-out all ones.
    const reference = (data: Uint8Array): string => {
      let crc = 0xffffffffffffffffn;
      for (const byte of data) {
        crc ^= BigInt(byte);
        for (let k = 0; k < 8; k++) crc = crc & 1n ? (crc >> 1n) ^ 0x9a6c9329ac4bc9b5n : crc >> 1n;
      }
      return (crc ^ 0xffffffffffffffffn).toString(16).padStart(16, '0');
    };
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), fc.nat({ max: 7 }), (bytes, offset) => {
        const backing = new Uint8Array(bytes.length + 8);
        const data = backing.subarray(offset, offset + bytes.length);
        data.set(bytes);
        const c = createChecksummer('crc64nvme');
        c.update(data);
        assert.equal(c.digest().toString('hex'), reference(data));
      }),
      { numRuns: 300 },
    );
  });

  it('give the same digest however the input is split', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), fc.array(fc.nat(), { maxLength: 5 }), (bytes, cuts) => {
        const data = Buffer.from(bytes);
        const points = [...new Set(cuts.map((c) => c % (data.length + 1)))].sort((a, b) => a - b);
        for (const alg of ['crc32', 'crc32c', 'crc64nvme', 'sha256'] as const) {
          const whole = createChecksummer(alg);
          whole.update(data);
          const parts = createChecksummer(alg);
          let prev = 0;
          for (const p of [...points, data.length]) {
            parts.update(data.subarray(prev, p));
            prev = p;
          }
          assert.equal(parts.digest().toString('hex'), whole.digest().toString('hex'), alg);
        }
      }),
      { numRuns: 200 },
    );
  });
});
