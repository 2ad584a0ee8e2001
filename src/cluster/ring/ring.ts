/**
 * The immutable ring: which devices hold each partition's replicas. Built by ring-builder.ts, read by
 * placement.ts, stored as JSON (toJSON here, ringFromJSON in ring-json.ts).
 */
import { Code, FlotillaError } from '../../core/errors.js';
import { encodeTimes, encodeUints } from './codec.js';
import type { RingDevice } from './ring-device.js';

/** The `format` field of a ring's JSON form. A reader refuses any other value. */
export const RING_FORMAT = 'flotilla.ring.v1';

/** The JSON form of a ring (what `/flotilla/rings/<name>` holds). */
export interface RingJSON {
  format: typeof RING_FORMAT;
  name: string;
  version: number;
  partPower: number;
  replicas: number;
  minPartMoveIntervalMs: number;
  createdAtMs: number;
  /** Sorted by id; the tables below index into this list. */
  devices: RingDevice[];
  /** One string per replica: base64 of 2^partPower little-endian uint16 device indexes. */
  replica2part2dev: string[];
  /** The distinct last-moved times of the partitions, ascending, in ms since the epoch ("never" is not listed). */
  moveTimesMs: number[];
  /**
   * Base64 of one little-endian index per partition: 0 = never moved, k = moveTimesMs[k - 1]; uint16
   * when moveTimesMs has fewer than 65536 entries, else uint32.
   */
  lastMoved: string;
}

/** What a Ring is made of. The arrays are owned by the ring from then on. */
export interface RingInit {
  name: string;
  version: number;
  partPower: number;
  replicas: number;
  minPartMoveIntervalMs: number;
  createdAtMs: number;
  /** Validated, frozen, sorted by id (see normalizeDevices). */
  devices: readonly RingDevice[];
  /** table[replica][partition] = index into devices. */
  table: Uint16Array[];
  /** Per partition, when one of its replicas last moved (ms; -Infinity = not since the ring was built). */
  lastMovedMs: Float64Array;
}

/**
 * A built ring. Immutable: every change goes through the builder and gives a new Ring with
 * `version + 1`. Construct one only with buildRing/rebalanceRing or ringFromJSON.
 */
export class Ring {
  /** The ring's name (`kv`, or an object storage policy). */
  readonly name: string;
  /** 1 for a new ring, +1 on every change. */
  readonly version: number;
  /** The ring has 2^partPower partitions. */
  readonly partPower: number;
  /** Replicas per partition, each on a different device. */
  readonly replicas: number;
  /** A partition is not moved again within this time of its last move (except off a removed device). */
  readonly minPartMoveIntervalMs: number;
  /** When this version was built (ms since the epoch, from the builder's clock). */
  readonly createdAtMs: number;
  /** The devices, sorted by id, frozen. */
  readonly devices: readonly RingDevice[];
  readonly #table: Uint16Array[];
  readonly #lastMovedMs: Float64Array;
  readonly #indexById: Map<string, number>;

  constructor(init: RingInit) {
    this.name = init.name;
    this.version = init.version;
    this.partPower = init.partPower;
    this.replicas = init.replicas;
    this.minPartMoveIntervalMs = init.minPartMoveIntervalMs;
    this.createdAtMs = init.createdAtMs;
    this.devices = Object.freeze([...init.devices]);
    this.#table = init.table;
    this.#lastMovedMs = init.lastMovedMs;
    this.#indexById = new Map(this.devices.map((d, i) => [d.id, i]));
    Object.freeze(this);
  }

  /** 2^partPower. */
  get partitionCount(): number {
    return 2 ** this.partPower;
  }

  /** The index (into `devices`) of the device holding `replica` of `partition`. */
  deviceIndexAt(replica: number, partition: number): number {
    this.#check(replica, partition);
    return (this.#table[replica] as Uint16Array)[partition] as number;
  }

  /** The id of the device holding `replica` of `partition`. */
  deviceIdAt(replica: number, partition: number): string {
    return (this.devices[this.deviceIndexAt(replica, partition)] as RingDevice).id;
  }

  /** The index of a device in `devices`, or -1. */
  indexOfDevice(id: string): number {
    return this.#indexById.get(id) ?? -1;
  }

  device(id: string): RingDevice | undefined {
    const i = this.#indexById.get(id);
    return i === undefined ? undefined : this.devices[i];
  }

  /** When a replica of `partition` last moved (ms since the epoch); null when not since the ring was built. */
  lastMovedMs(partition: number): number | null {
    this.#check(0, partition);
    const t = this.#lastMovedMs[partition] as number;
    return t === -Infinity ? null : t;
  }

  /** Copies of the tables, for the builder (which works on its own mutable copy). */
  copyTables(): { table: Uint16Array[]; lastMovedMs: Float64Array } {
    return { table: this.#table.map((t) => t.slice()), lastMovedMs: this.#lastMovedMs.slice() };
  }

  toJSON(): RingJSON {
    return {
      format: RING_FORMAT,
      name: this.name,
      version: this.version,
      partPower: this.partPower,
      replicas: this.replicas,
      minPartMoveIntervalMs: this.minPartMoveIntervalMs,
      createdAtMs: this.createdAtMs,
      devices: this.devices.map((d) => (d.meta === undefined ? { id: d.id, zone: d.zone, weight: d.weight } : { id: d.id, zone: d.zone, weight: d.weight, meta: { ...d.meta } })),
      replica2part2dev: this.#table.map((t) => encodeUints(t, 2)),
      ...encodeTimes(this.#lastMovedMs),
    };
  }

  #check(replica: number, partition: number): void {
    if (!Number.isInteger(partition) || partition < 0 || partition >= this.#lastMovedMs.length) {
      throw new FlotillaError(Code.INVALID_ARGUMENT, `partition ${partition} is out of range 0..${this.#lastMovedMs.length - 1} of ring ${this.name}`);
    }
    if (!Number.isInteger(replica) || replica < 0 || replica >= this.replicas) {
      throw new FlotillaError(Code.INVALID_ARGUMENT, `replica ${replica} is out of range 0..${this.replicas - 1} of ring ${this.name}`);
    }
  }
}
