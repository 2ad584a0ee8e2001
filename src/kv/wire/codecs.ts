/**
 * Hand-written protobuf encoders and decoders for the KV messages every request carries (Put, Get,
 * Replicate, Read and the KvVersion/KvEntry/ReadResult inside them). @bufbuild/protobuf's reflective
 * toBinary/fromBinary/create walk the message descriptor field by field; for these small messages that
 * walk was the larger part of a node's protobuf time. The bytes are exactly toBinary's (fields in number
 * order, proto3 defaults omitted), and a decoded message equals fromBinary's (test/kv/codecs.test.ts
 * checks both against the generated codecs, so they cannot drift apart).
 *
 * Anything unusual goes to the generic codecs, so answers and errors stay theirs: `encode` and `decode`
 * return undefined for a message with unknown fields, a negative or unsafe 64-bit integer, a field
 * with an unexpected wire type, a repeated sub-message field, invalid UTF-8, or malformed bytes.
 */
import type { DescMessage } from '@bufbuild/protobuf';
import { PROTO_FALLBACK, ProtoReader } from '../../core/proto-reader.js';
import {
  type Consistency,
  GetRequestSchema,
  GetResponseSchema,
  KvEntrySchema,
  KvVersionSchema,
  PutRequestSchema,
  PutResponseSchema,
  ReadRequestSchema,
  ReadResponseSchema,
  ReadResultSchema,
  ReplicateRequestSchema,
  ReplicateResponseSchema,
  type GetRequest,
  type GetResponse,
  type KvEntry,
  type KvVersion,
  type PutRequest,
  type PutResponse,
  type ReadRequest,
  type ReadResponse,
  type ReadResult,
  type ReplicateRequest,
  type ReplicateResponse,
} from '../../gen/flotilla/v1/kv_pb.js';

/** A message's encoder and decoder; undefined from either means "use the generic codec". */
export interface MessageCodec {
  encode(message: object): Uint8Array | undefined;
  decode(bytes: Uint8Array): object | undefined;
}

// ---------------------------------------------------------------------------------------------------
// Encoding: size first, then write into one buffer. Messages arrive as created messages or as
// init objects (fields may be missing: their defaults).

type Init<T> = { [K in keyof T]?: T[K] | undefined };

const EMPTY = new Uint8Array(0);

/** Thrown inside an encoder or decoder to fall back to the generic codec. */
const FALLBACK = PROTO_FALLBACK;

function varintSize(n: number): number {
  let size = 1;
  while (n >= 128) {
    n = Math.floor(n / 128);
    size++;
  }
  return size;
}

function bytesField(b: Uint8Array | undefined): number {
  return b === undefined || b.length === 0 ? 0 : 1 + varintSize(b.length) + b.length;
}

/** An int64/uint32 value as a safe non-negative number, or FALLBACK. */
function int64(v: bigint | undefined): number {
  if (v === undefined || v === 0n) return 0;
  if (v < 0n || v > 9007199254740991n) throw FALLBACK;
  return Number(v);
}

function uint32(v: number | undefined): number {
  if (v === undefined) return 0;
  if (!Number.isInteger(v) || v < 0 || v > 0xffffffff) throw FALLBACK;
  return v;
}

function noUnknown(m: object): void {
  const u = (m as { $unknown?: unknown[] }).$unknown;
  if (u !== undefined && u.length > 0) throw FALLBACK;
}

class Writer {
  pos = 0;
  readonly buf: Buffer;
  constructor(size: number) {
    this.buf = Buffer.allocUnsafe(size);
  }
  varint(n: number): void {
    const buf = this.buf;
    while (n >= 128) {
      buf[this.pos++] = (n % 128) | 128;
      n = Math.floor(n / 128);
    }
    buf[this.pos++] = n;
  }
  tag(field: number, wireType: number): void {
    this.buf[this.pos++] = (field << 3) | wireType; // every field number here is < 16
  }
  bytes(field: number, b: Uint8Array | undefined): void {
    if (b === undefined || b.length === 0) return;
    this.tag(field, 2);
    this.varint(b.length);
    this.buf.set(b, this.pos);
    this.pos += b.length;
  }
  uint(field: number, n: number): void {
    if (n === 0) return;
    this.tag(field, 0);
    this.varint(n);
  }
  bool(field: number, b: boolean | undefined): void {
    if (b !== true) return;
    this.tag(field, 0);
    this.buf[this.pos++] = 1;
  }
  /** A string already measured (`len` bytes of UTF-8). */
  string(field: number, s: string, len: number): void {
    if (len === 0) return;
    this.tag(field, 2);
    this.varint(len);
    this.pos += this.buf.write(s, this.pos, len, 'utf8');
  }
  /** A sub-message's tag and length; its fields follow. */
  sub(field: number, len: number): void {
    this.tag(field, 2);
    this.varint(len);
  }
}

