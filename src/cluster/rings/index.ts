/**
 * Rings in the cluster: stored in the coordination store (`/flotilla/rings/<name>`, compare-and-swap on
 * the version), watched by every process, and built automatically once the expected nodes are ACTIVE.
 */
export { MAX_STORED_RING_BYTES, PLAIN_LIMIT_BYTES, decodeRing, encodeRing } from './ring-codec.js';
export type { EncodedRing, RingEncoding } from './ring-codec.js';
export { RINGS_PREFIX, RingStore, checkRingName, ringKey, ringNameOfKey, storedRingFromKv } from './ring-store.js';
export type { BadRing, StoredRing } from './ring-store.js';
export { RingWatcher } from './ring-watcher.js';
export type { RingWatcherEventMap, RingWatcherOptions } from './ring-watcher.js';
export { DEFAULT_PART_POWER, RingAutoBuilder, defaultReplicas } from './ring-auto-builder.js';
export type { RingAutoBuilderEventMap, RingAutoBuilderOptions, RingAutoBuilderState } from './ring-auto-builder.js';
export { memberSourceFromView, memberToDevice, membersFromNodeRecords, parseDeviceList, weightFromCapacity } from './ring-members.js';
export type { MembershipViewLike, RingMember, RingMemberSource } from './ring-members.js';
export { createClusterRings } from './cluster-rings.js';
export type { ClusterRings, ClusterRingsOptions, RingsSummary } from './cluster-rings.js';
