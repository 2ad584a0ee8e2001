/**
 * Placement: from a key to its partition, and from a partition to the nodes that hold it (primaries)
 * or stand in for them (handoffs).
 *
 * The partition of a key is the top `partPower` bits of the first 4 bytes (big-endian) of the MD5
 * digest of the key's bytes (a string is hashed as UTF-8), as Swift does without its path salt. MD5 is
 * used for its spread and speed, not for security. This mapping is part of the storage format: changing
 * it would move every key.
 */
import { createHash } from 'node:crypto';
import { Code, FlotillaError } from '../../core/errors.js';
import type { Ring } from './ring.js';
import { hashString32, tieScore } from './replica-plan.js';

/** The partition (0 .. 2^partPower - 1) a key belongs to. */
export function partitionForKey(ring: Ring, key: string | Uint8Array): number {
  if (typeof key !== 'string' && !(key instanceof Uint8Array)) {
    throw new FlotillaError(Code.INVALID_ARGUMENT, 'a ring key must be a string or a Uint8Array');
  }
  const digest = createHash('md5').update(key).digest();
  return digest.readUInt32BE(0) >>> (32 - ring.partPower);
}

/** The ids of the devices holding `partition`, in replica order (replica 0 first). */
export function primaryNodes(ring: Ring, partition: number): string[] {
  const out: string[] = [];
  for (let r = 0; r < ring.replicas; r++) out.push(ring.deviceIdAt(r, partition));
  return out;
}

export interface KeyPlacement {
  partition: number;
  /** The primary nodes, in replica order. */
  nodes: string[];
}

/** The partition of a key and its primary nodes. */
export function replicasForKey(ring: Ring, key: string | Uint8Array): KeyPlacement {
  const partition = partitionForKey(ring, key);
  return { partition, nodes: primaryNodes(ring, partition) };
}

const idHashes = new WeakMap<Ring, Uint32Array>();

function hashesOf(ring: Ring): Uint32Array {
  let h = idHashes.get(ring);
  if (h === undefined) {
    h = Uint32Array.from(ring.devices, (d) => hashString32(d.id));
    idHashes.set(ring, h);
  }
  return h;
}

/**
 * Every device that is not a primary of `partition`, in the order to try when a primary is down. Each
 * next handoff comes from the zone used least so far (counting the primaries and the handoffs before
 * it), so handoffs spread over zones the partition does not use yet; inside a zone, and between equally
 * used zones, devices are ranked by a hash of (device, partition), so different partitions hand off to
 * different devices. Devices of weight 0 come last. Deterministic for a given ring and partition.
 */
export function handoffNodes(ring: Ring, partition: number): string[] {
  const primaries = new Set<number>();
  const zoneUse = new Map<string, number>();
  for (let r = 0; r < ring.replicas; r++) {
    const d = ring.deviceIndexAt(r, partition);
    primaries.add(d);
    const zone = (ring.devices[d] as { zone: string }).zone;
    zoneUse.set(zone, (zoneUse.get(zone) ?? 0) + 1);
  }
  const hashes = hashesOf(ring);
  const score = (i: number): number => tieScore(hashes[i] as number, partition);
  const order: string[] = [];
  for (const draining of [false, true]) {
    // Per zone, the candidates best first.
    const queues = new Map<string, number[]>();
    ring.devices.forEach((d, i) => {
      if (primaries.has(i) || (d.weight === 0) !== draining) return;
      const q = queues.get(d.zone) ?? [];
      q.push(i);
      queues.set(d.zone, q);
    });
    for (const q of queues.values()) q.sort((a, b) => score(b) - score(a) || a - b);
    const heads = new Map<string, number>([...queues.keys()].map((z) => [z, 0]));
    for (;;) {
      let bestZone: string | undefined;
      let bestKey: [number, number, number] = [0, 0, 0];
      for (const [zone, q] of queues) {
        const head = heads.get(zone) as number;
        const i = q[head];
        if (i === undefined) continue;
        const key: [number, number, number] = [zoneUse.get(zone) ?? 0, -score(i), i];
        if (bestZone === undefined || key[0] < bestKey[0] || (key[0] === bestKey[0] && (key[1] < bestKey[1] || (key[1] === bestKey[1] && key[2] < bestKey[2])))) {
          bestZone = zone;
          bestKey = key;
        }
      }
      if (bestZone === undefined) break;
      order.push((ring.devices[bestKey[2]] as { id: string }).id);
      heads.set(bestZone, (heads.get(bestZone) as number) + 1);
      zoneUse.set(bestZone, (zoneUse.get(bestZone) ?? 0) + 1);
    }
  }
  return order;
}

export interface NodePartition {
  partition: number;
  replica: number;
}

/** The partitions a node holds, with the replica index it holds them as, by partition. */
export function partitionsForNode(ring: Ring, id: string): NodePartition[] {
  const d = ring.indexOfDevice(id);
  const out: NodePartition[] = [];
  if (d < 0) return out;
  for (let p = 0; p < ring.partitionCount; p++) {
    for (let r = 0; r < ring.replicas; r++) {
      if (ring.deviceIndexAt(r, p) === d) out.push({ partition: p, replica: r });
    }
  }
  return out;
}
