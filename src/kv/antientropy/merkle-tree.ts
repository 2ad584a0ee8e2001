/**
 * Merkle trees over the 32-bit key-hash space, and the exchange that finds where two replicas differ.
 *
 * The tree is a complete binary tree of `depth` levels below the root, stored as a heap (the root is id
 * 1, the children of i are 2i and 2i+1; the node at level L, index j is (1 << L) + j). Leaf j covers the
 * key hashes [j << (32 - depth), (j + 1) << (32 - depth)), so a ring partition of partPower <= depth is
 * exactly one node of the tree (level partPower, index partition) and its subtree.
 *
 * A node's digest is the XOR of the 64-bit digests of every entry (key, version, tombstone, expiry)
 * under it. XOR makes an update O(depth): a write XORs the old entry's digest out and the new one in along
 * one path. Two replicas holding the same entries in a range have the same digest there; a difference in
 * a single entry changes every node on its path, so the exchange below descends only along differing
 * nodes: O(depth) = O(log n) digests for one differing key when depth ~ log2(n).
 */
import { hash } from 'node:crypto';
import { Code, FlotillaError } from '../../core/errors.js';
import type { Entry } from '../types.js';

export const MIN_TREE_DEPTH = 1;
export const MAX_TREE_DEPTH = 24;
const TWO_32 = 2 ** 32;

export class MerkleTree {
  readonly depth: number;
  readonly #hi: Uint32Array;
  readonly #lo: Uint32Array;

  constructor(depth: number) {
    if (!Number.isInteger(depth) || depth < MIN_TREE_DEPTH || depth > MAX_TREE_DEPTH) {
      throw new FlotillaError(Code.INVALID_ARGUMENT, `Merkle tree depth must be an integer from ${MIN_TREE_DEPTH} to ${MAX_TREE_DEPTH}, got ${depth}`);
    }
    this.depth = depth;
    this.#hi = new Uint32Array(2 ** (depth + 1));
    this.#lo = new Uint32Array(2 ** (depth + 1));
  }

  /** Number of node ids (ids are 1 .. size - 1). */
  get size(): number {
    return this.#hi.length;
  }

  /** XORs an entry digest into the leaf of `hash32` and every ancestor (adds it, or removes it again). */
  toggle(hash32: number, digestHi: number, digestLo: number): void {
    let id = 2 ** this.depth + Math.floor((hash32 >>> 0) / 2 ** (32 - this.depth));
    while (id >= 1) {
      this.#hi[id] = (this.#hi[id] as number) ^ digestHi;
      this.#lo[id] = (this.#lo[id] as number) ^ digestLo;
      id = Math.floor(id / 2);
    }
  }

  /** The digest of node `id` as [high, low]. */
  digest(id: number): [number, number] {
    this.#check(id);
    return [this.#hi[id] as number, this.#lo[id] as number];
  }

  /** Digests of several nodes, two words each, in order. */
  digests(ids: readonly number[]): Uint32Array {
    const out = new Uint32Array(ids.length * 2);
    ids.forEach((id, i) => {
      this.#check(id);
      out[2 * i] = this.#hi[id] as number;
      out[2 * i + 1] = this.#lo[id] as number;
    });
    return out;
  }

  isLeaf(id: number): boolean {
    return levelOf(id) === this.depth;
  }

  #check(id: number): void {
    if (!Number.isInteger(id) || id < 1 || id >= this.#hi.length) {
      throw new FlotillaError(Code.INVALID_ARGUMENT, `Merkle node id ${id} is out of range 1..${this.#hi.length - 1}`);
    }
  }
}

/** The level of a node id (the root is level 0). */
export function levelOf(id: number): number {
  return Math.floor(Math.log2(id));
}

/** The key-hash range [start, end) a node covers; end may be 2^32. */
export function nodeRange(id: number): [number, number] {
  const level = levelOf(id);
  const index = id - 2 ** level;
  const width = TWO_32 / 2 ** level;
  return [index * width, (index + 1) * width];
}

/**
 * The node of a tree of `depth` whose subtree covers partition `partition` of a ring with `partPower`:
 * the partition's own node when partPower <= depth, else the leaf that contains it.
 */
export function nodeForPartition(partition: number, partPower: number, depth: number): number {
  if (partPower <= depth) return 2 ** partPower + partition;
  return 2 ** depth + Math.floor(partition / 2 ** (partPower - depth));
}

/** The key-hash range of a ring partition. */
export function partitionRange(partition: number, partPower: number): [number, number] {
  const width = TWO_32 / 2 ** partPower;
  return [partition * width, (partition + 1) * width];
}

/** The 32-bit hash that places a key (the same as the ring's partitionForKey: MD5, first 4 bytes, big-endian). */
export function keyHash32(key: Uint8Array): number {
  return hash('md5', key, 'buffer').readUInt32BE(0);
}

/** The 64-bit digest of an entry's identity: key, version, tombstone flag and expiry (not the value). */
export function entryDigest(e: Pick<Entry, 'key' | 'version' | 'tombstone' | 'expiresAtMs'>): [number, number] {
  const nodeLen = Buffer.byteLength(e.version.node);
  const b = Buffer.allocUnsafe(e.key.length + 21 + nodeLen);
  b.set(e.key, 0);
  let o = e.key.length;
  b[o] = e.tombstone ? 1 : 0;
  b.writeDoubleBE(e.version.wallMs, o + 1);
  b.writeUInt32BE(e.version.logical, o + 9);
  b.writeDoubleBE(e.expiresAtMs, o + 13);
  o += 21;
  b.write(e.version.node, o, 'utf8');
  const d = hash('md5', b, 'buffer');
  return [d.readUInt32BE(0), d.readUInt32BE(4)];
}

export interface TreeDiff {
  /** Ids of the leaves whose digests differ. */
  leaves: number[];
  /** How many node digests were fetched from the remote tree in all. */
  nodesExchanged: number;
  /** Round trips made. */
  rounds: number;
}

/**
 * Compares `local` with a remote tree of the same depth, starting at `roots`, one round trip per level:
 * fetches the remote digests of the current frontier, keeps the nodes that differ, and descends into
 * their children until the leaves. `fetchRemote` returns two words (high, low) per id, in order.
 */
export async function findDifferingLeaves(
  local: MerkleTree,
  roots: readonly number[],
  fetchRemote: (ids: number[]) => Promise<ArrayLike<number>>,
): Promise<TreeDiff> {
  const leaves: number[] = [];
  let frontier = [...roots];
  let nodesExchanged = 0;
  let rounds = 0;
  // Each round goes one level down: at most depth + 1 rounds.
  while (frontier.length > 0 && rounds <= local.depth) {
    const remote = await fetchRemote(frontier);
    if (remote.length !== frontier.length * 2) {
      throw new FlotillaError(Code.INTERNAL, `remote tree answered ${remote.length} words for ${frontier.length} nodes`);
    }
    nodesExchanged += frontier.length;
    rounds++;
    const mine = local.digests(frontier);
    const next: number[] = [];
    frontier.forEach((id, i) => {
      if (mine[2 * i] === remote[2 * i] && mine[2 * i + 1] === remote[2 * i + 1]) return;
      if (local.isLeaf(id)) leaves.push(id);
      else next.push(2 * id, 2 * id + 1);
    });
    frontier = next;
  }
  return { leaves, nodesExchanged, rounds };
}
