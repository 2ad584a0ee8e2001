/**
 * ClusterService as served by every Flotilla process: health (with a time echo for RTT), join
 * information, and this process's membership view. Domain values are converted here, at the edge.
 */
import { create } from '@bufbuild/protobuf';
import type { ConnectRouter, ServiceImpl } from '@connectrpc/connect';
import {
  CheckHealthResponseSchema,
  ClusterService,
  GetJoinInfoResponseSchema,
  ListMembersResponseSchema,
  ProcessRole,
  ServingStatus,
} from '../../gen/flotilla/v1/cluster_pb.js';
import type { MemberState } from '../membership/membership-view.js';
import { toMemberMessage } from './member-convert.js';
import { toConnectError } from './peer-client.js';

export interface ClusterServiceDeps {
  /** Node name, or the server's name. */
  name: string;
  role: 'server' | 'node';
  version: string;
  incarnation: string;
  startedAtMs: number;
  /** False while starting or stopping. */
  serving: () => boolean;
  /** The coordination endpoints in use (empty before they are known). */
  coordEndpoints: () => string[];
  /** gRPC addresses of the control-plane servers known here (a server names itself). Default: none. */
  serverAddresses?: () => string[];
  /** The membership view (empty before it is loaded). */
  members: () => MemberState[];
  coordinationReachable: () => boolean;
}

export function createClusterServiceImpl(deps: ClusterServiceDeps): ServiceImpl<typeof ClusterService> {
  return {
    checkHealth(req) {
      return create(CheckHealthResponseSchema, {
        name: deps.name,
        role: deps.role === 'server' ? ProcessRole.SERVER : ProcessRole.NODE,
        version: deps.version,
        status: deps.serving() ? ServingStatus.SERVING : ServingStatus.NOT_SERVING,
        uptimeMs: BigInt(Date.now() - deps.startedAtMs),
        sentAtMs: req.sentAtMs,
        answeredAtMs: BigInt(Date.now()),
        incarnation: deps.incarnation,
        coordinationReachable: deps.coordinationReachable(),
      });
    },
    getJoinInfo() {
      try {
        return create(GetJoinInfoResponseSchema, {
          coordEndpoints: deps.coordEndpoints(),
          members: deps.members().map(toMemberMessage),
          answeredBy: deps.name,
          serverAddresses: deps.serverAddresses?.() ?? [],
        });
      } catch (err) {
        throw toConnectError(err);
      }
    },
    listMembers() {
      return create(ListMembersResponseSchema, {
        observer: deps.name,
        members: deps.members().map(toMemberMessage),
        coordinationReachable: deps.coordinationReachable(),
      });
    },
  };
}

export function registerClusterService(router: ConnectRouter, impl: ServiceImpl<typeof ClusterService>): void {
  router.service(ClusterService, impl);
}
