/**
 * The public door of src/cluster: membership (registration, the membership view with peer health and
 * distances, joining), the peer gRPC server and clients with ClusterService, and partition rings.
 */
export { advertisedAddress, createPeerServer, formatAddress } from './peer/peer-server.js';
export type { PeerServer, PeerServerOptions } from './peer/peer-server.js';
export { createPeerClients, peerCallError, toConnectError } from './peer/peer-client.js';
export type { ClusterClient, PeerClients, PeerClientsOptions } from './peer/peer-client.js';
export { createClusterServiceImpl, registerClusterService } from './peer/cluster-service.js';
export type { ClusterServiceDeps } from './peer/cluster-service.js';
export { fromMemberMessage, toMemberMessage } from './peer/member-convert.js';
export type { MemberSummary } from './peer/member-convert.js';
export { checkPeerHealth, fetchMembers } from './peer/health-client.js';
export type { HealthReport, MembersReport } from './peer/health-client.js';
export {
  DISTANCES_PREFIX,
  MEMBERS_PREFIX,
  NODES_PREFIX,
  NODE_NAME_PATTERN,
  NODE_ROLES,
  distancesKey,
  encodeNodeRecord,
  memberKey,
  nodeKey,
  nodeNameSchema,
  nodeRecordSchema,
  parseDistances,
  parseNodeRecord,
} from './membership/node-record.js';
export type { BackendInfo, NodeRecord, NodeRole } from './membership/node-record.js';
export { backendSpace, parseBackendSpec, probeBackend } from './membership/backend-info.js';
export type { BackendSpec, ProbeOptions } from './membership/backend-info.js';
export { loadOrCreateNodeId, newIncarnation } from './membership/node-identity.js';
export { createRegistration } from './membership/registration.js';
export type { IdentityProbe, Registration, RegistrationOptions } from './membership/registration.js';
export { MembershipView } from './membership/membership-view.js';
export type { MemberState, MemberStatus, MembershipEventMap, MembershipViewOptions } from './membership/membership-view.js';
export { PeerHealth } from './membership/peer-health.js';
export type { PeerHealthOptions, PeerHealthState } from './membership/peer-health.js';
export { createDistancePublisher } from './membership/distance-publisher.js';
export type { DistancePublisher, DistancePublisherOptions } from './membership/distance-publisher.js';
export { fetchJoinInfo, joinFromPeerList } from './membership/join.js';
export type { JoinInfo, JoinOptions } from './membership/join.js';
export * from './ring/index.js';
export * from './rings/index.js';
