/** The KvPlacement of a `kv` ring built by src/cluster's ring builder. */
import { handoffNodes, partitionForKey, partitionsForNode, primaryNodes, type Ring } from '../cluster/index.js';
import type { KvPlacement } from './types.js';

export function placementFromRing(ring: Ring): KvPlacement {
  const primaries = new Map<number, readonly string[]>();
  const handoffs = new Map<number, readonly string[]>();
  const owned = new Map<string, readonly number[]>();
  const nodes = ring.devices.map((d) => d.id);
  return {
    version: ring.version,
    replicas: ring.replicas,
    partPower: ring.partPower,
    partitionForKey: (key) => partitionForKey(ring, key),
    primaries(p) {
      let v = primaries.get(p);
      if (v === undefined) primaries.set(p, (v = primaryNodes(ring, p)));
      return v;
    },
    handoffs(p) {
      let v = handoffs.get(p);
      if (v === undefined) handoffs.set(p, (v = handoffNodes(ring, p)));
      return v;
    },
    partitionsOf(node) {
      let v = owned.get(node);
      if (v === undefined) owned.set(node, (v = partitionsForNode(ring, node).map((x) => x.partition)));
      return v;
    },
    nodes: () => nodes,
  };
}