/** A measured KvVersion: its fields as numbers and its encoded size. */
interface VersionSize {
  wallMs: number;
  logical: number;
  nodeLen: number;
  node: string;
  size: number;
}

function measureVersion(v: Init<KvVersion>): VersionSize {
  noUnknown(v);
  const wallMs = int64(v.wallMs);
  const logical = uint32(v.logical);
  const node = v.node ?? '';
  const nodeLen = node.length === 0 ? 0 : Buffer.byteLength(node, 'utf8');
  const size = (wallMs === 0 ? 0 : 1 + varintSize(wallMs)) + (logical === 0 ? 0 : 1 + varintSize(logical)) + (nodeLen === 0 ? 0 : 1 + varintSize(nodeLen) + nodeLen);
  return { wallMs, logical, nodeLen, node, size };
}

function writeVersion(w: Writer, field: number, v: VersionSize): void {
  w.sub(field, v.size);
  w.uint(1, v.wallMs);
  w.uint(2, v.logical);
  w.string(3, v.node, v.nodeLen);
}

interface EntrySize {
  e: Init<KvEntry>;
  version: VersionSize | undefined;
  expires: number;
  size: number;
}

function measureEntry(e: Init<KvEntry>): EntrySize {
  noUnknown(e);
  const version = e.version === undefined ? undefined : measureVersion(e.version);
  const expires = int64(e.expiresAtMs);
  const size =
    bytesField(e.key) +
    bytesField(e.value) +
    (version === undefined ? 0 : 1 + varintSize(version.size) + version.size) +
    (e.tombstone === true ? 2 : 0) +
    (expires === 0 ? 0 : 1 + varintSize(expires));
  return { e, version, expires, size };
}

function writeEntry(w: Writer, m: EntrySize): void {
  w.bytes(1, m.e.key);
  w.bytes(2, m.e.value);
  if (m.version !== undefined) writeVersion(w, 3, m.version);
  w.bool(4, m.e.tombstone);
  w.uint(5, m.expires);
}

function encoder<T>(fn: (m: Init<T>) => Uint8Array): (m: object) => Uint8Array | undefined {
  return (m) => {
    try {
      return fn(m);
    } catch (err) {
      if (err === FALLBACK) return undefined;
      throw err;
    }
  };
}

const encodePutRequest = encoder<PutRequest>((m) => {
  noUnknown(m);
  const ttl = int64(m.ttlMs);
  const consistency = uint32(m.consistency);
  const replicas = uint32(m.replicas);
  const w = new Writer(bytesField(m.key) + bytesField(m.value) + (ttl === 0 ? 0 : 1 + varintSize(ttl)) + (consistency === 0 ? 0 : 1 + varintSize(consistency)) + (replicas === 0 ? 0 : 1 + varintSize(replicas)));
  w.bytes(1, m.key);
  w.bytes(2, m.value);
  w.uint(3, ttl);
  w.uint(4, consistency);
  w.uint(5, replicas);
  return w.buf;
});

const encodePutResponse = encoder<PutResponse>((m) => {
  noUnknown(m);
  const version = m.version === undefined ? undefined : measureVersion(m.version);
  const acks = uint32(m.acks);
  const w = new Writer((version === undefined ? 0 : 1 + varintSize(version.size) + version.size) + (acks === 0 ? 0 : 1 + varintSize(acks)));
  if (version !== undefined) writeVersion(w, 1, version);
  w.uint(2, acks);
  return w.buf;
});

