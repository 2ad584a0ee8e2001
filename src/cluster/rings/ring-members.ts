/**
 * Where ring devices come from: a device list typed by an admin (`a:z1:1,b:z2:1`), the node records
 * under `/flotilla/nodes/`, or the live membership view (for the automatic build).
 */
import type { RingDevice } from '../ring/index.js';

/** A node that can become a ring device. */
export interface RingMember {
  name: string;
  zone: string;
  /** Relative capacity (see weightFromCapacity). */
  weight: number;
}

/**
 * A source of ACTIVE members, for the automatic ring build. `subscribe` calls the listener whenever the
 * set may have changed and returns the function that unsubscribes.
 */
export interface RingMemberSource {
  activeMembers(): RingMember[];
  subscribe(listener: () => void): () => void;
}

const GIB = 1024 ** 3;

/** A device weight from a backend capacity: GiB with 3 decimals (at least 0.001); 1 when unknown (0 or missing). */
export function weightFromCapacity(capacityBytes: number | undefined): number {
  if (capacityBytes === undefined || !Number.isFinite(capacityBytes) || capacityBytes <= 0) return 1;
  return Math.max(0.001, Math.round((capacityBytes / GIB) * 1000) / 1000);
}

export function memberToDevice(m: RingMember): RingDevice {
  return { id: m.name, zone: m.zone, weight: m.weight };
}

/**
 * Parses `ID:ZONE[:WEIGHT],...` (weight default 1). Names and zones are checked by the ring builder;
 * here only the shape: two or three fields, a weight that is a number >= 0, no empty entry.
 */
export function parseDeviceList(text: string): { value: RingDevice[]; error?: undefined } | { error: string } {
  const entries = text.split(',').map((s) => s.trim());
  if (text.trim() === '' || entries.some((e) => e === '')) return { error: `bad device list ${JSON.stringify(text)}: expected ID:ZONE[:WEIGHT],... (e.g. a:z1:1,b:z2:1)` };
  const out: RingDevice[] = [];
  for (const entry of entries) {
    const parts = entry.split(':');
    if (parts.length < 2 || parts.length > 3 || parts.some((p) => p === '')) {
      return { error: `bad device ${JSON.stringify(entry)}: expected ID:ZONE[:WEIGHT] (e.g. a:z1:1)` };
    }
    const [id, zone, w] = parts as [string, string, string | undefined];
    const weight = w === undefined ? 1 : Number(w);
    if (w !== undefined && (!/^\d+(\.\d+)?$/.test(w) || !Number.isFinite(weight))) {
      return { error: `bad device ${JSON.stringify(entry)}: the weight must be a number >= 0, got ${JSON.stringify(w)}` };
    }
    out.push({ id, zone, weight });
  }
  return { value: out };
}

/** One registered node as stored under `/flotilla/nodes/` (only what a ring needs). */
interface NodeRecordLike {
  name?: unknown;
  zone?: unknown;
  roles?: unknown;
  leftAt?: unknown;
  backend?: { capacityBytes?: unknown } | null;
}

/**
 * Ring members from node records (JSON values of `/flotilla/nodes/<name>`): every record with a string
 * name and zone that has not left, and, when `role` is given, lists that role. Records that are not
 * JSON objects are reported in `skipped`.
 */
export function membersFromNodeRecords(values: readonly (Buffer | string)[], options: { role?: string } = {}): { members: RingMember[]; skipped: string[] } {
  const members: RingMember[] = [];
  const skipped: string[] = [];
  values.forEach((value, i) => {
    let rec: NodeRecordLike;
    try {
      rec = JSON.parse(value.toString()) as NodeRecordLike;
    } catch {
      skipped.push(`record ${i}: not JSON`);
      return;
    }
    if (rec === null || typeof rec !== 'object' || typeof rec.name !== 'string' || typeof rec.zone !== 'string') {
      skipped.push(`record ${i}: no name and zone`);
      return;
    }
    if (rec.leftAt !== undefined) return;
    if (options.role !== undefined && Array.isArray(rec.roles) && !rec.roles.includes(options.role)) return;
    const capacity = rec.backend?.capacityBytes;
    members.push({ name: rec.name, zone: rec.zone, weight: weightFromCapacity(typeof capacity === 'number' ? capacity : undefined) });
  });
  return { members: members.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)), skipped };
}

/** What memberSourceFromView needs of the membership view (src/cluster/membership). */
export interface MembershipViewLike {
  members(): { status: string; registered: boolean; record: { name: string; zone: string; roles: string[]; backend: { capacityBytes: number } } }[];
  on(event: 'view:changed', listener: () => void): unknown;
  off(event: 'view:changed', listener: () => void): unknown;
}

/** ACTIVE, registered members of the view (with `role` when given), as ring members. */
export function memberSourceFromView(view: MembershipViewLike, options: { role?: string } = {}): RingMemberSource {
  return {
    activeMembers: () =>
      view
        .members()
        .filter((m) => m.status === 'ACTIVE' && m.registered && (options.role === undefined || m.record.roles.includes(options.role)))
        .map((m) => ({ name: m.record.name, zone: m.record.zone, weight: weightFromCapacity(m.record.backend.capacityBytes) })),
    subscribe: (listener) => {
      view.on('view:changed', listener);
      return () => void view.off('view:changed', listener);
    },
  };
}
