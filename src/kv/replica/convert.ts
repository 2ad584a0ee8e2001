/**
 * Conversions between the wire messages of kv.proto and the domain types, at the edge. The messages are
 * built as literals (what create() gives for these proto3 messages, without its reflective walk: they
 * are built for every KV request).
 */
import type { KvEntry, KvVersion } from '../../gen/flotilla/v1/kv_pb.js';
import type { Entry, Version } from '../types.js';

export function versionToProto(v: Version): KvVersion {
  return { $typeName: 'flotilla.v1.KvVersion', wallMs: BigInt(v.wallMs), logical: v.logical, node: v.node };
}

export function versionFromProto(v: KvVersion | undefined): Version {
  return v === undefined ? { wallMs: 0, logical: 0, node: '' } : { wallMs: Number(v.wallMs), logical: v.logical, node: v.node };
}

export function entryToProto(e: Entry): KvEntry {
  return {
    $typeName: 'flotilla.v1.KvEntry',
    key: e.key,
    value: e.value,
    version: versionToProto(e.version),
    tombstone: e.tombstone,
    expiresAtMs: BigInt(e.expiresAtMs),
  };
}

export function entryFromProto(m: KvEntry): Entry {
  return { key: m.key, value: m.tombstone ? new Uint8Array(0) : m.value, version: versionFromProto(m.version), tombstone: m.tombstone, expiresAtMs: Number(m.expiresAtMs) };
}
