/**
 * Bit-level writer and reader over a Uint8Array, most significant bit first. Values are written in
 * pieces of at most 32 bits (JavaScript's bitwise operators work on 32-bit integers); 64-bit values go as
 * two halves.
 *
 * The writer gathers bits in a 32-bit word and stores the word's four bytes once it is full, so a write
 * costs a shift and an or, and the buffer is touched (and its room checked) once per 32 bits. Its buffer
 * is taken from Node's shared pool of small buffers while small (no allocation of its own per chunk: a
 * head holds one open chunk per series) and doubles when full.
 */

/** A buffer of at least `n` bytes (n a multiple of 4); contents undefined (every byte read is written first). */
function allocBytes(n: number): Uint8Array {
  // Buffer.allocUnsafe serves sizes below 4 KiB from a shared 8 KiB slab: no backing store per buffer. A plain
  // Uint8Array view of it, so that `.slice()` on what bytes() returns copies, as for any Uint8Array.
  const b = Buffer.allocUnsafe(n);
  return new Uint8Array(b.buffer, b.byteOffset, n);
}

export class BitWriter {
  private buf: Uint8Array;
  /** Bytes stored in `buf` (whole 32-bit words: a multiple of 4). */
  private pos = 0;
  /** Bits not stored yet, the first written highest: `accBits` (0..31) of them, nothing above. */
  private acc = 0;
  private accBits = 0;

  constructor(initialBytes = 32) {
    this.buf = allocBytes(Math.max(8, (initialBytes + 3) & ~3));
  }

  /** Bits written. */
  get bitLength(): number {
    return this.pos * 8 + this.accBits;
  }

  private grow(): void {
    const next = allocBytes(this.buf.length * 2);
    next.set(this.buf.subarray(0, this.pos));
    this.buf = next;
  }

  /** Forgets what was written; the buffer is kept for what is written next. */
  reset(): void {
    this.pos = 0;
    this.acc = 0;
    this.accBits = 0;
  }

  /** Stores a full word (big-endian: the first bit written is the top bit of the first byte). */
  private store(word: number): void {
    const p = this.pos;
    if (p === this.buf.length) this.grow();
    const b = this.buf;
    b[p] = word >>> 24;
    b[p + 1] = word >>> 16;
    b[p + 2] = word >>> 8;
    b[p + 3] = word;
    this.pos = p + 4;
  }

  writeBit(bit: number): void {
    this.acc = (this.acc << 1) | (bit !== 0 ? 1 : 0);
    if (++this.accBits === 32) {
      this.store(this.acc);
      this.acc = 0;
      this.accBits = 0;
    }
  }

  /** Writes the low `n` bits of `value` (0 <= n <= 32; value is taken as an unsigned 32-bit integer). */
  writeBits(value: number, n: number): void {
    const free = 32 - this.accBits;
    if (n < free) {
      // n < 32 here, so the mask is exact; the bits fit in the word.
      this.acc = (this.acc << n) | (value & ((1 << n) - 1));
      this.accBits += n;
      return;
    }
    // The word fills up: its last `free` bits are the top of the value, the `rest` low bits start the next.
    const rest = n - free;
    const v = n < 32 ? value & ((1 << n) - 1) : value | 0;
    this.store(free === 32 ? v : (this.acc << free) | (v >>> rest));
    this.acc = rest === 0 ? 0 : v & ((1 << rest) - 1);
    this.accBits = rest;
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

  /** The bytes written so far, the last one padded with 0 bits (a view: copy it before writing more if it must stay unchanged). */
  bytes(): Uint8Array {
    const partial = (this.accBits + 7) >>> 3;
    if (partial > 0) {
      // Written past `pos` without moving it: the next store overwrites these bytes with the same bits and more.
      if (this.pos === this.buf.length) this.grow();
      const word = this.acc << (32 - this.accBits);
      for (let i = 0; i < partial; i++) this.buf[this.pos + i] = word >>> (24 - 8 * i);
    }
    return this.buf.subarray(0, this.pos + partial);
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
