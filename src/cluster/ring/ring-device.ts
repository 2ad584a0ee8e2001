/**
 * The devices of a ring (one per storage node) and the validation of everything a caller or a stored
 * ring gives the builder. Validation happens here, at the edge; the builder trusts what it returns.
 */
import { z } from 'zod';
import { Code, FlotillaError } from '../../core/errors.js';

/** One node of a ring. */
export interface RingDevice {
  /** The node name; unique within a ring. 1..253 characters of `A-Z a-z 0-9 . _ : -`. */
  readonly id: string;
  /** The failure domain; replicas of a partition are spread over zones first. Same character set as `id`. */
  readonly zone: string;
  /** Relative capacity, a finite number >= 0. 0 means draining: the device is emptied and gets nothing new. */
  readonly weight: number;
  /** Free-form labels (addresses, backend kind); never read by the builder. */
  readonly meta?: Readonly<Record<string, string>>;
}

/** Partition power bounds: 2^1 .. 2^20 partitions. */
export const MIN_PART_POWER = 1;
export const MAX_PART_POWER = 20;
/** At most this many replicas per partition. */
export const MAX_REPLICAS = 16;
/** Device indexes are stored as 16-bit integers. */
export const MAX_DEVICES = 65_535;

const namePattern = /^[A-Za-z0-9._:-]{1,253}$/;
const nameMessage = 'must be 1..253 characters of A-Z a-z 0-9 . _ : -';

export const ringNameSchema = z.string().regex(namePattern, nameMessage);

export const ringDeviceSchema = z.object({
  id: z.string().regex(namePattern, nameMessage),
  zone: z.string().regex(namePattern, nameMessage),
  weight: z.number().min(0),
  meta: z.record(z.string(), z.string()).optional(),
});

/** Formats the first few zod issues as `path: message; ...`. */
export function describeIssues(error: z.ZodError, prefix: string): string {
  return error.issues
    .slice(0, 5)
    .map((i) => `${[prefix, ...i.path.map(String)].filter((s) => s !== '').join('.')}: ${i.message}`)
    .join('; ');
}

/** Compares strings by UTF-16 code units: the same order on every machine and locale. */
export function compareIds(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** A frozen copy of a device with its meta keys in sorted order (so JSON output is canonical). */
function freezeDevice(d: z.infer<typeof ringDeviceSchema>): RingDevice {
  const out: { id: string; zone: string; weight: number; meta?: Record<string, string> } = { id: d.id, zone: d.zone, weight: d.weight };
  if (d.meta !== undefined) {
    const meta: Record<string, string> = {};
    for (const key of Object.keys(d.meta).sort(compareIds)) meta[key] = d.meta[key] as string;
    out.meta = Object.freeze(meta);
  }
  return Object.freeze(out);
}

/**
 * Validates a device list and returns frozen copies sorted by id, so the order the caller used never
 * changes the ring. Throws INVALID_ARGUMENT for a malformed device, a duplicate id or too many devices.
 */
export function normalizeDevices(devices: unknown, what = 'devices'): RingDevice[] {
  if (!Array.isArray(devices)) throw new FlotillaError(Code.INVALID_ARGUMENT, `${what} must be an array of devices`);
  if (devices.length > MAX_DEVICES) {
    throw new FlotillaError(Code.INVALID_ARGUMENT, `${what}: at most ${MAX_DEVICES} devices, got ${devices.length}`);
  }
  const out: RingDevice[] = [];
  const seen = new Set<string>();
  devices.forEach((raw, i) => {
    const parsed = ringDeviceSchema.safeParse(raw);
    if (!parsed.success) throw new FlotillaError(Code.INVALID_ARGUMENT, `bad device: ${describeIssues(parsed.error, `${what}[${i}]`)}`);
    if (seen.has(parsed.data.id)) throw new FlotillaError(Code.INVALID_ARGUMENT, `duplicate device id "${parsed.data.id}" in ${what}`);
    seen.add(parsed.data.id);
    out.push(freezeDevice(parsed.data));
  });
  return out.sort((a, b) => compareIds(a.id, b.id));
}

/** Checks the ring parameters; throws INVALID_ARGUMENT naming the bad one. */
export function checkRingParameters(p: { name: unknown; partPower: unknown; replicas: unknown; minPartMoveIntervalMs: unknown }): void {
  if (!ringNameSchema.safeParse(p.name).success) throw new FlotillaError(Code.INVALID_ARGUMENT, `ring name ${nameMessage}, got ${JSON.stringify(p.name)}`);
  const pp = p.partPower;
  if (typeof pp !== 'number' || !Number.isInteger(pp) || pp < MIN_PART_POWER || pp > MAX_PART_POWER) {
    throw new FlotillaError(Code.INVALID_ARGUMENT, `partPower must be an integer from ${MIN_PART_POWER} to ${MAX_PART_POWER}, got ${String(pp)}`);
  }
  const r = p.replicas;
  if (typeof r !== 'number' || !Number.isInteger(r) || r < 1 || r > MAX_REPLICAS) {
    throw new FlotillaError(Code.INVALID_ARGUMENT, `replicas must be an integer from 1 to ${MAX_REPLICAS}, got ${String(r)}`);
  }
  checkInterval(p.minPartMoveIntervalMs);
}

export function checkInterval(ms: unknown): void {
  if (typeof ms !== 'number' || !Number.isFinite(ms) || ms < 0) {
    throw new FlotillaError(Code.INVALID_ARGUMENT, `minPartMoveIntervalMs must be a finite number >= 0, got ${String(ms)}`);
  }
}

/**
 * Checks that the devices can hold `replicas` distinct replicas of every partition: at least one device,
 * a total weight above 0 and at least `replicas` devices with weight > 0. Throws FAILED_PRECONDITION.
 */
export function checkCapacity(devices: readonly RingDevice[], replicas: number): void {
  if (devices.length === 0) throw new FlotillaError(Code.FAILED_PRECONDITION, 'a ring needs at least one device');
  const active = devices.filter((d) => d.weight > 0).length;
  if (active === 0) throw new FlotillaError(Code.FAILED_PRECONDITION, 'the total weight of the devices is 0: no device can hold a partition');
  if (active < replicas) {
    throw new FlotillaError(
      Code.FAILED_PRECONDITION,
      `${replicas} replicas need at least ${replicas} devices with weight > 0, the ring has ${active} (of ${devices.length} devices)`,
    );
  }
}
