/**
 * The builder's mutable working state: the replica table being built, device and zone counts against
 * their targets, and the kinds of move (fill, drain, disperse, zone balance, device balance). Internal
 * to ring-builder.ts, which documents the algorithm.
 */
import { Code, FlotillaError } from '../../core/errors.js';
import type { ReplicaPlan } from './replica-plan.js';
import { tieScore } from './replica-plan.js';
import type { RingDevice } from './ring-device.js';

export interface PlacerOptions {
  now: number;
  minPartMoveIntervalMs: number;
  /** Building from scratch: nothing was placed before, so the interval does not apply. */
  ignoreInterval: boolean;
}

/**
 * How a slot is being filled. `any`: the slot must be filled (fallback to the least-used zone when the
 * zone bounds cannot be met). `zone`: only into a zone below its target. `device`: only into a device
 * below its target, in the source's zone or a zone below its target. The last two may find nothing.
 */
type Mode = 'any' | 'zone' | 'device';

/** A resumable scan over the partitions. */
interface Cursor {
  at: number;
  left: number;
}

export class Placer {
  readonly partitions: number;
  readonly replicas: number;
  /** table[replica][partition] = device index, or -1 while unassigned. */
  readonly table: Int32Array[];
  readonly lastMovedMs: Float64Array;
  readonly count: Int32Array;
  readonly #zoneTotal: Int32Array;
  readonly #plan: ReplicaPlan;
  readonly #active: Uint8Array;
  readonly #opts: PlacerOptions;
  readonly #movedThisPass: Uint8Array;
  readonly #zoneCount: Int32Array;
  /** Per zone, its devices of weight > 0. */
  readonly #zoneDevices: number[][];

