/**
 * On-disk layout of a replica's engine (classic-level, all keys binary):
 *
 *   'd' + hash32 (4 bytes BE) + key  -> record: the key's current value or tombstone with its version
 *   'k' + key                        -> hash32 (4 bytes): the key index, for prefix scans in key order
 *   'h' + seq (8 bytes BE)           -> a hint: target node, then an encoded entry
 *
 * hash32 is the key's placement hash (MD5, first 4 bytes), so a ring partition, whatever its partPower,
 * is one contiguous range of 'd' keys: anti-entropy and range sync read partitions by range.
 *
 * Record: flags(1: bit 0 tombstone) wallMs(8, double) logical(4) expiresAtMs(8, double)
 *         appliedAtMs(8, double: when this replica stored it) nodeLen(1) node(utf-8) value.
 */
import type { Entry } from '../types.js';

export const D = 0x64;
export const K = 0x6b;
export const H = 0x68;
const HEAD = 29;

export function dataKey(hash32: number, key: Uint8Array): Buffer {
  const b = Buffer.allocUnsafe(5 + key.length);
  b[0] = D;
  b.writeUInt32BE(hash32 >>> 0, 1);
  b.set(key, 5);
  return b;
}

/** The first 'd' key at or after a hash (hash may be 2^32: the end of the data range). */
export function dataBound(hash: number): Buffer {
  if (hash >= 2 ** 32) return Buffer.of(D + 1);
  const b = Buffer.allocUnsafe(5);
  b[0] = D;
  b.writeUInt32BE(hash, 1);
  return b;
}

export function indexKey(key: Uint8Array): Buffer {
  const b = Buffer.allocUnsafe(1 + key.length);
  b[0] = K;
  b.set(key, 1);
  return b;
}

export function hashValue(hash32: number): Buffer {
  const b = Buffer.allocUnsafe(4);
  b.writeUInt32BE(hash32 >>> 0, 0);
  return b;
}

export interface StoredRecord {
  entry: Entry;
  /** When this replica stored the record (its wall clock, ms). */
  appliedAtMs: number;
}

export function encodeRecord(e: Entry, appliedAtMs: number): Buffer {
  const node = Buffer.from(e.version.node, 'utf8');
  const b = Buffer.allocUnsafe(HEAD + 1 + node.length + e.value.length);
  b[0] = e.tombstone ? 1 : 0;
  b.writeDoubleBE(e.version.wallMs, 1);
  b.writeUInt32BE(e.version.logical, 9);
  b.writeDoubleBE(e.expiresAtMs, 13);
  b.writeDoubleBE(appliedAtMs, 21);
  b[HEAD] = node.length;
  node.copy(b, HEAD + 1);
  b.set(e.value, HEAD + 1 + node.length);
  return b;
}

export function decodeRecord(key: Uint8Array, b: Buffer): StoredRecord {
  if (b.length < HEAD + 1) throw new Error('kv engine: malformed record');
  const nodeLen = b[HEAD] as number;
  if (HEAD + 1 + nodeLen > b.length) throw new Error('kv engine: malformed record');
  return {
    entry: {
      key,
      tombstone: ((b[0] as number) & 1) === 1,
      version: { wallMs: b.readDoubleBE(1), logical: b.readUInt32BE(9), node: b.toString('utf8', HEAD + 1, HEAD + 1 + nodeLen) },
      expiresAtMs: b.readDoubleBE(13),
      value: b.subarray(HEAD + 1 + nodeLen),
    },
    appliedAtMs: b.readDoubleBE(21),
  };
}

/** The user key inside a 'd' key. */
export function keyOfDataKey(k: Buffer): Buffer {
  return k.subarray(5);
}

export function hintKey(seq: bigint): Buffer {
  const b = Buffer.allocUnsafe(9);
  b[0] = H;
  b.writeBigUInt64BE(seq, 1);
  return b;
}

export function encodeHint(target: string, e: Entry): Buffer {
  const t = Buffer.from(target, 'utf8');
  const rec = encodeRecord(e, 0);
  const b = Buffer.allocUnsafe(1 + t.length + 4 + e.key.length + rec.length);
  b[0] = t.length;
  t.copy(b, 1);
  b.writeUInt32BE(e.key.length, 1 + t.length);
  b.set(e.key, 5 + t.length);
  rec.copy(b, 5 + t.length + e.key.length);
  return b;
}

export function decodeHint(b: Buffer): { target: string; entry: Entry } {
  const tl = b[0] as number;
  const target = b.toString('utf8', 1, 1 + tl);
  const kl = b.readUInt32BE(1 + tl);
  const key = Buffer.from(b.subarray(5 + tl, 5 + tl + kl));
  return { target, entry: decodeRecord(key, b.subarray(5 + tl + kl)).entry };
}
