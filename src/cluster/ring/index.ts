/** Partition rings: building and rebalancing them, storing them as JSON, and placing keys. */
export { Ring, RING_FORMAT } from './ring.js';
export type { RingJSON } from './ring.js';
export type { RingDevice } from './ring-device.js';
export { MAX_DEVICES, MAX_PART_POWER, MAX_REPLICAS, MIN_PART_POWER } from './ring-device.js';
export { ringFromJSON } from './ring-json.js';
export { DEFAULT_MIN_PART_MOVE_INTERVAL_MS, addDevice, buildRing, rebalanceRing, removeDevice, setWeight } from './ring-builder.js';
export type { BuildRingOptions, ChangeOptions, RebalanceOptions, RebalanceResult } from './ring-builder.js';
export { handoffNodes, partitionForKey, partitionsForNode, primaryNodes, replicasForKey } from './placement.js';
export type { KeyPlacement, NodePartition } from './placement.js';
export { countMoves, ringStats } from './ring-stats.js';
export type { RingDeviceStats, RingStats } from './ring-stats.js';