  constructor(plan: ReplicaPlan, devices: readonly RingDevice[], table: Int32Array[], lastMovedMs: Float64Array, opts: PlacerOptions) {
    this.#plan = plan;
    this.table = table;
    this.lastMovedMs = lastMovedMs;
    this.replicas = table.length;
    this.partitions = lastMovedMs.length;
    this.#opts = opts;
    this.#active = Uint8Array.from(devices, (d) => (d.weight > 0 ? 1 : 0));
    this.count = new Int32Array(devices.length);
    this.#zoneTotal = new Int32Array(plan.zones.length);
    for (const row of table) {
      for (const d of row) {
        if (d < 0) continue;
        this.count[d]! += 1;
        this.#zoneTotal[plan.zoneOf[d] as number]! += 1;
      }
    }
    this.#movedThisPass = new Uint8Array(this.partitions);
    this.#zoneCount = new Int32Array(plan.zones.length);
    this.#zoneDevices = plan.zones.map(() => []);
    devices.forEach((d, i) => {
      if (d.weight > 0) (this.#zoneDevices[plan.zoneOf[i] as number] as number[]).push(i);
    });
  }

  /**
   * One pass: fill unassigned slots (first pass only), drain, disperse, balance zones, balance devices.
   * Within a pass a partition moves at most one replica (fills aside). Returns the replica moves made.
   */
  pass(first: boolean): number {
    this.#movedThisPass.fill(0);
    return (first ? this.#fill() : 0) + this.#drain() + this.#disperse() + this.#balanceZones() + this.#balanceDevices();
  }

  /** Replicas still away from where the plan wants them: excess over device targets plus spread gaps. */
  pending(): number {
    let n = 0;
    this.count.forEach((c, d) => (n += Math.max(0, c - (this.#plan.target[d] as number))));
    for (let p = 0; p < this.partitions; p++) if (this.#excessZone(p) >= 0) n++;
    return n;
  }

  #canMove(p: number): boolean {
    if (this.#movedThisPass[p] === 1) return false;
    return this.#opts.ignoreInterval || this.#opts.now - (this.lastMovedMs[p] as number) >= this.#opts.minPartMoveIntervalMs;
  }

  #row(r: number): Int32Array {
    return this.table[r] as Int32Array;
  }

  #over(d: number): number {
    return (this.count[d] as number) - (this.#plan.target[d] as number);
  }

  #zoneOver(z: number): number {
    return (this.#zoneTotal[z] as number) - (this.#plan.zoneTarget[z] as number);
  }

  #assign(r: number, p: number, d: number, from: number): number {
    this.#row(r)[p] = d;
    this.count[d]! += 1;
    this.#zoneTotal[this.#plan.zoneOf[d] as number]! += 1;
    if (d === from) return 0;
    this.#movedThisPass[p] = 1;
    this.lastMovedMs[p] = this.#opts.now;
    return 1;
  }

  #unassign(r: number, p: number): number {
    const d = this.#row(r)[p] as number;
    this.#row(r)[p] = -1;
    this.count[d]! -= 1;
    this.#zoneTotal[this.#plan.zoneOf[d] as number]! -= 1;
    return d;
  }

  /** Takes replica r of p off its device and puts it where `mode` allows, or back. Returns 1 if it moved. */
  #move(r: number, p: number, mode: Mode): number {
    const from = this.#unassign(r, p);
    const to = this.#choose(p, mode, this.#plan.zoneOf[from] as number);
    return this.#assign(r, p, to < 0 ? from : to, from);
  }

  #holds(p: number, d: number): boolean {
    for (const row of this.table) if (row[p] === d) return true;
    return false;
  }

  /** Fills #zoneCount for partition p; returns the number of unassigned slots. */
  #loadZones(p: number): number {
    this.#zoneCount.fill(0);
    let free = 0;
    for (const row of this.table) {
      const d = row[p] as number;
      if (d < 0) free++;
      else this.#zoneCount[this.#plan.zoneOf[d] as number]! += 1;
    }
    return free;
  }

  /**
   * The best device for an unassigned slot of p, or -1. A device is allowed when placing there keeps the
   * partition able to reach its zone bounds. Preference: allowed; (for fallbacks, the least-used zone);
   * the zone furthest below its target; the device furthest below its target; a per-partition hash.
   */
  #choose(p: number, mode: Mode, sourceZone: number): number {
    const plan = this.#plan;
    const free = this.#loadZones(p);
    let deficit = 0;
    for (let z = 0; z < plan.zones.length; z++) deficit += Math.max(0, (plan.zoneMin[z] as number) - (this.#zoneCount[z] as number));
    let best = -1;
    let bAllowed = false;
    let bUse = 0;
    let bZoneWanted = 0;
    let bWanted = 0;
    let bTie = 0;
    for (let e = 0; e < this.count.length; e++) {
      if (this.#active[e] === 0 || this.#holds(p, e)) continue;
      const z = plan.zoneOf[e] as number;
      const c = this.#zoneCount[z] as number;
      const allowed = c < (plan.zoneMin[z] as number) || (c < (plan.zoneMax[z] as number) && deficit < free);
      const zoneWanted = -this.#zoneOver(z);
      const wanted = -this.#over(e);
      if (mode === 'zone' && (!allowed || zoneWanted <= 0)) continue;
      if (mode === 'device' && (!allowed || wanted <= 0 || (z !== sourceZone && zoneWanted <= 0))) continue;
      const tie = tieScore(plan.idHash[e] as number, p);
      let better: boolean;
      if (best < 0) better = true;
      else if (allowed !== bAllowed) better = allowed;
      else if (!allowed && c !== bUse) better = c < bUse;
      else if (mode !== 'device' && zoneWanted !== bZoneWanted) better = zoneWanted > bZoneWanted;
      else if (wanted !== bWanted) better = wanted > bWanted;
      else better = tie > bTie;
      if (better) [best, bAllowed, bUse, bZoneWanted, bWanted, bTie] = [e, allowed, c, zoneWanted, wanted, tie];
    }
    return best;
  }

  #fill(): number {
    let moved = 0;
    for (let p = 0; p < this.partitions; p++) {
      for (let r = 0; r < this.replicas; r++) {
        if ((this.#row(r)[p] as number) >= 0) continue;
        const e = this.#choose(p, 'any', -1);
        if (e < 0) throw new FlotillaError(Code.INTERNAL, `ring builder found no device for partition ${p}`);
        moved += this.#assign(r, p, e, -1);
      }
    }
    return moved;
  }

  /** Moves one replica per partition off devices of weight 0. */
  #drain(): number {
    let moved = 0;
    for (let p = 0; p < this.partitions; p++) {
      for (let r = 0; r < this.replicas && this.#canMove(p); r++) {
        if (this.#active[this.#row(r)[p] as number] === 0) moved += this.#move(r, p, 'any');
      }
    }
    return moved;
  }

  /**
   * A zone of p holding more replicas than its bound (or more than its minimum while another zone lacks
   * replicas), or -1 when p is spread as well as the zones allow.
   */
  #excessZone(p: number): number {
    const plan = this.#plan;
    this.#loadZones(p);
    let over = -1;
    let overBy = 0;
    let lacking = false;
    let spare = -1;
    let spareBy = 0;
    for (let z = 0; z < plan.zones.length; z++) {
      const c = this.#zoneCount[z] as number;
      if (c - (plan.zoneMax[z] as number) > overBy) [over, overBy] = [z, c - (plan.zoneMax[z] as number)];
      if (c < (plan.zoneMin[z] as number)) lacking = true;
      if (c - (plan.zoneMin[z] as number) > spareBy) [spare, spareBy] = [z, c - (plan.zoneMin[z] as number)];
    }
    if (over >= 0) return over;
    return lacking ? spare : -1;
  }

  /** The replica of p in zone z on the device most above its target (lowest replica index on ties), or -1. */
  #slotIn(p: number, z: number): number {
    let slot = -1;
    for (let r = 0; r < this.replicas; r++) {
      const d = this.#row(r)[p] as number;
      if (d < 0 || this.#plan.zoneOf[d] !== z) continue;
      if (slot < 0 || this.#over(d) > this.#over(this.#row(slot)[p] as number)) slot = r;
    }
    return slot;
  }

  /** Moves one replica per badly spread partition from its most crowded zone to a lacking one. */
  #disperse(): number {
    let moved = 0;
    for (let p = 0; p < this.partitions; p++) {
      if (!this.#canMove(p)) continue;
      const z = this.#excessZone(p);
      if (z >= 0) moved += this.#move(this.#slotIn(p, z), p, 'any');
    }
    return moved;
  }

  /**
   * Moves replicas from zones above their target to zones below theirs, most above first. When no
   * partition allows a direct move, relays through a zone on target: one of its replicas moves to a zone
   * below target, then a replica of the zone above target takes its place in another partition.
   */
  #balanceZones(): number {
    const Z = this.#zoneTotal.length;
    const zones = [...this.#zoneTotal.keys()].filter((z) => this.#zoneOver(z) > 0).sort((a, b) => this.#zoneOver(b) - this.#zoneOver(a) || a - b);
    let moved = 0;
    for (const x of zones) {
      // First from devices above their own target, so the zone's devices end on theirs too.
      for (const onlyOver of [true, false]) {
        for (let i = 0; i < this.partitions && this.#zoneOver(x) > 0; i++) {
          const p = (i + x * 7919) % this.partitions;
          if (this.#canMove(p) && this.#moveFromZone(p, x, onlyOver)) moved++;
        }
      }
      for (let y = 0; y < Z && this.#zoneOver(x) > 0; y++) {
        if (y === x || this.#zoneOver(y) !== 0) continue;
        const pc = this.#cursor(x * 7919);
        const qc = this.#cursor(y * 7919);
        while (this.#zoneOver(x) > 0) {
          const p = this.#next(pc, (p) => this.#couldMoveInto(p, x, y));
          if (p < 0) break;
          if (this.#next(qc, (q) => q !== p && this.#moveFromZone(q, y)) < 0) break;
          moved++;
          if (!this.#moveFromZone(p, x)) break;
          moved++;
        }
      }
    }
    return moved;
  }

  /** A scan over all partitions from a point that depends on `seed`; see #next. */
  #cursor(seed: number): Cursor {
    return { at: (seed >>> 0) % this.partitions, left: this.partitions };
  }

  /**
   * The next movable partition of the scan for which `test` holds, or -1 when the scan is done. Each
   * partition is visited once per cursor, which bounds a relay loop to one sweep of the ring.
   */
  #next(c: Cursor, test: (p: number) => boolean): number {
    while (c.left > 0) {
      const p = c.at;
      c.at = (c.at + 1) % this.partitions;
      c.left--;
      if (this.#canMove(p) && test(p)) return p;
    }
    return -1;
  }

  /** Moves p's replica in zone x (if `onlyOver`, only from a device above its target) to a zone below its target; true if it moved. */
  #moveFromZone(p: number, x: number, onlyOver = false): boolean {
    const r = this.#slotIn(p, x);
    if (r < 0 || (onlyOver && this.#over(this.#row(r)[p] as number) <= 0)) return false;
    return this.#move(r, p, 'zone') === 1;
  }

  /** Whether p's replica in zone x could move to a device of zone y within p's zone bounds. */
  #couldMoveInto(p: number, x: number, y: number): boolean {
    const r = this.#slotIn(p, x);
    return r >= 0 && this.#couldMove(r, p, this.#zoneDevices[y] as number[]);
  }

  /** Whether replica r of p could move to one of `candidates` within p's zone bounds (changes nothing). */
  #couldMove(r: number, p: number, candidates: readonly number[]): boolean {
    const from = this.#unassign(r, p);
    const free = this.#loadZones(p);
    const plan = this.#plan;
    let deficit = 0;
    for (let z = 0; z < plan.zones.length; z++) deficit += Math.max(0, (plan.zoneMin[z] as number) - (this.#zoneCount[z] as number));
    let ok = false;
    for (const e of candidates) {
      if (this.#active[e] === 0 || e === from || this.#holds(p, e)) continue;
      const z = plan.zoneOf[e] as number;
      const c = this.#zoneCount[z] as number;
      ok = c < (plan.zoneMin[z] as number) || (c < (plan.zoneMax[z] as number) && deficit < free);
      if (ok) break;
    }
    this.#assign(r, p, from, from);
    return ok;
  }

  /**
   * Moves replicas from devices above their target to devices below theirs (in the same zone, or in a
   * zone below its target), most above first; relays through a device on target of the same zone when
   * no partition allows a direct move.
   */
  #balanceDevices(): number {
    const plan = this.#plan;
    const over = [...this.count.keys()].filter((d) => this.#over(d) > 0).sort((a, b) => this.#over(b) - this.#over(a) || a - b);
    let moved = 0;
    for (const d of over) {
      const seed = plan.idHash[d] as number;
      for (let i = 0; i < this.partitions && this.#over(d) > 0; i++) {
        const p = (seed + i) % this.partitions;
        if (this.#canMove(p) && this.#moveFromDevice(p, d)) moved++;
      }
      for (let f = 0; f < this.count.length && this.#over(d) > 0; f++) {
        if (f === d || this.#active[f] === 0 || this.#over(f) !== 0 || plan.zoneOf[f] !== plan.zoneOf[d]) continue;
        const pc = this.#cursor(seed);
        const qc = this.#cursor(plan.idHash[f] as number);
        while (this.#over(d) > 0) {
          const p = this.#next(pc, (p) => {
            const r = this.#slotOf(p, d);
            return r >= 0 && this.#couldMove(r, p, [f]);
          });
          if (p < 0) break;
          if (this.#next(qc, (q) => q !== p && this.#moveFromDevice(q, f)) < 0) break;
          moved++;
          if (!this.#moveFromDevice(p, d)) break;
          moved++;
        }
      }
    }
    return moved;
  }

  #slotOf(p: number, d: number): number {
    for (let r = 0; r < this.replicas; r++) if (this.#row(r)[p] === d) return r;
    return -1;
  }

  /** Moves p's replica on device d to a device below its target; true if it moved. */
  #moveFromDevice(p: number, d: number): boolean {
    const r = this.#slotOf(p, d);
    return r >= 0 && this.#move(r, p, 'device') === 1;
  }
}
