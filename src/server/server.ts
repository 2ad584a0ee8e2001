/**
 * Composition root of `flotilla server`: the coordination store (embedded, unless real etcd endpoints are
 * given), a coordination client, the gRPC server (ClusterService: joining, health, the membership view),
 * the membership view, the monitoring server (agent streams on the gRPC listener, the agents' view on
 * the HTTP API), and the HTTP server. No logic of its own: it wires modules together.
 */
import { join } from 'node:path';
import { formatHostPort, requireHostPort } from '../core/address.js';
import { Lifecycle } from '../core/lifecycle.js';
import type { Logger } from '../core/log.js';
import { openSqlStore, type SqlStore } from '../core/sql/index.js';
import { version } from '../core/version.js';
import { createCoord, createEmbeddedCoordServer, type Coord } from '../coord/index.js';
import {
  createClusterRings,
  createClusterServiceImpl,
  createPeerClients,
  createPeerServer,
  memberSourceFromView,
  MembershipView,
  newIncarnation,
  registerClusterService,
  type PeerServer,
} from '../cluster/index.js';
import { createHttpServer, type HttpServer } from '../http/index.js';
import { createMonitorServer, type MonitorServer } from '../monitor/index.js';
import { FlowService, registerFlowRoutes } from '../flows/index.js';
import { createPubsubService } from '../pubsub/index.js';
import type { ServerConfig } from './config.js';
import { registerDashboardRoutes } from './dashboard-routes.js';
import { registerWebApp } from '../http/web-app.js';

export interface ServerProcess {
  readonly lifecycle: Lifecycle;
  readonly http: HttpServer;
  /** The gRPC server (ClusterService). */
  readonly grpc: PeerServer;
  view(): MembershipView | undefined;
  /** The coordination endpoints in use (the embedded store's address, or the etcd endpoints). */
  coordEndpoints(): string[];
  readonly coord: () => Coord;
  /** The SQL store (after start). */
  readonly sql: () => SqlStore;
  /** The monitoring server (agent streams, global view). */
  readonly monitor: MonitorServer;
}

export function createServerProcess(config: ServerConfig, logger: Logger): ServerProcess {
  const lifecycle = new Lifecycle({ logger });
  const startedAtMs = Date.now();
  const peers = createPeerClients();
  let view: MembershipView | undefined;
  let serving = false;
  lifecycle.add({ name: 'peer-clients', start: async () => undefined, stop: async () => peers.close() });
  const embedded = config.etcd.length === 0;
  const store = embedded
    ? lifecycle.add({
        name: 'coord-store',
        server: createEmbeddedCoordServer({ listen: config.coordListen, dataDir: join(config.dataDir, 'coord'), logger: logger.child({ component: 'coord' }) }),
        async start() {
          await this.server.start();
        },
        async stop() {
          await this.server.stop();
        },
      })
    : undefined;
  const endpoints = (): string[] => (store !== undefined ? [store.server.address] : config.etcd);

  let coord: Coord | undefined;
  lifecycle.add({
    name: 'coord-client',
    async start() {
      coord = await createCoord({ endpoints: endpoints(), logger: logger.child({ component: 'coord-client' }) });
    },
    async stop() {
      await coord?.close();
    },
  });

  let sql: SqlStore | undefined;
  lifecycle.add({
    name: 'sql-store',
    async start() {
      sql = await openSqlStore(config.db ?? `sqlite:${join(config.dataDir, 'flotilla.db')}`, { logger });
    },
    async stop() {
      await sql?.close();
    },
  });

  const monitor = lifecycle.add(
    createMonitorServer({
      coord: () => coord!,
      logger: logger.child({ component: 'monitor' }),
      logSamples: config.logSamples,
    }),
  );

  const grpc = lifecycle.add(
    createPeerServer({
      listen: config.listen,
      logger,
      routes: (router) => {
        monitor.registerGrpc(router);
        registerClusterService(
          router,
          createClusterServiceImpl({
            name: 'server',
            role: 'server',
            version,
            incarnation: newIncarnation(),
            startedAtMs,
            serving: () => serving,
            coordEndpoints: () => (coord !== undefined ? endpoints() : []),
            serverAddresses: () => (grpc.port > 0 ? [formatHostPort(requireHostPort(config.listen, '--listen').host, grpc.port)] : []),
            members: () => view?.members() ?? [],
            coordinationReachable: () => view?.coordinationReachable ?? false,
          }),
        );
      },
    }),
  );
  lifecycle.add({
    name: 'membership',
    async start() {
      view = new MembershipView({ coord: coord!, peers, self: 'server', logger: logger.child({ component: 'membership' }) });
      await view.start();
    },
    async stop() {
      await view?.stop();
    },
  });
  const rings = lifecycle.add(
    createClusterRings({
      coord: () => coord!,
      logger: logger.child({ component: 'rings' }),
      ...(config.expectNodes !== undefined ? { autoBuild: { expectedNodes: config.expectNodes, ringName: 'kv', members: () => memberSourceFromView(view!, { role: 'kv' }) } } : {}),
    }),
  );

  // Before the HTTP server: publishing works as soon as the server answers; connections end before it closes.
  const pubsub = lifecycle.add(
    createPubsubService({
      sql: () => sql!,
      logger: logger.child({ component: 'pubsub' }),
      dataDir: config.dataDir,
      ...(config.pubsubSecret !== undefined ? { tokenSecret: config.pubsubSecret } : {}),
      ...(config.nats !== undefined ? { natsUrl: config.nats } : {}),
    }),
  );

  const http = lifecycle.add(
    createHttpServer({
      listen: config.http,
      logger,
      processName: 'server',
      version,
      readiness: {
        coordination: async () => {
          if (coord === undefined) throw new Error('not started');
          await coord.get('/flotilla/ready-probe');
        },
      },
    }),
  );
  monitor.registerHttp(http.app);
  pubsub.registerHttp(http.app);

  http.app.get('/api/v1/rings', async () => rings.summary());

  const flows = lifecycle.add(
    new FlowService({
      sql: () => sql!,
      coord: () => coord!,
      logger: logger.child({ component: 'flows' }),
      dataDir: join(config.dataDir, 'flows'),
      advertise: config.http.replace(/^0\.0\.0\.0:/, '127.0.0.1:'),
    }),
  );
  registerFlowRoutes(http.app, flows);
  lifecycle.add(registerDashboardRoutes(http.app, { view: () => view, grpcAddress: () => grpc.address }));
  // Last: its catch-all route answers the app for every path no API route took.
  registerWebApp(http.app);

  lifecycle.add({
    name: 'serving',
    async start() {
      serving = true;
    },
    async stop() {
      serving = false;
    },
  });

  return {
    lifecycle,
    http,
    grpc,
    monitor,
    view: () => view,
    coordEndpoints: endpoints,
    sql: () => {
      if (sql === undefined) throw new Error('server not started');
      return sql;
    },
    coord: () => {
      if (coord === undefined) throw new Error('server not started');
      return coord;
    },
  };
}
