/** Balance and dispersion figures of a ring, for `flotilla ring show` and for tests. */
import { Code, FlotillaError } from '../../core/errors.js';
import { planReplicas } from './replica-plan.js';
import type { Ring } from './ring.js';

export interface RingDeviceStats {
  id: string;
  zone: string;
  weight: number;
  /** Partition replicas the device holds. */
  replicas: number;
  /** What the builder's plan wants it to hold (weight share within the zone-spread rules). */
  target: number;
  /** Its pure weight share of all partition replicas, partitions * replicas * weight / total weight. */
  weightShare: number;
  /** 100 * (replicas - target) / target; null when the target is 0 (weight 0). */
  balancePercent: number | null;
}

export interface RingStats {
  name: string;
  version: number;
  partitions: number;
  replicas: number;
  devices: RingDeviceStats[];
  /** The largest |balancePercent| over devices with a target. */
  maxBalancePercent: number;
  /** The largest |replicas / weightShare - 1| in percent: how far weights alone are from being met. */
  maxWeightBalancePercent: number;
  /** Replicas on devices of weight 0 (still draining). */
  drainingReplicas: number;
  /** Zones that have a device of weight > 0. */
  zones: number;
  /** min(replicas, zones): the number of zones every partition should span. */
  bestZoneSpread: number;
  /** Partitions whose replicas span fewer zones than bestZoneSpread. */
  partitionsBelowBestSpread: number;
}

export function ringStats(ring: Ring): RingStats {
  const P = ring.partitionCount;
  const R = ring.replicas;
  const counts = new Array<number>(ring.devices.length).fill(0);
  let below = 0;
  const zonesWithWeight = new Set(ring.devices.filter((d) => d.weight > 0).map((d) => d.zone));
  const best = Math.min(R, zonesWithWeight.size);
  for (let p = 0; p < P; p++) {
    const zones = new Set<string>();
    for (let r = 0; r < R; r++) {
      const d = ring.deviceIndexAt(r, p);
      counts[d]! += 1;
      zones.add((ring.devices[d] as { zone: string }).zone);
    }
    if (zones.size < best) below++;
  }
  const totalWeight = ring.devices.reduce((s, d) => s + d.weight, 0);
  const canPlan = ring.devices.filter((d) => d.weight > 0).length >= R;
  const plan = canPlan ? planReplicas(ring.devices, P, R) : undefined;
  let maxBalance = 0;
  let maxWeightBalance = 0;
  let draining = 0;
  const devices = ring.devices.map((d, i): RingDeviceStats => {
    const replicas = counts[i] as number;
    const target = plan === undefined ? 0 : (plan.target[i] as number);
    const weightShare = totalWeight > 0 ? (P * R * d.weight) / totalWeight : 0;
    const balancePercent = target > 0 ? (100 * (replicas - target)) / target : null;
    if (balancePercent !== null) maxBalance = Math.max(maxBalance, Math.abs(balancePercent));
    if (weightShare > 0) maxWeightBalance = Math.max(maxWeightBalance, Math.abs(100 * (replicas / weightShare - 1)));
    if (d.weight === 0) draining += replicas;
    return { id: d.id, zone: d.zone, weight: d.weight, replicas, target, weightShare, balancePercent };
  });
  return {
    name: ring.name,
    version: ring.version,
    partitions: P,
    replicas: R,
    devices,
    maxBalancePercent: maxBalance,
    maxWeightBalancePercent: maxWeightBalance,
    drainingReplicas: draining,
    zones: zonesWithWeight.size,
    bestZoneSpread: best,
    partitionsBelowBestSpread: below,
  };
}

/** Partition replicas on a different device in `after` than in `before` (same name, power, replicas). */
export function countMoves(before: Ring, after: Ring): number {
  if (before.partPower !== after.partPower || before.replicas !== after.replicas) {
    throw new FlotillaError(Code.INVALID_ARGUMENT, 'countMoves needs two rings with the same partPower and replicas');
  }
  let moved = 0;
  for (let r = 0; r < before.replicas; r++) {
    for (let p = 0; p < before.partitionCount; p++) if (before.deviceIdAt(r, p) !== after.deviceIdAt(r, p)) moved++;
  }
  return moved;
}
