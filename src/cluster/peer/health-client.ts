/** The health check client (KV-5): asks one process for its health and measures the round trip. */
import { performance } from 'node:perf_hooks';
import { create } from '@bufbuild/protobuf';
import { parseHostPort } from '../../core/config.js';
import { CheckHealthRequestSchema, ListMembersRequestSchema, ProcessRole, ServingStatus } from '../../gen/flotilla/v1/cluster_pb.js';
import { fromMemberMessage, type MemberSummary } from './member-convert.js';
import { peerCallError, type PeerClients } from './peer-client.js';

export interface HealthReport {
  address: string;
  /** True when it answered and says it is serving. */
  healthy: boolean;
  name?: string;
  role?: 'server' | 'node' | 'unknown';
  version?: string;
  /** Random per process start. */
  incarnation?: string;
  serving?: boolean;
  uptimeMs?: number;
  rttMs?: number;
  coordinationReachable?: boolean;
  /** Why it is not healthy. */
  error?: string;
}

export async function checkPeerHealth(address: string, peers: PeerClients, options: { timeoutMs?: number; from?: string } = {}): Promise<HealthReport> {
  const p = parseHostPort(address);
  if (p.error !== undefined) return { address, healthy: false, error: `invalid address: ${p.error}` };
  const started = performance.now();
  try {
    const res = await peers
      .cluster(address)
      .checkHealth(create(CheckHealthRequestSchema, { from: options.from ?? '', sentAtMs: BigInt(Date.now()) }), { timeoutMs: options.timeoutMs ?? 3000 });
    const serving = res.status === ServingStatus.SERVING;
    return {
      address,
      healthy: serving,
      name: res.name,
      role: res.role === ProcessRole.SERVER ? 'server' : res.role === ProcessRole.NODE ? 'node' : 'unknown',
      version: res.version,
      incarnation: res.incarnation,
      serving,
      uptimeMs: Number(res.uptimeMs),
      rttMs: Math.round((performance.now() - started) * 100) / 100,
      coordinationReachable: res.coordinationReachable,
      ...(serving ? {} : { error: 'not serving' }),
    };
  } catch (err) {
    return { address, healthy: false, error: peerCallError(err, address, 'CheckHealth').rawMessage };
  }
}

export interface MembersReport {
  /** Name of the process whose view this is. */
  observer: string;
  coordinationReachable: boolean;
  members: MemberSummary[];
}

/** Asks the process at `address` for its membership view (what `flotilla status` prints). */
export async function fetchMembers(address: string, peers: PeerClients, options: { timeoutMs?: number } = {}): Promise<MembersReport> {
  try {
    const res = await peers.cluster(address).listMembers(create(ListMembersRequestSchema, {}), { timeoutMs: options.timeoutMs ?? 5000 });
    return { observer: res.observer, coordinationReachable: res.coordinationReachable, members: res.members.map(fromMemberMessage) };
  } catch (err) {
    throw peerCallError(err, address, 'ListMembers');
  }
}
