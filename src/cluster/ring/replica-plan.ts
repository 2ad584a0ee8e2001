/**
 * The replica plan: how many replicas of each partition every zone may hold, and how many partition
 * replicas each device should hold in total (its "parts wanted" target). Pure arithmetic on the device
 * list; the builder then places replicas to meet it.
 */
import type { RingDevice } from './ring-device.js';
import { compareIds } from './ring-device.js';

export interface ReplicaPlan {
  /** The distinct zones of all devices, sorted. */
  zones: string[];
  /** Device index -> zone index. */
  zoneOf: Int32Array;
  /** Per zone: every partition has at least zoneMin and at most zoneMax replicas there. */
  zoneMin: Int32Array;
  zoneMax: Int32Array;
  /** Per zone: the partition replicas it should hold in total (the sum of its devices' targets). */
  zoneTarget: Int32Array;
  /** Per device: the partition replicas it should hold; sums to partitions * replicas. 0 for weight 0. */
  target: Int32Array;
  /** Per device: a 32-bit hash of its id, for deterministic tie-breaks. */
  idHash: Uint32Array;
}

/**
 * Zone bounds ("as far apart as possible"): with n_z devices of weight > 0 in zone z, let t be the
 * largest level with sum_z min(n_z, t) <= replicas. Each zone then holds min(n_z, t) or min(n_z, t + 1)
 * replicas of every partition: 3 zones and 3 replicas give 1 each, 2 zones give 2 + 1, a zone with a
 * single device never gets 2. The number of distinct zones per partition is min(replicas, zones).
 *
 * Device targets: zone totals follow zone weights, clamped into [P * zoneMin, P * zoneMax] (dispersion
 * wins over weight); inside a zone, device totals follow device weights, clamped to P (a device holds at
 * most one replica of a partition). Both are rounded to integers by largest remainder, ties by index.
 * The caller has checked that at least `replicas` devices have weight > 0.
 */
export function planReplicas(devices: readonly RingDevice[], partitions: number, replicas: number): ReplicaPlan {
  const zones = [...new Set(devices.map((d) => d.zone))].sort(compareIds);
  const zoneIndex = new Map(zones.map((z, i) => [z, i]));
  const zoneOf = Int32Array.from(devices, (d) => zoneIndex.get(d.zone) as number);
  const Z = zones.length;
  const activeIn = new Int32Array(Z);
  const zoneWeight = new Float64Array(Z);
  devices.forEach((d, i) => {
    if (d.weight > 0) {
      activeIn[zoneOf[i] as number]! += 1;
      zoneWeight[zoneOf[i] as number]! += d.weight;
    }
  });
  const level = (t: number): number => activeIn.reduce((s, n) => s + Math.min(n, t), 0);
  let t = 0;
  while (t < replicas && level(t + 1) <= replicas) t++;
  const zoneMin = Int32Array.from(activeIn, (n) => Math.min(n, t));
  const zoneMax = Int32Array.from(activeIn, (n) => Math.min(n, t + 1));

  const lo = Array.from(zoneMin, (m) => m * partitions);
  const hi = Array.from(zoneMax, (m) => m * partitions);
  const zoneTotals = integerize(allocate(partitions * replicas, Array.from(zoneWeight), lo, hi), partitions * replicas, lo, hi);

  const target = new Int32Array(devices.length);
  for (let z = 0; z < Z; z++) {
    const members: number[] = [];
    devices.forEach((d, i) => {
      if (zoneOf[i] === z && d.weight > 0) members.push(i);
    });
    if (members.length === 0) continue;
    const total = zoneTotals[z] as number;
    const w = members.map((i) => (devices[i] as RingDevice).weight);
    const dlo = members.map(() => 0);
    const dhi = members.map(() => partitions);
    const counts = integerize(allocate(total, w, dlo, dhi), total, dlo, dhi);
    members.forEach((i, k) => (target[i] = counts[k] as number));
  }
  const idHash = Uint32Array.from(devices, (d) => hashString32(d.id));
  return { zones, zoneOf, zoneMin, zoneMax, zoneTarget: Int32Array.from(zoneTotals), target, idHash };
}

/**
 * Weighted shares with bounds: x_i = clamp(lambda * w_i, lo_i, hi_i) with lambda chosen (by bisection)
 * so that sum x_i = total. Requires sum lo <= total <= sum hi and w_i > 0.
 */
export function allocate(total: number, weights: readonly number[], lo: readonly number[], hi: readonly number[]): number[] {
  const at = (lambda: number): number[] => weights.map((w, i) => Math.min(hi[i] as number, Math.max(lo[i] as number, lambda * w)));
  const sum = (xs: number[]): number => xs.reduce((s, x) => s + x, 0);
  let low = 0;
  let high = 1;
  for (let i = 0; i < 200 && sum(at(high)) < total; i++) high *= 2;
  for (let i = 0; i < 200; i++) {
    const mid = (low + high) / 2;
    if (mid === low || mid === high) break;
    if (sum(at(mid)) < total) low = mid;
    else high = mid;
  }
  return at(high);
}

/**
 * Rounds shares to integers summing exactly to `total`, staying within [lo, hi]: floors first, then +1
 * to the largest fractional parts (ties by index), or -1 from the smallest if floating error overshot.
 */
export function integerize(values: readonly number[], total: number, lo: readonly number[], hi: readonly number[]): number[] {
  const out = values.map((v, i) => Math.min(hi[i] as number, Math.max(lo[i] as number, Math.floor(v + 1e-9))));
  let rest = total - out.reduce((s, x) => s + x, 0);
  const frac = values.map((v, i) => v - (out[i] as number));
  const order = values.map((_, i) => i).sort((a, b) => (frac[b] as number) - (frac[a] as number) || a - b);
  for (let round = 0; rest > 0 && round <= total; round++) {
    let progressed = false;
    for (const i of order) {
      if (rest === 0) break;
      if ((out[i] as number) < (hi[i] as number)) {
        out[i]! += 1;
        rest--;
        progressed = true;
      }
    }
    if (!progressed) break;
  }
  for (let round = 0; rest < 0 && round <= total; round++) {
    let progressed = false;
    for (const i of [...order].reverse()) {
      if (rest === 0) break;
      if ((out[i] as number) > (lo[i] as number)) {
        out[i]! -= 1;
        rest++;
        progressed = true;
      }
    }
    if (!progressed) break;
  }
  return out;
}

/** FNV-1a over the UTF-16 code units of a string. */
export function hashString32(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** The murmur3 finaliser: a fast, well-mixed 32-bit integer hash. */
export function mix32(x: number): number {
  let h = x >>> 0;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** A per-(device, partition) pseudo-random score: ties between equal devices differ per partition. */
export function tieScore(idHash: number, partition: number): number {
  return mix32(idHash ^ Math.imul(partition + 1, 0x9e3779b1));
}
