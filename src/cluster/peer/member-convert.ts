/** MemberState (domain) <-> flotilla.v1.Member (wire). */
import { create } from '@bufbuild/protobuf';
import { MemberSchema, MemberStatus as WireStatus, type Member } from '../../gen/flotilla/v1/cluster_pb.js';
import type { MemberState, MemberStatus } from '../membership/membership-view.js';

const toWire: Record<MemberStatus, WireStatus> = { ACTIVE: WireStatus.ACTIVE, DISCONNECTED: WireStatus.DISCONNECTED, SHUTOFF: WireStatus.SHUTOFF };

export function toMemberMessage(m: MemberState): Member {
  const r = m.record;
  return create(MemberSchema, {
    name: r.name,
    peerAddress: r.peerAddress,
    httpAddress: r.httpAddress,
    roles: r.roles,
    zone: r.zone,
    backendKind: r.backend.kind,
    backendLocation: r.backend.location,
    capacityBytes: BigInt(Math.round(r.backend.capacityBytes)),
    freeBytes: BigInt(Math.round(r.backend.freeBytes)),
    readMbps: r.backend.readMBps,
    writeMbps: r.backend.writeMBps,
    version: r.version,
    startedAtMs: BigInt(Date.parse(r.startedAt) || 0),
    status: toWire[m.status],
    registered: m.registered,
    ...(m.rttMs !== undefined ? { rttMs: m.rttMs } : {}),
    rings: Object.fromEntries(Object.entries(r.rings).map(([k, v]) => [k, BigInt(v)])),
    distances: m.distances,
    incarnation: r.incarnation,
    statusSinceMs: BigInt(m.statusSinceMs),
  });
}

/** A member as a client prints it (plain numbers and strings; JSON-friendly). */
export interface MemberSummary {
  name: string;
  status: MemberStatus | 'UNKNOWN';
  registered: boolean;
  peerAddress: string;
  httpAddress: string;
  roles: string[];
  zone: string;
  backend: { kind: string; location: string; capacityBytes: number; freeBytes: number; readMBps: number; writeMBps: number };
  version: string;
  startedAt: string;
  rttMs: number | null;
  rings: Record<string, number>;
  distances: Record<string, number>;
  statusSince: string;
}

const fromWire: Record<number, MemberStatus> = { [WireStatus.ACTIVE]: 'ACTIVE', [WireStatus.DISCONNECTED]: 'DISCONNECTED', [WireStatus.SHUTOFF]: 'SHUTOFF' };

export function fromMemberMessage(m: Member): MemberSummary {
  return {
    name: m.name,
    status: fromWire[m.status] ?? 'UNKNOWN',
    registered: m.registered,
    peerAddress: m.peerAddress,
    httpAddress: m.httpAddress,
    roles: m.roles,
    zone: m.zone,
    backend: {
      kind: m.backendKind,
      location: m.backendLocation,
      capacityBytes: Number(m.capacityBytes),
      freeBytes: Number(m.freeBytes),
      readMBps: m.readMbps,
      writeMBps: m.writeMbps,
    },
    version: m.version,
    startedAt: new Date(Number(m.startedAtMs)).toISOString(),
    rttMs: m.rttMs ?? null,
    rings: Object.fromEntries(Object.entries(m.rings).map(([k, v]) => [k, Number(v)])),
    distances: m.distances,
    statusSince: new Date(Number(m.statusSinceMs)).toISOString(),
  };
}
