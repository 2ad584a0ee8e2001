/**
 * Raw gRPC over HTTP/2 (h2c) for the gRPC fuzz run: any bytes as the request body (bad framing included),
 * any path and metadata, and the call's outcome as the server gave it (grpc-status from the headers of a
 * trailers-only answer or from the trailers), or the absence of one. Also random protobuf encodings built
 * from a message descriptor, field by field, so every field type and wire type gets exercised.
 */
import http2 from 'node:http2';
import { ScalarType, type DescField, type DescMessage } from '@bufbuild/protobuf';
import { BinaryWriter, WireType } from '@bufbuild/protobuf/wire';

/** One HTTP/2 session to an address, reopened when it fails or the server sends GOAWAY. */
export class H2Target {
  private session: http2.ClientHttp2Session | undefined;

  constructor(readonly address: string) {}

  open(): http2.ClientHttp2Session {
    const s = this.session;
    if (s !== undefined && !s.closed && !s.destroyed) return s;
    // Several multi-MiB requests may be in flight: without room for them, this client's own session
    // would refuse new streams (ENHANCE_YOUR_CALM), which is not the server's doing.
    const fresh = http2.connect(`http://${this.address}`, { maxSessionMemory: 256 });
    fresh.on('error', () => undefined);
    const drop = (): void => {
      if (this.session === fresh) this.session = undefined;
    };
    fresh.on('close', drop);
    fresh.on('goaway', drop);
    this.session = fresh;
    return fresh;
  }

  close(): void {
    this.session?.destroy();
    this.session = undefined;
  }
}

export type GrpcOutcome =
  | { kind: 'status'; status: number; message: string; httpStatus: number }
  | { kind: 'no-status'; httpStatus: number | undefined; why: string }
  | { kind: 'timeout' };

/** A gRPC length-prefixed message: flag byte, 4-byte big-endian length (declared, may lie), bytes. */
export function grpcFrame(message: Uint8Array, o: { compressed?: boolean; declaredLength?: number } = {}): Buffer {
  const head = Buffer.alloc(5);
  head[0] = o.compressed === true ? 1 : 0;
  head.writeUInt32BE(o.declaredLength ?? message.length, 1);
  return Buffer.concat([head, message]);
}

export interface GrpcCallOptions {
  path: string;
  body: Buffer;
  token?: string;
  deadlineMs: number;
  contentType?: string;
  headers?: Record<string, string>;
}

function decodeMessage(m: unknown): string {
  const s = Array.isArray(m) ? m.join(',') : typeof m === 'string' ? m : '';
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

/** One call: the body is written as is and the stream ended; resolves with how the server ended it. */
export function grpcCall(target: H2Target, o: GrpcCallOptions): Promise<GrpcOutcome> {
  return new Promise((resolve) => {
    let settled = false;
    let httpStatus: number | undefined;
    let status: { status: number; message: string } | undefined;
    let stream: http2.ClientHttp2Stream;
    const settle = (out: GrpcOutcome): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (!stream.closed) stream.close(http2.constants.NGHTTP2_CANCEL);
      resolve(out);
    };
    const timer = setTimeout(() => settle({ kind: 'timeout' }), o.deadlineMs);
    try {
      stream = target.open().request({
        ':method': 'POST',
        ':path': o.path,
        'content-type': o.contentType ?? 'application/grpc',
        te: 'trailers',
        'grpc-timeout': `${Math.max(1, Math.floor(o.deadlineMs / 2))}m`,
        ...(o.token !== undefined ? { authorization: `Bearer ${o.token}` } : {}),
        ...o.headers,
      });
    } catch (err) {
      clearTimeout(timer);
      resolve({ kind: 'no-status', httpStatus: undefined, why: `cannot open a stream: ${(err as Error).message}` });
      return;
    }
    // The call is over once the status arrives (trailers, or a trailers-only answer), as a gRPC client
    // sees it, even if the server has not read the rest of a request it refused (an oversized message).
    const take = (h: http2.IncomingHttpHeaders): void => {
      if (h[':status'] !== undefined) httpStatus = Number(h[':status']);
      if (h['grpc-status'] !== undefined) {
        status = { status: Number(h['grpc-status']), message: decodeMessage(h['grpc-message']) };
        settle({ kind: 'status', ...status, httpStatus: httpStatus ?? 0 });
      }
    };
    stream.on('response', take);
    stream.on('trailers', take);
    stream.on('data', () => undefined);
    stream.on('error', () => undefined);
    stream.on('close', () => {
      if (status !== undefined) settle({ kind: 'status', ...status, httpStatus: httpStatus ?? 0 });
      else settle({ kind: 'no-status', httpStatus, why: `stream closed (RST code ${stream.rstCode ?? 'none'})` });
    });
    stream.end(o.body);
  });
}