const encodeGetRequest = encoder<GetRequest>((m) => {
  noUnknown(m);
  const consistency = uint32(m.consistency);
  const replicas = uint32(m.replicas);
  const w = new Writer(bytesField(m.key) + (consistency === 0 ? 0 : 1 + varintSize(consistency)) + (replicas === 0 ? 0 : 1 + varintSize(replicas)));
  w.bytes(1, m.key);
  w.uint(2, consistency);
  w.uint(3, replicas);
  return w.buf;
});

const encodeGetResponse = encoder<GetResponse>((m) => {
  noUnknown(m);
  const version = m.version === undefined ? undefined : measureVersion(m.version);
  const expires = int64(m.expiresAtMs);
  const answered = uint32(m.answered);
  const repaired = uint32(m.repaired);
  const w = new Writer(
    (m.found === true ? 2 : 0) +
      bytesField(m.value) +
      (version === undefined ? 0 : 1 + varintSize(version.size) + version.size) +
      (expires === 0 ? 0 : 1 + varintSize(expires)) +
      (answered === 0 ? 0 : 1 + varintSize(answered)) +
      (repaired === 0 ? 0 : 1 + varintSize(repaired)),
  );
  w.bool(1, m.found);
  w.bytes(2, m.value);
  if (version !== undefined) writeVersion(w, 3, version);
  w.uint(4, expires);
  w.uint(5, answered);
  w.uint(6, repaired);
  return w.buf;
});

const encodeReplicateRequest = encoder<ReplicateRequest>((m) => {
  noUnknown(m);
  const entries = (m.entries ?? []).map(measureEntry);
  const from = m.from ?? '';
  const fromLen = from.length === 0 ? 0 : Buffer.byteLength(from, 'utf8');
  let size = fromLen === 0 ? 0 : 1 + varintSize(fromLen) + fromLen;
  for (const e of entries) size += 1 + varintSize(e.size) + e.size;
  const w = new Writer(size);
  for (const e of entries) {
    w.sub(1, e.size);
    writeEntry(w, e);
  }
  w.string(2, from, fromLen);
  return w.buf;
});

const encodeReplicateResponse = encoder<ReplicateResponse>((m) => {
  noUnknown(m);
  const applied = uint32(m.applied);
  const w = new Writer(applied === 0 ? 0 : 1 + varintSize(applied));
  w.uint(1, applied);
  return w.buf;
});

const encodeReadRequest = encoder<ReadRequest>((m) => {
  noUnknown(m);
  const keys = m.keys ?? [];
  let size = 0;
  for (const k of keys) size += 1 + varintSize(k.length) + k.length;
  const w = new Writer(size);
  for (const k of keys) {
    // Every element of a repeated field is written, empty ones too.
    w.tag(1, 2);
    w.varint(k.length);
    w.buf.set(k, w.pos);
    w.pos += k.length;
  }
  return w.buf;
});

const encodeReadResponse = encoder<ReadResponse>((m) => {
  noUnknown(m);
  const results = (m.results ?? []).map((r: Init<ReadResult>) => {
    noUnknown(r);
    const entry = r.entry === undefined ? undefined : measureEntry(r.entry);
    const size = (r.found === true ? 2 : 0) + (entry === undefined ? 0 : 1 + varintSize(entry.size) + entry.size);
    return { found: r.found, entry, size };
  });
  let size = 0;
  for (const r of results) size += 1 + varintSize(r.size) + r.size;
  const w = new Writer(size);
  for (const r of results) {
    w.sub(1, r.size);
    w.bool(1, r.found);
    if (r.entry !== undefined) {
      w.sub(2, r.entry.size);
      writeEntry(w, r.entry);
    }
  }
  return w.buf;
});

// ---------------------------------------------------------------------------------------------------
// Decoding.

/** An enum value (int32 on the wire); a negative one (10-byte varint) is left to the generic codec. */
function enumValue(n: number): Consistency {
  if (n > 0x7fffffff) throw FALLBACK;
  return n;
}

function want(tag: number, wireType: number): void {
  if ((tag & 7) !== wireType) throw FALLBACK;
}

