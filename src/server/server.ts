/**
 * Composition root of `flotilla server`: the coordination store (embedded, unless real etcd endpoints are
 * given), a coordination client, the gRPC server (ClusterService: joining, health, the membership view),
 * the membership view, the monitoring server (agent streams on the gRPC listener, the agents' view on
 * the HTTP API), and the HTTP server. No logic of its own: it wires modules together.
 */
import { join } from 'node:path';
import { formatHostPort, requireHostPort } from '../core/address.js';
import { Code, FlotillaError } from '../core/errors.js';
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
import {
  createMetricsExporter,
  createMonitorServer,
  createRuleManager,
  createTsdb,
  createWebhookSender,
  registerQueryRoutes,
  registerTsdbMetrics,
  type MetricsExporter,
  type MonitorServer,
  type RuleManager,
  type Tsdb,
} from '../monitor/index.js';
import { createAgentDispatcher, FlowService, registerFlowMetrics, registerFlowRoutes } from '../flows/index.js';
import { createPubsubService } from '../pubsub/index.js';
import type { ServerConfig } from './config.js';
import { registerDashboardRoutes } from './dashboard-routes.js';
import { registerDataProxy } from './data-proxy.js';
import { registerRingRoutes } from './ring-routes.js';
import { registerOverviewRoutes } from './overview-routes.js';
import { registerWebApp } from '../http/web-app.js';
import { createObjectRingBuilders } from '../objects/index.js';
import { bootstrapTokens, createAuthGuard, rateLimitOption, createCoordStoreAuthorizer, createToken, isLoopbackHost, registerAuthRoutes, resolveAuthMode, TokenRegistry, type BootstrapResult } from '../auth/index.js';
import { randomBytes } from 'node:crypto';
import { registerOidcLogin } from '../http/oidc-login.js';
import { setDefaultCallToken } from '../core/grpc-client.js';

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
  /** The metric history (SampleQuerier for the query API and rules; SampleAppender). */
  readonly tsdb: Tsdb;
  /** Recording and alerting rules (`--rules`); undefined when none are configured. */
  readonly rules: RuleManager | undefined;
  /** Authentication: whether it is enforced, and the bootstrap's tokens (after start). */
  readonly auth: { readonly enabled: boolean; bootstrap(): BootstrapResult | undefined };
}

