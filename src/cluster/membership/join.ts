/**
 * Joining a cluster (OBJ-8). remote_setup: ask one member (the server or any node) for the coordination
 * endpoints, then register there. Static list: check every listed peer answers, then ask the first that
 * does. (local_setup, the first node with its own embedded store, needs no join.)
 */
import { create } from '@bufbuild/protobuf';
import { parseHostPort } from '../../core/config.js';
import { Code, FlotillaError } from '../../core/errors.js';
import { CheckHealthRequestSchema, GetJoinInfoRequestSchema } from '../../gen/flotilla/v1/cluster_pb.js';
import { peerCallError, type PeerClients } from '../peer/peer-client.js';

export interface JoinInfo {
  /** Coordination endpoints, dialable from here. */
  coordEndpoints: string[];
  /** gRPC addresses of the control-plane servers the answering process knows, dialable from here. */
  serverAddresses: string[];
  /** Names of the members the answering process knows. */
  members: string[];
  /** Who answered (its name) and at which address. */
  answeredBy: string;
  via: string;
}

export interface JoinOptions {
  peers: PeerClients;
  /** The joining node's name (for the member's log). */
  name: string;
  /** Per-call deadline. Default: 3000 ms. */
  timeoutMs?: number;
}

/** Replaces a wildcard host (0.0.0.0, ::) in `endpoint` with the host we dialled to reach the member. */
function dialableFrom(endpoint: string, via: string): string {
  const e = parseHostPort(endpoint);
  const v = parseHostPort(via);
  if (e.error !== undefined || v.error !== undefined) return endpoint;
  if (e.host !== '0.0.0.0' && e.host !== '::' && e.host !== '') return endpoint;
  return v.host.includes(':') ? `[${v.host}]:${e.port}` : `${v.host}:${e.port}`;
}

/** remote_setup through one address. */
export async function fetchJoinInfo(address: string, options: JoinOptions): Promise<JoinInfo> {
  const p = parseHostPort(address);
  if (p.error !== undefined) throw new FlotillaError(Code.CONFIG_INVALID, `invalid join address ${JSON.stringify(address)}: ${p.error}`);
  let res;
  try {
    res = await options.peers.cluster(address).getJoinInfo(create(GetJoinInfoRequestSchema, { name: options.name }), { timeoutMs: options.timeoutMs ?? 3000 });
  } catch (err) {
    const e = peerCallError(err, address, 'GetJoinInfo');
    throw new FlotillaError(e.code, `cannot join through ${address}: ${e.rawMessage}`, { cause: err });
  }
  if (res.coordEndpoints.length === 0) {
    throw new FlotillaError(Code.FAILED_PRECONDITION, `cannot join through ${address}: it knows no coordination endpoints`);
  }
  return {
    coordEndpoints: res.coordEndpoints.map((e) => dialableFrom(e, address)),
    serverAddresses: res.serverAddresses.map((e) => dialableFrom(e, address)),
    members: res.members.map((m) => m.name),
    answeredBy: res.answeredBy,
    via: address,
  };
}

/** Static list: every peer is checked; unreachable ones are reported; the first that answers is asked. */
export async function joinFromPeerList(
  addresses: string[],
  options: JoinOptions,
): Promise<JoinInfo & { unreachable: { address: string; error: string }[] }> {
  if (addresses.length === 0) throw new FlotillaError(Code.CONFIG_INVALID, '--peers needs at least one HOST:PORT');
  for (const a of addresses) {
    const p = parseHostPort(a);
    if (p.error !== undefined) throw new FlotillaError(Code.CONFIG_INVALID, `invalid peer address ${JSON.stringify(a)} in --peers: ${p.error}`);
  }
  const checks = await Promise.all(
    addresses.map(async (address) => {
      try {
        await options.peers
          .cluster(address)
          .checkHealth(create(CheckHealthRequestSchema, { from: options.name, sentAtMs: BigInt(Date.now()) }), { timeoutMs: options.timeoutMs ?? 3000 });
        return { address, error: undefined };
      } catch (err) {
        return { address, error: peerCallError(err, address, 'CheckHealth').rawMessage };
      }
    }),
  );
  const unreachable = checks.filter((c): c is { address: string; error: string } => c.error !== undefined);
  const first = checks.find((c) => c.error === undefined);
  if (first === undefined) {
    throw new FlotillaError(Code.UNAVAILABLE, `none of the peers answered: ${unreachable.map((u) => u.error).join('; ')}`);
  }
  return { ...(await fetchJoinInfo(first.address, options)), unreachable };
}