/** A small deterministic random source (mulberry32). */
export class Rng {
  private s: number;
  constructor(seed: number) {
    this.s = seed >>> 0;
  }
  next(): number {
    this.s = (this.s + 0x6d2b79f5) >>> 0;
    let t = this.s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  }
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  pick<T>(a: readonly T[]): T {
    return a[this.int(a.length)]!;
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
  bytes(max: number): Uint8Array {
    return Uint8Array.from({ length: this.int(max + 1) }, () => this.int(256));
  }
}

const STRINGS = ['', 'x', 'fuzz', 'node-a', 'fuzz-node', '/flotilla/', '\u0000', '..', '../../etc/passwd', '☃𝄞', 'a'.repeat(300), 'a'.repeat(70_000), '\uFFFF', 'ping', 'set_interval', '{"interval":0}', '{', 'kv', 'objects-replicated-1'];
const INT64 = [0n, 1n, -1n, 2n ** 31n - 1n, -(2n ** 31n), 2n ** 63n - 1n, -(2n ** 63n), 1000n, 86_400_000n];
const UINT64 = [0n, 1n, 2n ** 32n, 2n ** 64n - 1n, 1000n];
const INT32 = [0, 1, -1, 2 ** 31 - 1, -(2 ** 31), 5, 100];
const DOUBLES = [0, -0, 1.5, -1, Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, 1e308, 5e-324];

function writeScalar(w: BinaryWriter, no: number, t: ScalarType, r: Rng): void {
  switch (t) {
    case ScalarType.DOUBLE:
      w.tag(no, WireType.Bit64).double(r.pick(DOUBLES));
      return;
    case ScalarType.FLOAT:
      w.tag(no, WireType.Bit32).float(r.pick([0, 1.5, -1, 3.4e38]));
      return;
    case ScalarType.INT64:
    case ScalarType.SFIXED64:
    case ScalarType.SINT64: {
      const v = r.pick(INT64);
      if (t === ScalarType.INT64) w.tag(no, WireType.Varint).int64(v);
      else if (t === ScalarType.SINT64) w.tag(no, WireType.Varint).sint64(v);
      else w.tag(no, WireType.Bit64).sfixed64(v);
      return;
    }
    case ScalarType.UINT64:
    case ScalarType.FIXED64: {
      const v = r.pick(UINT64);
      if (t === ScalarType.UINT64) w.tag(no, WireType.Varint).uint64(v);
      else w.tag(no, WireType.Bit64).fixed64(v);
      return;
    }
    case ScalarType.INT32:
      w.tag(no, WireType.Varint).int32(r.pick(INT32));
      return;
    case ScalarType.SINT32:
      w.tag(no, WireType.Varint).sint32(r.pick(INT32));
      return;
    case ScalarType.SFIXED32:
      w.tag(no, WireType.Bit32).sfixed32(r.pick(INT32));
      return;
    case ScalarType.UINT32:
      w.tag(no, WireType.Varint).uint32(r.pick([0, 1, 2 ** 32 - 1, 7]));
      return;
    case ScalarType.FIXED32:
      w.tag(no, WireType.Bit32).fixed32(r.pick([0, 1, 2 ** 32 - 1]));
      return;
    case ScalarType.BOOL:
      w.tag(no, WireType.Varint).bool(r.chance(0.5));
      return;
    case ScalarType.STRING:
      // Now and then invalid UTF-8 under a string field.
      if (r.chance(0.1)) w.tag(no, WireType.LengthDelimited).bytes(Uint8Array.from([0xc3, 0x28, 0xff, 0xed, 0xa0, 0x80]));
      else w.tag(no, WireType.LengthDelimited).string(r.chance(0.8) ? r.pick(STRINGS) : String.fromCharCode(...r.bytes(20)));
      return;
    case ScalarType.BYTES:
      w.tag(no, WireType.LengthDelimited).bytes(r.chance(0.9) ? r.bytes(64) : new Uint8Array(100_000));
      return;
  }
}

function writeField(w: BinaryWriter, f: DescField, r: Rng, depth: number): void {
  const no = f.number;
  const enumValue = (): number => (r.chance(0.8) && f.enum !== undefined && f.enum.values.length > 0 ? r.pick(f.enum.values).number : r.pick(INT32));
  const sub = (m: DescMessage): Uint8Array => (depth > 4 ? new Uint8Array(0) : randomMessage(m, r, depth + 1));
  switch (f.fieldKind) {
    case 'scalar':
      writeScalar(w, no, f.scalar, r);
      return;
    case 'enum':
      w.tag(no, WireType.Varint).int32(enumValue());
      return;
    case 'message':
      w.tag(no, WireType.LengthDelimited).bytes(sub(f.message));
      return;
    case 'list': {
      // Now and then a long list, only at the top level (nested long lists multiply).
      const n = r.int(depth === 0 && r.chance(0.05) ? 500 : 4);
      for (let i = 0; i < n; i++) {
        if (f.listKind === 'scalar') writeScalar(w, no, f.scalar, r);
        else if (f.listKind === 'enum') w.tag(no, WireType.Varint).int32(enumValue());
        else w.tag(no, WireType.LengthDelimited).bytes(sub(f.message));
      }
      return;
    }
    case 'map': {
      const n = r.int(4);
      for (let i = 0; i < n; i++) {
        const entry = new BinaryWriter();
        writeScalar(entry, 1, f.mapKey, r);
        if (f.mapKind === 'scalar') writeScalar(entry, 2, f.scalar, r);
        else if (f.mapKind === 'enum') entry.tag(2, WireType.Varint).int32(r.pick(INT32));
        else entry.tag(2, WireType.LengthDelimited).bytes(sub(f.message));
        w.tag(no, WireType.LengthDelimited).bytes(entry.finish());
      }
      return;
    }
  }
}

/** Largest random message made (a fuzzed message is not a load test). */
const MAX_MESSAGE_BYTES = 512 * 1024;

/** A random, well-formed encoding of `desc`: each field present or not, values from hostile pools. */
export function randomMessage(desc: DescMessage, r: Rng, depth = 0): Uint8Array {
  const w = new BinaryWriter();
  for (const f of desc.fields) {
    if (!r.chance(0.6)) continue;
    const field = new BinaryWriter();
    writeField(field, f, r, depth);
    const bytes = field.finish();
    if (bytes.length <= MAX_MESSAGE_BYTES / (depth + 1)) w.raw(bytes);
  }
  return w.finish();
}

/** Byte-level damage to an encoded message: flips, truncation, insertion, wrong wire types, huge lengths. */
export function mutateMessage(bytes: Uint8Array, r: Rng): Uint8Array {
  const b = Buffer.from(bytes);
  switch (r.int(7)) {
    case 0: {
      for (let i = 0, n = 1 + r.int(4); i < n && b.length > 0; i++) b[r.int(b.length)] = r.int(256);
      return b;
    }
    case 1:
      return b.subarray(0, r.int(b.length + 1));
    case 2: {
      const at = r.int(b.length + 1);
      return Buffer.concat([b.subarray(0, at), r.bytes(16), b.subarray(at)]);
    }
    case 3: {
      // A tag with another wire type (3 and 4 are the deprecated groups, 6 and 7 do not exist).
      if (b.length === 0) return Buffer.from([0x0b]);
      b[0] = (b[0]! & ~7) | r.pick([1, 2, 3, 4, 5, 6, 7]);
      return b;
    }
    case 4:
      // A length-delimited field declaring far more bytes than follow.
      return Buffer.concat([b, Buffer.from([0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x01])]);
    case 5:
      // A field number beyond the limit, and a varint longer than ten bytes.
      return Buffer.concat([b, Buffer.from([0xf8, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x01]), Buffer.from([0x08, ...Array<number>(11).fill(0xff), 0x01])]);
    default:
      // Deeply nested length-delimited fields (field 1 inside field 1 ...).
      return nest(r.int(2) === 0 ? 200 : 5000);
  }
}

const nested = new Map<number, Uint8Array>();
function nest(depth: number): Uint8Array {
  const cached = nested.get(depth);
  if (cached !== undefined) return cached;
  let inner = new Uint8Array(0);
  for (let i = 0; i < depth; i++) {
    const w = new BinaryWriter();
    w.tag(1, WireType.LengthDelimited).bytes(inner);
    inner = w.finish();
  }
  nested.set(depth, inner);
  return inner;
}
