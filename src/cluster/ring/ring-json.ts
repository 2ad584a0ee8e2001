/**
 * Reading a ring back from its JSON form. A stored ring is input like any other: a corrupt or
 * truncated one gives a FlotillaError (INVALID_ARGUMENT) naming what is wrong, never a crash.
 */
import { z } from 'zod';
import { Code, FlotillaError } from '../../core/errors.js';
import { decodeTimes, decodeUints } from './codec.js';
import { RING_FORMAT, Ring } from './ring.js';
import { MAX_PART_POWER, MAX_REPLICAS, MIN_PART_POWER, describeIssues, normalizeDevices, ringDeviceSchema, ringNameSchema } from './ring-device.js';

const ringJsonSchema = z.object({
  format: z.literal(RING_FORMAT),
  name: ringNameSchema,
  version: z.int().min(1),
  partPower: z.int().min(MIN_PART_POWER).max(MAX_PART_POWER),
  replicas: z.int().min(1).max(MAX_REPLICAS),
  minPartMoveIntervalMs: z.number().min(0),
  createdAtMs: z.number(),
  devices: z.array(ringDeviceSchema).min(1),
  replica2part2dev: z.array(z.string()),
  moveTimesMs: z.array(z.number()),
  lastMoved: z.string(),
});

function corrupt(message: string): FlotillaError {
  return new FlotillaError(Code.INVALID_ARGUMENT, `invalid ring JSON: ${message}`);
}

/**
 * Parses a ring from its JSON form: the object `ring.toJSON()` returned, or that object as JSON text.
 * Checks the structure and every invariant the builder guarantees about the tables: lengths, device
 * indexes in range, distinct devices per partition. Devices need not be in sorted order.
 */
export function ringFromJSON(input: unknown): Ring {
  let value = input;
  if (typeof input === 'string') {
    try {
      value = JSON.parse(input) as unknown;
    } catch (err) {
      throw new FlotillaError(Code.INVALID_ARGUMENT, `invalid ring JSON: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
    }
  }
  const parsed = ringJsonSchema.safeParse(value);
  if (!parsed.success) throw corrupt(describeIssues(parsed.error, ''));
  const j = parsed.data;
  let devices;
  try {
    devices = normalizeDevices(j.devices, 'devices');
  } catch (err) {
    throw corrupt(err instanceof FlotillaError ? err.rawMessage : String(err));
  }
  // Indexes in the JSON refer to its own device order; remap to the sorted order.
  const sortedIndex = new Map(devices.map((d, i) => [d.id, i]));
  const remap = j.devices.map((d) => sortedIndex.get(d.id) as number);
  const partitions = 2 ** j.partPower;
  if (j.replica2part2dev.length !== j.replicas) {
    throw corrupt(`replica2part2dev has ${j.replica2part2dev.length} tables, the ring has ${j.replicas} replicas`);
  }
  const table = j.replica2part2dev.map((text, r) => {
    const raw = decodeUints(text, partitions, 2);
    if (raw === undefined) throw corrupt(`replica2part2dev[${r}] is not base64 of ${partitions} uint16 values`);
    const out = new Uint16Array(partitions);
    for (let p = 0; p < partitions; p++) {
      const d = remap[raw[p] as number];
      if (d === undefined) throw corrupt(`replica2part2dev[${r}][${p}] = ${raw[p]} is not a device index (0..${devices.length - 1})`);
      out[p] = d;
    }
    return out;
  });
  for (let p = 0; p < partitions; p++) {
    for (let r = 1; r < j.replicas; r++) {
      for (let q = 0; q < r; q++) {
        if ((table[r] as Uint16Array)[p] === (table[q] as Uint16Array)[p]) {
          throw corrupt(`partition ${p} has replicas ${q} and ${r} on the same device`);
        }
      }
    }
  }
  const lastMovedMs = decodeTimes({ moveTimesMs: j.moveTimesMs, lastMoved: j.lastMoved }, partitions);
  if (lastMovedMs === undefined) throw corrupt(`moveTimesMs must be ascending and lastMoved must index it once per partition (${partitions})`);
  return new Ring({
    name: j.name,
    version: j.version,
    partPower: j.partPower,
    replicas: j.replicas,
    minPartMoveIntervalMs: j.minPartMoveIntervalMs,
    createdAtMs: j.createdAtMs,
    devices,
    table,
    lastMovedMs,
  });
}
