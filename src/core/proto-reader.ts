/**
 * A reader of protobuf wire format for the hand-written decoders of hot messages (the KV codecs, the
 * agents' metric batches). It reads what the common cases need and, for anything else (a varint past
 * 2^53, a field running past its message, text that is not UTF-8, an unknown wire type), throws
 * PROTO_FALLBACK: the caller catches it and decodes with the generated protobuf-es codec, which gives the
 * same answer or the same error. PROTO_FALLBACK is one shared instance (thrown often, no stack needed).
 */
import { isUtf8 } from 'node:buffer';

export const PROTO_FALLBACK = new Error('use the generic protobuf codec');

export class ProtoReader {
  pos: number;
  constructor(
    readonly buf: Uint8Array,
    start: number,
    readonly end: number,
  ) {
    this.pos = start;
  }

  /** A varint below 2^53 as a number (a negative int32/int64 is 10 bytes long: PROTO_FALLBACK). */
  varint(): number {
    const buf = this.buf;
    let result = 0;
    let mul = 1;
    for (let i = 0; i < 8; i++) {
      if (this.pos >= this.end) throw PROTO_FALLBACK;
      const b = buf[this.pos++]!;
      result += (b & 0x7f) * mul;
      if (b < 0x80) {
        if (result > Number.MAX_SAFE_INTEGER) throw PROTO_FALLBACK;
        return result;
      }
      mul *= 128;
    }
    throw PROTO_FALLBACK;
  }

  uint32(): number {
    const n = this.varint();
    if (n > 0xffffffff) throw PROTO_FALLBACK;
    return n;
  }

  /** The end of the length-delimited field whose contents start after its length, here. */
  delimited(): number {
    const len = this.varint();
    const end = this.pos + len;
    if (end > this.end) throw PROTO_FALLBACK;
    return end;
  }

  /** A bytes field, as a view into the buffer (no copy). */
  bytes(): Uint8Array {
    const end = this.delimited();
    const out = this.buf.subarray(this.pos, end);
    this.pos = end;
    return out;
  }

  /** A string field; text that is not UTF-8 is PROTO_FALLBACK (the generic codec reports it). */
  string(): string {
    const end = this.delimited();
    const slice = this.buf.subarray(this.pos, end);
    this.pos = end;
    if (slice.length === 0) return '';
    if (!isUtf8(slice)) throw PROTO_FALLBACK;
    return Buffer.from(slice.buffer, slice.byteOffset, slice.length).toString('utf8');
  }

  /** Skips a field of this wire type. */
  skip(wireType: number): void {
    switch (wireType) {
      case 0:
        this.varint();
        return;
      case 1:
        this.pos += 8;
        break;
      case 2:
        this.pos = this.delimited();
        return;
      case 5:
        this.pos += 4;
        break;
      default:
        throw PROTO_FALLBACK;
    }
    if (this.pos > this.end) throw PROTO_FALLBACK;
  }
}
