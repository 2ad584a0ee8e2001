// Shared helpers for the ring tests: device lists, arbitraries and table inspection.
import fc from 'fast-check';
import type { Ring, RingDevice } from '../../../src/cluster/ring/index.js';

/** n devices `d0..d{n-1}` spread round-robin over `zones` zones `z0..`, all of weight `weight`. */
export function devices(n: number, zones: number, weight = 1): RingDevice[] {
  return Array.from({ length: n }, (_, i) => ({ id: `d${i}`, zone: `z${i % zones}`, weight }));
}

/** A clock the test moves by hand. */
export function clock(startMs = 1_000): { now: () => number; advance: (ms: number) => void } {
  let t = startMs;
  return { now: () => t, advance: (ms) => (t += ms) };
}

export const HOUR = 3_600_000;

export const deviceArb = fc.record({
  id: fc.stringMatching(/^[a-z0-9]{1,6}$/),
  zone: fc.constantFrom('a', 'b', 'c', 'd', 'e'),
  weight: fc.oneof(fc.integer({ min: 1, max: 10 }), fc.double({ min: 0.1, max: 5, noNaN: true }), fc.constant(0)),
});

/** 1..12 devices with unique ids (some may have weight 0). */
export const devicesArb = fc.uniqueArray(deviceArb, { minLength: 1, maxLength: 12, selector: (d) => d.id });

/** Device ids per partition, in replica order. */
export function rows(ring: Ring): string[][] {
  const out: string[][] = [];
  for (let p = 0; p < ring.partitionCount; p++) {
    const row: string[] = [];
    for (let r = 0; r < ring.replicas; r++) row.push(ring.deviceIdAt(r, p));
    out.push(row);
  }
  return out;
}

/** Partition replicas held per device id. */
export function replicaCounts(ring: Ring): Map<string, number> {
  const counts = new Map<string, number>(ring.devices.map((d) => [d.id, 0]));
  for (const row of rows(ring)) for (const id of row) counts.set(id, (counts.get(id) ?? 0) + 1);
  return counts;
}

/** Slots (replica, partition) whose device differs between two rings of the same shape. */
export function movedSlots(before: Ring, after: Ring): { replica: number; partition: number; from: string; to: string }[] {
  const out = [];
  for (let r = 0; r < before.replicas; r++) {
    for (let p = 0; p < before.partitionCount; p++) {
      const from = before.deviceIdAt(r, p);
      const to = after.deviceIdAt(r, p);
      if (from !== to) out.push({ replica: r, partition: p, from, to });
    }
  }
  return out;
}

/** Number of devices of weight > 0. */
export function activeCount(devs: readonly RingDevice[]): number {
  return devs.filter((d) => d.weight > 0).length;
}
