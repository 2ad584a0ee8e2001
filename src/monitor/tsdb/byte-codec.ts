/**
 * Byte-level writer and reader for the binary block index: unsigned LEB128 varints (values up to 2^53,
 * computed with arithmetic, not 32-bit operators), zigzag for signed values, and length-prefixed UTF-8
 * strings. A reader past the end throws a RangeError (the caller turns it into a clear error).
 */

const TWO32 = 4294967296;

/** Zigzag: 0, -1, 1, -2, ... -> 0, 1, 2, 3, ... (exact for |v| < 2^52). */
export function zigzag(v: number): number {
  return v >= 0 ? v * 2 : -v * 2 - 1;
}

export function unzigzag(z: number): number {
  return z % 2 === 0 ? z / 2 : -(z + 1) / 2;
}

/** Bits needed for a non-negative integer (0 for 0). */
export function bitLength(z: number): number {
  if (z < TWO32) return 32 - Math.clz32(z);
  return 32 + 32 - Math.clz32(Math.floor(z / TWO32));
}

export class ByteWriter {
  private buf = new Uint8Array(256);
  length = 0;

  private ensure(n: number): void {
    if (this.length + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.length + n) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.buf.subarray(0, this.length));
    this.buf = next;
  }

  u8(v: number): void {
    this.ensure(1);
    this.buf[this.length++] = v & 0xff;
  }

  /** An unsigned integer (0 <= v <= 2^53) as a LEB128 varint. */
  uvar(v: number): void {
    this.ensure(8);
    while (v >= 128) {
      this.buf[this.length++] = (v % 128) | 128;
      v = Math.floor(v / 128);
    }
    this.buf[this.length++] = v;
  }

  /** A signed integer (|v| < 2^52) as a zigzag varint. */
  svar(v: number): void {
    this.uvar(zigzag(v));
  }

  bytes(b: Uint8Array): void {
    this.ensure(b.length);
    this.buf.set(b, this.length);
    this.length += b.length;
  }

  string(s: string): void {
    const b = Buffer.from(s, 'utf8');
    this.uvar(b.length);
    this.bytes(b);
  }

  /** The bytes written (a view). */
  view(): Uint8Array {
    return this.buf.subarray(0, this.length);
  }
}

export class ByteReader {
  pos = 0;

  constructor(
    private readonly buf: Uint8Array,
    private readonly end = buf.length,
  ) {}

  get left(): number {
    return this.end - this.pos;
  }

  u8(): number {
    if (this.pos >= this.end) throw new RangeError('truncated');
    return this.buf[this.pos++]!;
  }

  uvar(): number {
    let out = 0;
    let scale = 1;
    for (;;) {
      if (this.pos >= this.end) throw new RangeError('truncated');
      const b = this.buf[this.pos++]!;
      out += (b & 127) * scale;
      if (b < 128) return out;
      scale *= 128;
      if (scale > 2 ** 56) throw new RangeError('varint too long');
    }
  }

  svar(): number {
    return unzigzag(this.uvar());
  }

  bytes(n: number): Uint8Array {
    if (this.pos + n > this.end) throw new RangeError('truncated');
    const out = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }

  string(): string {
    const b = this.bytes(this.uvar());
    return Buffer.from(b.buffer, b.byteOffset, b.length).toString('utf8');
  }
}
