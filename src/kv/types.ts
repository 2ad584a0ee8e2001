/**
 * Domain types of the key-value store, shared by the engine, the replica service and the coordinator.
 * Wire (protobuf) types stay at the edges (replica/convert.ts).
 */
import type { HlcTimestamp } from '../core/hlc.js';

/** The version of a value: a hybrid-logical-clock timestamp carrying the writer's node name. */
export type Version = HlcTimestamp;

/** One key's state on a replica: a value or a tombstone, with its version. */
export interface Entry {
  /** The key's bytes (any binary, 1..MAX_KEY_BYTES). */
  key: Uint8Array;
  /** Empty for a tombstone. */
  value: Uint8Array;
  version: Version;
  tombstone: boolean;
  /** Expiry in ms since the epoch; 0 = never. */
  expiresAtMs: number;
}

/** Largest key, in bytes. */
export const MAX_KEY_BYTES = 1024;
/** Largest value, in bytes (1 MiB). */
export const MAX_VALUE_BYTES = 1024 * 1024;

/** Where a key lives: what the coordinator needs from the `kv` ring. */
export interface KvPlacement {
  /** The ring's version (0 when unknown). */
  readonly version: number;
  /** N: replicas per partition. */
  readonly replicas: number;
  /** 2^partPower partitions; partition p covers key hashes [p << (32 - partPower), (p + 1) << (32 - partPower)). */
  readonly partPower: number;
  /** The partition of a key (the ring's partitionForKey). */
  partitionForKey(key: Uint8Array): number;
  /** Primary replica node names of a partition, in replica order. */
  primaries(partition: number): readonly string[];
  /** Nodes that stand in for a down primary, in the order to try. */
  handoffs(partition: number): readonly string[];
  /** Partitions this node holds as a primary. */
  partitionsOf(node: string): readonly number[];
  /** Every node of the ring. */
  nodes(): readonly string[];
}

/** Which nodes are up and how to reach them: what the coordinator needs from the membership view. */
export interface KvMembership {
  /** This node's name. */
  readonly self: string;
  /** Whether a node is believed up (ACTIVE as seen from here); self is always up. */
  isUp(node: string): boolean;
  /** The peer gRPC address (host:port) of a node, or undefined when unknown. */
  addressOf(node: string): string | undefined;
}
