/**
 * What a node publishes about itself, and where. `/flotilla/nodes/<name>` holds its NodeRecord under its
 * lease (gone when the lease ends); `/flotilla/members/<name>` keeps the last record without a lease, so
 * every process (including one started later) can tell a node that left cleanly (`leftAt` set) from one
 * whose lease ran out; `/flotilla/distances/<name>` holds its measured RTT to every peer, under its lease.
 */
import { z } from 'zod';

export const NODES_PREFIX = '/flotilla/nodes/';
export const MEMBERS_PREFIX = '/flotilla/members/';
export const DISTANCES_PREFIX = '/flotilla/distances/';

export const nodeKey = (name: string): string => NODES_PREFIX + name;
export const memberKey = (name: string): string => MEMBERS_PREFIX + name;
export const distancesKey = (name: string): string => DISTANCES_PREFIX + name;

/** The roles a node may take. */
export const NODE_ROLES = ['agent', 'kv', 'objects'] as const;
export type NodeRole = (typeof NODE_ROLES)[number];

/** A node name: letters, digits, '-', '_' and '.', starting with a letter or digit, at most 63 characters. */
export const NODE_NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;

export const nodeNameSchema = z
  .string({ error: (iss) => (iss.input === undefined ? 'a node needs a name: --name NAME (or FLOTILLA_NAME, or name: in the config file)' : 'a node name is a string') })
  .regex(NODE_NAME_PATTERN, 'a node name is 1-63 letters, digits, ".", "_" or "-", starting with a letter or digit');

const backendSchema = z.object({
  /** 'dir' today; 's3' when the object store supports it. */
  kind: z.string(),
  /** The directory or bucket URL. */
  location: z.string(),
  capacityBytes: z.number().nonnegative(),
  freeBytes: z.number().nonnegative(),
  /** Measured at start, in MB/s (10^6 bytes per second). */
  readMBps: z.number().nonnegative(),
  writeMBps: z.number().nonnegative(),
});

export const nodeRecordSchema = z.object({
  name: nodeNameSchema,
  /** Stable across restarts of the same node (kept in its data dir). */
  nodeId: z.string(),
  /** New on every process start. */
  incarnation: z.string(),
  /** host:port of its peer gRPC server. */
  peerAddress: z.string(),
  /** host:port of its HTTP server. */
  httpAddress: z.string(),
  roles: z.array(z.string()),
  zone: z.string(),
  backend: backendSchema,
  version: z.string(),
  /** ISO 8601. */
  startedAt: z.string(),
  /** Ring versions this node holds, by ring name. */
  rings: z.record(z.string(), z.number()).default({}),
  /** Set when the node left cleanly (ISO 8601). */
  leftAt: z.string().optional(),
});

export type NodeRecord = z.infer<typeof nodeRecordSchema>;
export type BackendInfo = NodeRecord['backend'];

export function encodeNodeRecord(record: NodeRecord): string {
  return JSON.stringify(record);
}

/** Parses a stored record; a malformed one is normal input (another version, a hand edit), not a crash. */
export function parseNodeRecord(value: Buffer | string): { value: NodeRecord; error?: undefined } | { value?: undefined; error: string } {
  let json: unknown;
  try {
    json = JSON.parse(value.toString());
  } catch (err) {
    return { error: `not JSON: ${(err as Error).message}` };
  }
  const r = nodeRecordSchema.safeParse(json);
  if (!r.success) return { error: r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ') };
  return { value: r.data };
}

/** Parses a published distance map (peer name -> RTT in ms); malformed entries are dropped. */
export function parseDistances(value: Buffer | string): Record<string, number> {
  try {
    const json: unknown = JSON.parse(value.toString());
    if (json === null || typeof json !== 'object' || Array.isArray(json)) return {};
    const out: Record<string, number> = {};
    for (const [k, v] of Object.entries(json as Record<string, unknown>)) if (typeof v === 'number' && Number.isFinite(v) && v >= 0) out[k] = v;
    return out;
  } catch {
    return {};
  }
}