function decodeVersion(r: ProtoReader, end: number): KvVersion {
  const v: KvVersion = { $typeName: 'flotilla.v1.KvVersion', wallMs: 0n, logical: 0, node: '' };
  while (r.pos < end) {
    const tag = r.varint();
    switch (tag >>> 3) {
      case 1:
        want(tag, 0);
        v.wallMs = BigInt(r.varint());
        break;
      case 2:
        want(tag, 0);
        v.logical = r.uint32();
        break;
      case 3:
        want(tag, 2);
        v.node = r.string();
        break;
      default:
        throw FALLBACK;
    }
  }
  if (r.pos !== end) throw FALLBACK;
  return v;
}

function decodeEntry(r: ProtoReader, end: number): KvEntry {
  const e: KvEntry = { $typeName: 'flotilla.v1.KvEntry', key: EMPTY, value: EMPTY, tombstone: false, expiresAtMs: 0n };
  while (r.pos < end) {
    const tag = r.varint();
    switch (tag >>> 3) {
      case 1:
        want(tag, 2);
        e.key = r.bytes();
        break;
      case 2:
        want(tag, 2);
        e.value = r.bytes();
        break;
      case 3: {
        want(tag, 2);
        if (e.version !== undefined) throw FALLBACK; // a repeated sub-message merges: the generic codec does that
        e.version = decodeVersion(r, r.delimited());
        break;
      }
      case 4:
        want(tag, 0);
        e.tombstone = r.varint() !== 0;
        break;
      case 5:
        want(tag, 0);
        e.expiresAtMs = BigInt(r.varint());
        break;
      default:
        throw FALLBACK;
    }
  }
  if (r.pos !== end) throw FALLBACK;
  return e;
}

function decoder<T>(fn: (r: ProtoReader) => T): (bytes: Uint8Array) => T | undefined {
  return (bytes) => {
    try {
      return fn(new ProtoReader(bytes, 0, bytes.length));
    } catch (err) {
      if (err === FALLBACK) return undefined;
      throw err;
    }
  };
}

const decodePutRequest = decoder<PutRequest>((r) => {
  const m: PutRequest = { $typeName: 'flotilla.v1.PutRequest', key: EMPTY, value: EMPTY, ttlMs: 0n, consistency: 0, replicas: 0 };
  while (r.pos < r.end) {
    const tag = r.varint();
    switch (tag >>> 3) {
      case 1:
        want(tag, 2);
        m.key = r.bytes();
        break;
      case 2:
        want(tag, 2);
        m.value = r.bytes();
        break;
      case 3:
        want(tag, 0);
        m.ttlMs = BigInt(r.varint());
        break;
      case 4:
        want(tag, 0);
        m.consistency = enumValue(r.uint32());
        break;
      case 5:
        want(tag, 0);
        m.replicas = r.uint32();
        break;
      default:
        throw FALLBACK;
    }
  }
  return m;
});

const decodePutResponse = decoder<PutResponse>((r) => {
  const m: PutResponse = { $typeName: 'flotilla.v1.PutResponse', acks: 0 };
  while (r.pos < r.end) {
    const tag = r.varint();
    switch (tag >>> 3) {
      case 1:
        want(tag, 2);
        if (m.version !== undefined) throw FALLBACK;
        m.version = decodeVersion(r, r.delimited());
        break;
      case 2:
        want(tag, 0);
        m.acks = r.uint32();
        break;
      default:
        throw FALLBACK;
    }
  }
  return m;
});

const decodeGetRequest = decoder<GetRequest>((r) => {
  const m: GetRequest = { $typeName: 'flotilla.v1.GetRequest', key: EMPTY, consistency: 0, replicas: 0 };
  while (r.pos < r.end) {
    const tag = r.varint();
    switch (tag >>> 3) {
      case 1:
        want(tag, 2);
        m.key = r.bytes();
        break;
      case 2:
        want(tag, 0);
        m.consistency = enumValue(r.uint32());
        break;
      case 3:
        want(tag, 0);
        m.replicas = r.uint32();
        break;
      default:
        throw FALLBACK;
    }
  }
  return m;
});

