/**
 * The aws-chunked content encoding of S3 uploads, decoded as it streams:
 *
 *   STREAMING-AWS4-HMAC-SHA256-PAYLOAD          hex-size;chunk-signature=SIG\r\n DATA \r\n ... 0;chunk-signature=SIG\r\n\r\n
 *   STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER  ... 0;chunk-signature=SIG\r\n x-amz-checksum-crc32:V\r\n x-amz-trailer-signature:SIG\r\n\r\n
 *   STREAMING-UNSIGNED-PAYLOAD-TRAILER          hex-size\r\n DATA \r\n ... 0\r\n x-amz-checksum-crc32:V\r\n\r\n
 *
 * Each chunk signature chains from the previous one (the seed is the request's signature) and is checked
 * when its chunk ends; the trailer signature chains from the last chunk's. Chunk boundaries may fall
 * anywhere in the incoming buffers. Any framing error, bad signature or a body that ends early fails the
 * stream with an S3Error, so a consumer never commits a partial or forged object.
 */
import { createHash, type Hash } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';
import { S3Error } from './s3-error.js';
import { chunkStringToSign, signatureHex, signaturesEqual, trailerStringToSign } from './sigv4.js';

export interface ChunkSigning {
  signingKey: Buffer;
  amzDate: string;
  scope: string;
  /** The request's signature, which the first chunk's signature chains from. */
  seedSignature: string;
}

export interface AwsChunkedOptions {
  /** Set for the signed variants: every chunk (and the trailer) must carry a valid signature. */
  signing?: ChunkSigning;
  /** Whether trailing headers may follow the last chunk (the *-TRAILER variants). */
  trailer: boolean;
  /** Longest chunk-header or trailer line accepted. Default 4096 bytes. */
  maxLineBytes?: number;
}

type State = 'size' | 'data' | 'data-end' | 'trailer' | 'done';

const CRLF = Buffer.from('\r\n');

export class AwsChunkedDecoder extends Transform {
  /** Trailing headers (lower-case names), complete once the stream has ended without error. */
  readonly trailers = new Map<string, string>();
  private state: State = 'size';
  private line: Buffer = Buffer.alloc(0);
  private remaining = 0;
  private chunkSignature = '';
  private previousSignature: string;
  private chunkHash: Hash | undefined;
  private readonly maxLineBytes: number;
  private trailerLines: string[] = [];

  constructor(private readonly options: AwsChunkedOptions) {
    super();
    this.previousSignature = options.signing?.seedSignature ?? '';
    this.maxLineBytes = options.maxLineBytes ?? 4096;
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    try {
      this.consume(chunk);
      callback();
    } catch (err) {
      callback(err as Error);
    }
  }

  override _flush(callback: TransformCallback): void {
    if (this.state !== 'done') {
      callback(new S3Error('IncompleteBody', 'The request body ended before the final aws-chunked chunk: you did not provide the number of bytes specified'));
      return;
    }
    callback();
  }

  private consume(buf: Buffer): void {
    let i = 0;
    while (i < buf.length) {
      switch (this.state) {
        case 'size':
        case 'trailer': {
          const nl = buf.indexOf(0x0a, i);
          const end = nl === -1 ? buf.length : nl + 1;
          if (this.line.length + (end - i) > this.maxLineBytes) throw this.framing('a chunk header or trailer line is too long');
          this.line = this.line.length === 0 ? buf.subarray(i, end) : Buffer.concat([this.line, buf.subarray(i, end)]);
          i = end;
          if (nl === -1) break;
          if (this.line.length < 2 || this.line[this.line.length - 2] !== 0x0d) throw this.framing('a line does not end with CRLF');
          const text = this.line.subarray(0, this.line.length - 2).toString('latin1');
          this.line = Buffer.alloc(0);
          if (this.state === 'size') this.onSizeLine(text);
          else this.onTrailerLine(text);
          break;
        }
        case 'data': {
          const n = Math.min(this.remaining, buf.length - i);
          const part = buf.subarray(i, i + n);
          this.chunkHash?.update(part);
          this.push(part);
          this.remaining -= n;
          i += n;
          if (this.remaining === 0) this.state = 'data-end';
          break;
        }
        case 'data-end': {
          // Two bytes, CRLF, possibly split across buffers.
          const need = 2 - this.line.length;
          const take = buf.subarray(i, i + need);
          this.line = Buffer.concat([this.line, take]);
          i += take.length;
          if (this.line.length === 2) {
            if (!this.line.equals(CRLF)) throw this.framing('chunk data is not followed by CRLF (the chunk size is wrong)');
            this.line = Buffer.alloc(0);
            this.endChunk();
            this.state = 'size';
          }
          break;
        }
        case 'done':
          throw this.framing('data after the final chunk');
      }
    }
  }

