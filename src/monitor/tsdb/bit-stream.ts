/**
 * Bit-level writer and reader over a Uint8Array, most significant bit first. Values are written in
 * pieces of at most 32 bits (JavaScript's bitwise operators work on 32-bit integers); 64-bit values go as
 * two halves. The writer grows its buffer by doubling.
 */

export class BitWriter {
  private buf: Uint8Array;
  /** Bits written. */
  bitLength = 0;

  constructor(initialBytes = 32) {
    this.buf = new Uint8Array(Math.max(8, initialBytes));
  }

  private grow(needBytes: number): void {
    let size = this.buf.length * 2;
    while (size < needBytes) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.buf.subarray(0, (this.bitLength + 7) >>> 3));
    this.buf = next;
  }

  writeBit(bit: number): void {
    const byte = this.bitLength >>> 3;
    if (byte >= this.buf.length) this.grow(byte + 1);
    if (bit !== 0) this.buf[byte]! |= 0x80 >>> (this.bitLength & 7);
    this.bitLength += 1;
  }

  /** Writes the low `n` bits of `value` (0 <= n <= 32; value is taken as an unsigned 32-bit integer). */
  writeBits(value: number, n: number): void {
    if (n === 0) return;
    const endByte = (this.bitLength + n + 7) >>> 3;
    if (endByte > this.buf.length) this.grow(endByte);
    const v = value >>> 0;
    let left = n;
    while (left > 0) {
      const pos = this.bitLength;
      const free = 8 - (pos & 7);
      const take = left < free ? left : free;
      const shift = left - take;
      const bits = (v >>> shift) & ((1 << take) - 1);
      this.buf[pos >>> 3]! |= bits << (free - take);
      this.bitLength = pos + take;
      left = shift;
    }
  }

  /** Writes the low `n` bits (0 <= n <= 64) of the 64-bit value hi:lo. */
  writeBits64(hi: number, lo: number, n: number): void {
    if (n > 32) {
      this.writeBits(hi, n - 32);
      this.writeBits(lo, 32);
    } else {
      this.writeBits(lo, n);
    }
  }

  /** The bytes written so far (a view: copy it before writing more if it must stay unchanged). */
  bytes(): Uint8Array {
    return this.buf.subarray(0, (this.bitLength + 7) >>> 3);
  }
}

export class BitReader {
  private pos = 0;
  private readonly limit: number;

  constructor(
    private readonly buf: Uint8Array,
    bitLength = buf.length * 8,
  ) {
    this.limit = bitLength;
  }

  get bitsLeft(): number {
    return this.limit - this.pos;
  }

  readBit(): number {
    if (this.pos >= this.limit) throw new RangeError('chunk truncated');
    const bit = (this.buf[this.pos >>> 3]! >>> (7 - (this.pos & 7))) & 1;
    this.pos += 1;
    return bit;
  }

  /** Reads `n` bits (0 <= n <= 32) as an unsigned integer. */
  readBits(n: number): number {
    if (n === 0) return 0;
    if (this.pos + n > this.limit) throw new RangeError('chunk truncated');
    let out = 0;
    let left = n;
    while (left > 0) {
      const pos = this.pos;
      const avail = 8 - (pos & 7);
      const take = left < avail ? left : avail;
      const bits = (this.buf[pos >>> 3]! >>> (avail - take)) & ((1 << take) - 1);
      out = out * (1 << take) + bits;
      this.pos = pos + take;
      left -= take;
    }
    return out;
  }
}