const decodeGetResponse = decoder<GetResponse>((r) => {
  const m: GetResponse = { $typeName: 'flotilla.v1.GetResponse', found: false, value: EMPTY, expiresAtMs: 0n, answered: 0, repaired: 0 };
  while (r.pos < r.end) {
    const tag = r.varint();
    switch (tag >>> 3) {
      case 1:
        want(tag, 0);
        m.found = r.varint() !== 0;
        break;
      case 2:
        want(tag, 2);
        m.value = r.bytes();
        break;
      case 3:
        want(tag, 2);
        if (m.version !== undefined) throw FALLBACK;
        m.version = decodeVersion(r, r.delimited());
        break;
      case 4:
        want(tag, 0);
        m.expiresAtMs = BigInt(r.varint());
        break;
      case 5:
        want(tag, 0);
        m.answered = r.uint32();
        break;
      case 6:
        want(tag, 0);
        m.repaired = r.uint32();
        break;
      default:
        throw FALLBACK;
    }
  }
  return m;
});

const decodeReplicateRequest = decoder<ReplicateRequest>((r) => {
  const m: ReplicateRequest = { $typeName: 'flotilla.v1.ReplicateRequest', entries: [], from: '' };
  while (r.pos < r.end) {
    const tag = r.varint();
    switch (tag >>> 3) {
      case 1:
        want(tag, 2);
        m.entries.push(decodeEntry(r, r.delimited()));
        break;
      case 2:
        want(tag, 2);
        m.from = r.string();
        break;
      default:
        throw FALLBACK;
    }
  }
  return m;
});

const decodeReplicateResponse = decoder<ReplicateResponse>((r) => {
  const m: ReplicateResponse = { $typeName: 'flotilla.v1.ReplicateResponse', applied: 0 };
  while (r.pos < r.end) {
    const tag = r.varint();
    if (tag >>> 3 !== 1) throw FALLBACK;
    want(tag, 0);
    m.applied = r.uint32();
  }
  return m;
});

const decodeReadRequest = decoder<ReadRequest>((r) => {
  const m: ReadRequest = { $typeName: 'flotilla.v1.ReadRequest', keys: [] };
  while (r.pos < r.end) {
    const tag = r.varint();
    if (tag >>> 3 !== 1) throw FALLBACK;
    want(tag, 2);
    m.keys.push(r.bytes());
  }
  return m;
});

const decodeReadResponse = decoder<ReadResponse>((r) => {
  const m: ReadResponse = { $typeName: 'flotilla.v1.ReadResponse', results: [] };
  while (r.pos < r.end) {
    const tag = r.varint();
    if (tag >>> 3 !== 1) throw FALLBACK;
    want(tag, 2);
    const end = r.delimited();
    const res: ReadResult = { $typeName: 'flotilla.v1.ReadResult', found: false };
    while (r.pos < end) {
      const t = r.varint();
      switch (t >>> 3) {
        case 1:
          want(t, 0);
          res.found = r.varint() !== 0;
          break;
        case 2:
          want(t, 2);
          if (res.entry !== undefined) throw FALLBACK;
          res.entry = decodeEntry(r, r.delimited());
          break;
        default:
          throw FALLBACK;
      }
    }
    if (r.pos !== end) throw FALLBACK;
    m.results.push(res);
  }
  return m;
});

/** The hand-written codecs, by message type name. */
export const kvCodecs: ReadonlyMap<string, MessageCodec> = new Map<string, MessageCodec>([
  [PutRequestSchema.typeName, { encode: encodePutRequest, decode: decodePutRequest }],
  [PutResponseSchema.typeName, { encode: encodePutResponse, decode: decodePutResponse }],
  [GetRequestSchema.typeName, { encode: encodeGetRequest, decode: decodeGetRequest }],
  [GetResponseSchema.typeName, { encode: encodeGetResponse, decode: decodeGetResponse }],
  [ReplicateRequestSchema.typeName, { encode: encodeReplicateRequest, decode: decodeReplicateRequest }],
  [ReplicateResponseSchema.typeName, { encode: encodeReplicateResponse, decode: decodeReplicateResponse }],
  [ReadRequestSchema.typeName, { encode: encodeReadRequest, decode: decodeReadRequest }],
  [ReadResponseSchema.typeName, { encode: encodeReadResponse, decode: decodeReadResponse }],
]);

/** The schemas of the sub-messages the codecs above write and read (for the round-trip tests). */
export const kvCodecSubMessages: readonly DescMessage[] = [KvVersionSchema, KvEntrySchema, ReadResultSchema];