export function createServerProcess(config: ServerConfig, logger: Logger): ServerProcess {
  const lifecycle = new Lifecycle({ logger });
  const startedAtMs = Date.now();
  const peers = createPeerClients();
  let view: MembershipView | undefined;
  let serving = false;
  lifecycle.add({ name: 'peer-clients', start: async () => undefined, stop: async () => peers.close() });
  const embedded = config.etcd.length === 0;
  // Authentication (docs/security.md): tokens live in the coordination store; this process keeps a copy.
  const authOn = resolveAuthMode({
    auth: config.auth,
    insecureNoAuth: config.insecureNoAuth,
    listeners: [config.listen, config.http],
    logger,
    processName: 'server',
  });
  // The embedded store takes the join token and admin tokens; this secret lets the server's own client in
  // before the token list is loaded (it reads that list from the store).
  const coordSecret = `flti_${randomBytes(32).toString('base64url')}`;
  const coordAuth = authOn ? { authorize: createCoordStoreAuthorizer({ verifier: () => (tokens.ready ? tokens : undefined), internalToken: coordSecret }) } : undefined;
  const store = embedded
    ? lifecycle.add({
        name: 'coord-store',
        server: createEmbeddedCoordServer({ listen: config.coordListen, dataDir: join(config.dataDir, 'coord'), logger: logger.child({ component: 'coord' }), ...(coordAuth !== undefined ? { auth: coordAuth } : {}) }),
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
      coord = await createCoord({ endpoints: endpoints(), logger: logger.child({ component: 'coord-client' }), ...(embedded ? { token: coordSecret } : {}) });
    },
    async stop() {
      await coord?.close();
    },
  });

  const tokens = new TokenRegistry({ coord: () => coord!, logger: logger.child({ component: 'auth' }) });
  let bootstrap: BootstrapResult | undefined;
  lifecycle.add({
    name: 'auth',
    async start() {
      bootstrap = await bootstrapTokens({ coord: coord!, dataDir: config.dataDir, logger: logger.child({ component: 'auth' }), ...(config.joinToken !== undefined ? { joinToken: config.joinToken } : {}) });
      setDefaultCallToken(bootstrap.joinToken);
      await tokens.start();
    },
    async stop() {
      await tokens.stop();
    },
  });
  const guard = authOn ? createAuthGuard(() => (tokens.ready ? tokens : undefined), rateLimitOption(config)) : undefined;

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

  // Metric history: added before the monitor server so that it stops after it (every acked batch is in it).
  const tsdb = lifecycle.add(
    createTsdb({ dir: join(config.dataDir, 'tsdb'), retentionMs: config.tsdbRetention, maxBytes: config.tsdbMaxBytes, logger: logger.child({ component: 'tsdb' }) }),
  );
  const monitorServer = createMonitorServer({
    store: tsdb,
    coord: () => coord!,
    logger: logger.child({ component: 'monitor' }),
    logSamples: config.logSamples,
    onSamples: (host, scrapes) => exporter.offerScrapes(host, scrapes),
  });
  // Added before the monitor server so that it stops after it: every sample taken is offered to remote write.
  const exporter: MetricsExporter = lifecycle.add(createMetricsExporter({ view: monitorServer.view, logger: logger.child({ component: 'export' }), destinations: config.remoteWrite }));
  const monitor = lifecycle.add(monitorServer);

  // Rules read and write the metric history: started after it, stopped before it; the webhook sender stops last.
  const webhooks = config.alertWebhook.length > 0 ? createWebhookSender({ urls: config.alertWebhook, logger: logger.child({ component: 'alerts' }) }) : undefined;
  if (webhooks !== undefined) lifecycle.add({ name: 'alert-webhooks', start: async () => undefined, stop: () => webhooks.stop() });
  const rules =
    config.rules.length > 0
      ? lifecycle.add(
          createRuleManager({
            files: config.rules,
            querier: tsdb,
            appender: tsdb,
            logger: logger.child({ component: 'rules' }),
            ...(webhooks !== undefined ? { webhooks } : {}),
            externalUrl: `http://${config.http.replace(/^0\.0\.0\.0:/, '127.0.0.1:')}`,
          }),
        )
      : undefined;

  const grpc = lifecycle.add(
    createPeerServer({
      listen: config.listen,
      logger,
      fastPath: monitor.streamHandler,
      ...(guard !== undefined ? { authorize: (req) => guard.checkGrpc(req.url, req.headers, req.socket?.remoteAddress) } : {}),
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

  if (config.expectNodes !== undefined) {
    lifecycle.add(createObjectRingBuilders({ coord: () => coord!, watcher: () => rings.watcher(), members: () => memberSourceFromView(view!, { role: 'objects' }), expectedNodes: config.expectNodes, logger: logger.child({ component: 'rings' }) }));
  }

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
      ...(guard !== undefined ? { authorize: (r) => void guard.checkHttp({ method: r.method, url: r.url, routeUrl: r.routeOptions.url, headers: r.headers, remoteAddress: r.ip }) } : {}),
      readiness: {
        coordination: async () => {
          if (coord === undefined) throw new Error('not started');
          await coord.get('/flotilla/ready-probe');
        },
      },
    }),
  );
  monitor.registerHttp(http.app);
  registerQueryRoutes(http.app, { querier: tsdb, rules: () => rules });
  exporter.registerHttp(http.app);
  pubsub.registerHttp(http.app);

  http.app.get('/api/v1/rings', async () => rings.summary());
  registerAuthRoutes(http.app, { coord: () => coord! });
  if (config.oidcIssuer !== undefined) {
    const { oidcIssuer: issuer, oidcClientId: clientId, oidcClientSecret: clientSecret, oidcRedirectUrl: redirectUrl } = config;
    if (clientId === undefined || clientSecret === undefined || redirectUrl === undefined) {
      throw new FlotillaError(Code.CONFIG_INVALID, 'OpenID Connect login needs --oidc-client-id, --oidc-client-secret (or FLOTILLA_OIDC_CLIENT_SECRET) and --oidc-redirect-url beside --oidc-issuer');
    }
    if (!authOn) throw new FlotillaError(Code.CONFIG_INVALID, 'OpenID Connect login needs authentication on (--auth on): its sessions are API tokens');
    registerOidcLogin(http.app, {
      issuer,
      clientId,
      clientSecret,
      redirectUrl,
      roles: { admin: config.oidcAdmins, operator: config.oidcOperators, reader: config.oidcReaders },
      ...(config.oidcDefaultRole !== undefined ? { defaultRole: config.oidcDefaultRole } : {}),
      // A provider on this machine (a test or a local development provider) may speak plain HTTP.
      allowInsecureIssuer: isLoopbackHost(new URL(issuer).hostname.replace(/^\[|\]$/g, '')),
      logger: logger.child({ component: 'oidc' }),
      mintSession: async (user) => {
        const t = await createToken(coord!, { name: `oidc:${user.email ?? user.subject}`, role: user.role, ttlMs: config.oidcSessionTtl, createdBy: 'oidc' });
        return { token: t.token, expiresAt: new Date(t.record.expiresAt ?? Date.now() + config.oidcSessionTtl) };
      },
    });
  }
  registerRingRoutes(http.app, { coord: () => coord!, view: () => view });
  lifecycle.add(registerDataProxy(http.app, { view: () => view, ring: (n) => rings.get(n) }));

  const flows = lifecycle.add(
    new FlowService({
      sql: () => sql!,
      coord: () => coord!,
      logger: logger.child({ component: 'flows' }),
      dataDir: join(config.dataDir, 'flows'),
      advertise: config.http.replace(/^0\.0\.0\.0:/, '127.0.0.1:'),
      remote: createAgentDispatcher(monitor.tasks),
      notifyPublish: async (channel, payload) => void (await pubsub.broker.publish({ channel, data: payload })),
    }),
  );
  registerFlowRoutes(http.app, flows);
  registerOverviewRoutes(http.app, { view: () => view, flows });
  registerFlowMetrics(exporter.registry, flows.metrics);
  registerTsdbMetrics(exporter.registry, () => tsdb.stats());
  lifecycle.add(registerDashboardRoutes(http.app, { view: () => view, grpcAddress: () => grpc.address, publishInternal: (c, d) => pubsub.broker.publishInternal(c, d), hasSubscribers: (c) => pubsub.broker.hasSubscribers(c), agents: monitor.view, flows }));
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
    tsdb,
    rules,
    auth: { enabled: authOn, bootstrap: () => bootstrap },
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
