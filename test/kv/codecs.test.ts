/**
 * The hand-written codecs of the hot KV messages (src/kv/wire/codecs.ts) against the generated
 * @bufbuild/protobuf codecs: the same bytes out, equal messages in, for fixed cases and for random
 * messages; and the generic codec is used for what they decline (unknown fields, negative int64s, wrong
 * wire types, truncated input), so bad input is answered as before.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { create, equals, fromBinary, toBinary, type DescMessage, type MessageInitShape } from '@bufbuild/protobuf';
import {
  Consistency,
  GetRequestSchema,
  GetResponseSchema,
  KvEntrySchema,
  PutRequestSchema,
  PutResponseSchema,
  ReadRequestSchema,
  ReadResponseSchema,
  ReplicateRequestSchema,
  ReplicateResponseSchema,
} from '../../src/gen/flotilla/v1/kv_pb.js';
import { kvCodecs } from '../../src/kv/wire/codecs.js';

/** A deterministic pseudo-random generator (the test is repeatable). */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

function sample(rand: () => number) {
  const int = (max: number): number => Math.floor(rand() * max);
  const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)] as T;
  const bytes = (): Uint8Array => (rand() < 0.15 ? new Uint8Array(0) : Uint8Array.from({ length: pick([1, 5, 100, 127, 128, 300, 20_000]) }, () => int(256)));
  const big = (): bigint => pick([0n, 1n, 127n, 128n, BigInt(Date.now()), 9007199254740991n, BigInt(int(2 ** 31))]);
  const u32 = (): number => pick([0, 1, 127, 128, 16_383, 16_384, 0xffffffff, int(2 ** 32)]);
  const str = (): string => pick(['', 'node-a', 'nœud-é', '節點', 'x'.repeat(200)]);
  const version = () => (rand() < 0.2 ? undefined : { wallMs: big(), logical: u32(), node: str() });
  const entry = () => ({ key: bytes(), value: bytes(), version: version(), tombstone: rand() < 0.3, expiresAtMs: big() });
  const consistency = (): Consistency => pick([Consistency.UNSPECIFIED, Consistency.ONE, Consistency.QUORUM, Consistency.ALL]);
  const list = <T>(f: () => T): T[] => Array.from({ length: pick([0, 1, 2, 7, 130]) }, f);
  const cases: Array<[DescMessage, MessageInitShape<DescMessage>]> = [
    [PutRequestSchema, { key: bytes(), value: bytes(), ttlMs: big(), consistency: consistency(), replicas: u32() }],
    [PutResponseSchema, { version: version(), acks: u32() }],
    [GetRequestSchema, { key: bytes(), consistency: consistency(), replicas: u32() }],
    [GetResponseSchema, { found: rand() < 0.5, value: bytes(), version: version(), expiresAtMs: big(), answered: u32(), repaired: u32() }],
    [ReplicateRequestSchema, { entries: list(entry), from: str() }],
    [ReplicateResponseSchema, { applied: u32() }],
    [ReadRequestSchema, { keys: list(bytes) }],
    [ReadResponseSchema, { results: list(() => (rand() < 0.3 ? { found: false } : { found: true, entry: entry() })) }],
  ];
  return cases;
}

function codec(desc: DescMessage) {
  const c = kvCodecs.get(desc.typeName);
  assert.ok(c !== undefined, `no hand codec for ${desc.typeName}`);
  return c;
}

describe('hand-written KV codecs', () => {
  it('cover every hot message, and give the generated codecs\' bytes and messages (fixed and random cases)', () => {
    const seen = new Set<string>();
    const rand = rng(42);
    for (let round = 0; round < 60; round++) {
      for (const [desc, init] of sample(rand)) {
        seen.add(desc.typeName);
        const message = create(desc, init);
        const c = codec(desc);
        const expected = toBinary(desc, message);
        // Encoding a created message and the plain init object gives toBinary's bytes.
        assert.deepEqual(Buffer.from(c.encode(message) ?? []), Buffer.from(expected), `${desc.typeName} encode (round ${round})`);
        assert.deepEqual(Buffer.from(c.encode(init as object) ?? []), Buffer.from(expected), `${desc.typeName} encode of an init object`);
        const decoded = c.decode(expected);
        assert.ok(decoded !== undefined, `${desc.typeName} decode declined valid bytes`);
        const generic = fromBinary(desc, expected);
        assert.ok(equals(desc, decoded as never, generic), `${desc.typeName} decode (round ${round})`);
        assert.deepStrictEqual(decoded, generic);
      }
    }
    assert.deepEqual([...seen].sort(), [...kvCodecs.keys()].sort());
  });

  it('decode what other encoders may write: fields out of order, a repeated scalar (last wins)', () => {
    const c = codec(GetRequestSchema);
    // replicas=3 (field 3), key "k" (field 1), replicas=5 again: protobuf says the last value wins.
    const bytes = Uint8Array.from([0x18, 3, 0x0a, 1, 0x6b, 0x18, 5]);
    assert.ok(equals(GetRequestSchema, c.decode(bytes) as never, fromBinary(GetRequestSchema, bytes)));
    assert.equal((c.decode(bytes) as { replicas: number }).replicas, 5);
  });

  it('decline what the generic codecs must answer: unknown fields, negative or huge int64, wrong wire types, truncation, bad UTF-8', () => {
    const put = codec(PutRequestSchema);
    const valid = toBinary(PutRequestSchema, create(PutRequestSchema, { key: Buffer.from('k'), value: Buffer.from('v') }));
    // An unknown field (number 9, varint): the generic codec keeps it in $unknown.
    assert.equal(put.decode(Uint8Array.from([...valid, 0x48, 1])), undefined);
    // Field 1 with the varint wire type.
    assert.equal(put.decode(Uint8Array.from([0x08, 1])), undefined);
    // A length past the end: the generic codec throws its own error for it.
    const truncated = valid.subarray(0, valid.length - 1);
    assert.equal(put.decode(truncated), undefined);
    assert.throws(() => fromBinary(PutRequestSchema, truncated));
    // A negative TTL is encoded by the generic codec (10-byte varint) and decoded by it.
    const negative = create(PutRequestSchema, { key: Buffer.from('k'), ttlMs: -5n });
    assert.equal(put.encode(negative), undefined);
    assert.equal(put.decode(toBinary(PutRequestSchema, negative)), undefined);
    // An int64 past 2^53.
    assert.equal(put.encode(create(PutRequestSchema, { ttlMs: 2n ** 60n })), undefined);
    // A message that carries unknown fields is re-encoded by the generic codec, which keeps them.
    assert.equal(put.encode(fromBinary(PutRequestSchema, Uint8Array.from([...valid, 0x48, 1]))), undefined);
    // A node name that is not UTF-8.
    const entry = codec(ReplicateRequestSchema);
    const badUtf8 = Uint8Array.from([0x12, 2, 0xc3, 0x28]);
    assert.equal(entry.decode(badUtf8), undefined);
    // A sub-message given twice is merged by protobuf: left to the generic codec.
    const v = toBinary(KvEntrySchema, create(KvEntrySchema, { version: { wallMs: 1n } }));
    const twice = Uint8Array.from([0x0a, v.length * 2, ...v, ...v]);
    assert.equal(entry.decode(twice), undefined);
    assert.equal(fromBinary(ReplicateRequestSchema, twice).entries.length, 1);
  });
});