  private onSizeLine(text: string): void {
    const semi = text.indexOf(';');
    const hex = semi === -1 ? text : text.slice(0, semi);
    if (!/^[0-9a-fA-F]{1,13}$/.test(hex)) throw this.framing(`bad chunk size ${JSON.stringify(hex.slice(0, 40))}`);
    const size = parseInt(hex, 16);
    this.chunkSignature = '';
    if (semi !== -1) {
      const ext = text.slice(semi + 1);
      const m = /^chunk-signature=([0-9a-f]{64})$/.exec(ext);
      if (m === null) throw this.framing('a chunk extension other than chunk-signature=<64 hex digits>');
      this.chunkSignature = m[1]!;
    }
    if (this.options.signing !== undefined && this.chunkSignature === '') throw this.framing('a chunk has no chunk-signature in a signed streaming upload');
    this.chunkHash = this.options.signing !== undefined ? createHash('sha256') : undefined;
    if (size === 0) {
      this.endChunk();
      this.state = 'trailer';
    } else {
      this.remaining = size;
      this.state = 'data';
    }
  }

  private endChunk(): void {
    const signing = this.options.signing;
    if (signing === undefined) return;
    const digest = this.chunkHash!.digest('hex');
    const expected = signatureHex(signing.signingKey, chunkStringToSign(signing.amzDate, signing.scope, this.previousSignature, digest));
    if (!signaturesEqual(expected, this.chunkSignature)) {
      throw new S3Error('SignatureDoesNotMatch', 'The chunk signature we calculated does not match the chunk-signature you provided.');
    }
    this.previousSignature = this.chunkSignature;
  }

  private onTrailerLine(text: string): void {
    if (text === '') {
      this.finishTrailer();
      this.state = 'done';
      return;
    }
    if (!this.options.trailer) throw this.framing('trailing headers in an upload that declared none (x-amz-content-sha256 is not a *-TRAILER mode)');
    if (this.trailerLines.length >= 16) throw this.framing('too many trailing headers');
    const colon = text.indexOf(':');
    if (colon <= 0) throw this.framing(`malformed trailing header ${JSON.stringify(text.slice(0, 60))}`);
    const name = text.slice(0, colon).trim().toLowerCase();
    const value = text.slice(colon + 1).trim();
    if (name === 'x-amz-trailer-signature') {
      this.verifyTrailerSignature(value);
    } else {
      this.trailerLines.push(`${name}:${value}`);
      this.trailers.set(name, value);
    }
  }

  private trailerSignatureSeen = false;

  private verifyTrailerSignature(value: string): void {
    const signing = this.options.signing;
    if (signing === undefined) throw this.framing('x-amz-trailer-signature in an unsigned upload');
    const text = this.trailerLines.map((l) => `${l}\n`).join('');
    const expected = signatureHex(signing.signingKey, trailerStringToSign(signing.amzDate, signing.scope, this.previousSignature, text));
    if (!signaturesEqual(expected, value)) throw new S3Error('SignatureDoesNotMatch', 'The trailer signature we calculated does not match the x-amz-trailer-signature you provided.');
    this.trailerSignatureSeen = true;
  }

  private finishTrailer(): void {
    if (this.options.signing !== undefined && this.options.trailer && this.trailerLines.length > 0 && !this.trailerSignatureSeen) {
      throw this.framing('signed trailing headers without x-amz-trailer-signature');
    }
  }

  private framing(why: string): S3Error {
    return new S3Error('IncompleteBody', `Malformed aws-chunked body: ${why}`);
  }
}

/** Builds an aws-chunked body (for tests and tools): unsigned, data chunks of `chunkSize`, optional trailers. */
export function encodeAwsChunkedUnsigned(data: Buffer, chunkSize: number, trailers: Record<string, string> = {}): Buffer {
  const parts: Buffer[] = [];
  for (let off = 0; off < data.length; off += chunkSize) {
    const c = data.subarray(off, off + chunkSize);
    parts.push(Buffer.from(`${c.length.toString(16)}\r\n`), c, CRLF);
  }
  parts.push(Buffer.from('0\r\n'));
  for (const [k, v] of Object.entries(trailers)) parts.push(Buffer.from(`${k}:${v}\r\n`));
  parts.push(CRLF);
  return Buffer.concat(parts);
}
