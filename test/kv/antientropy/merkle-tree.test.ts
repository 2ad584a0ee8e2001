import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  MerkleTree,
  entryDigest,
  findDifferingLeaves,
  keyHash32,
  nodeForPartition,
  nodeRange,
  partitionRange,
} from '../../../src/kv/antientropy/merkle-tree.js';
import type { Entry } from '../../../src/kv/types.js';

function entry(i: number, logical = 0): Entry {
  return { key: Buffer.from(`key-${i}`), value: Buffer.alloc(0), version: { wallMs: 1_700_000_000_000 + i, logical, node: 'n1' }, tombstone: false, expiresAtMs: 0 };
}

describe('Merkle tree', () => {
  it('a single differing key among 1,000,000 is found by exchanging O(log n) tree nodes', async () => {
    const n = 1_000_000;
    const depth = Math.ceil(Math.log2(n)); // 20: about one key per leaf
    const a = new MerkleTree(depth);
    const b = new MerkleTree(depth);
    const hashes = new Uint32Array(n);
    for (let i = 0; i < n; i++) {
      const e = entry(i);
      const h = keyHash32(e.key);
      hashes[i] = h;
      const [hi, lo] = entryDigest(e);
      a.toggle(h, hi, lo);
      b.toggle(h, hi, lo);
    }
    assert.deepEqual(a.digest(1), b.digest(1));
    // Replica b holds a newer version of one key.
    const changed = 424_242;
    const [ohi, olo] = entryDigest(entry(changed));
    const [nhi, nlo] = entryDigest(entry(changed, 1));
    b.toggle(hashes[changed]!, ohi, olo);
    b.toggle(hashes[changed]!, nhi, nlo);

    let calls = 0;
    const diff = await findDifferingLeaves(a, [1], async (ids) => {
      calls++;
      return b.digests(ids);
    });
    assert.equal(diff.leaves.length, 1);
    const [start, end] = nodeRange(diff.leaves[0]!);
    assert.ok(hashes[changed]! >= start && hashes[changed]! < end, 'the differing leaf covers the changed key');
    // Two children per level below the root, plus the root: 2 * depth + 1 digests, one round per level.
    assert.equal(diff.nodesExchanged, 2 * depth + 1);
    assert.ok(diff.nodesExchanged <= 2 * Math.ceil(Math.log2(n)) + 1);
    assert.equal(calls, depth + 1);
  });

  it('equal trees exchange only their roots', async () => {
    const a = new MerkleTree(8);
    const b = new MerkleTree(8);
    for (let i = 0; i < 1000; i++) {
      const e = entry(i);
      const [hi, lo] = entryDigest(e);
      a.toggle(keyHash32(e.key), hi, lo);
      b.toggle(keyHash32(e.key), hi, lo);
    }
    const diff = await findDifferingLeaves(a, [1], async (ids) => b.digests(ids));
    assert.deepEqual(diff, { leaves: [], nodesExchanged: 1, rounds: 1 });
  });

  it('toggling a digest twice restores the tree (XOR), whatever the order of inserts', () => {
    const a = new MerkleTree(6);
    const b = new MerkleTree(6);
    const es = Array.from({ length: 200 }, (_, i) => entry(i));
    for (const e of es) a.toggle(keyHash32(e.key), ...entryDigest(e));
    for (const e of [...es].reverse()) b.toggle(keyHash32(e.key), ...entryDigest(e));
    assert.deepEqual(a.digests([1, 2, 3, 64, 127]), b.digests([1, 2, 3, 64, 127]));
    for (const e of es) a.toggle(keyHash32(e.key), ...entryDigest(e));
    assert.deepEqual(a.digest(1), [0, 0]);
  });

  it('partitions map to tree nodes whose ranges are the partition ranges', () => {
    assert.equal(nodeForPartition(5, 4, 16), 16 + 5);
    assert.deepEqual(nodeRange(16 + 5), partitionRange(5, 4));
    // A partPower deeper than the tree: the leaf that contains the partition.
    const leaf = nodeForPartition(1000, 12, 8);
    const [ls, le] = nodeRange(leaf);
    const [ps, pe] = partitionRange(1000, 12);
    assert.ok(ls <= ps && pe <= le);
    assert.deepEqual(nodeRange(1), [0, 2 ** 32]);
  });

  it('rejects bad depths and node ids', () => {
    assert.throws(() => new MerkleTree(0), /depth/);
    assert.throws(() => new MerkleTree(30), /depth/);
    assert.throws(() => new MerkleTree(4).digest(32), /out of range/);
  });
});
