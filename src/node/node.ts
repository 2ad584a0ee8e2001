/**
 * Composition root of `flotilla node`: identity and backend probe, the peer gRPC server (ClusterService)
 * and HTTP server, the coordination store (its own embedded one for local_setup, or found by joining),
 * the registration, the membership view and the distance publisher, and the roles' services: the KV
 * replica (kv) and the monitoring agent (agent). No logic of its own.
 */
import { join } from 'node:path';
import { Lifecycle } from '../core/lifecycle.js';
import type { Logger } from '../core/log.js';
import { version } from '../core/version.js';
import { createCoord, createEmbeddedCoordServer, type Coord } from '../coord/index.js';
import {
  advertisedAddress,
  backendSpace,
  checkPeerHealth,
  createClusterServiceImpl,
  createDistancePublisher,
  createPeerClients,
  createPeerServer,
  createRegistration,
  fetchJoinInfo,
  joinFromPeerList,
  loadOrCreateNodeId,
  MembershipView,
  newIncarnation,
  parseBackendSpec,
  probeBackend,
  registerClusterService,
  type BackendInfo,
  type DistancePublisher,
  type NodeRecord,
  type Registration,
} from '../cluster/index.js';
import { createClusterRings } from '../cluster/index.js';
import { createHttpServer, type HttpServer } from '../http/index.js';
import { createNodeKv, kvDataDir, registerKvHttpRoutes } from '../kv/index.js';
import { createAgent, type Agent } from '../monitor/index.js';
import { createNodeObjects, createXferServer, registerS3Routes } from '../objects/index.js';
import type { NodeConfig } from './config.js';
import { createAuthGuard, rateLimitOption, readTokenFile, resolveAuthMode, TokenRegistry } from '../auth/index.js';
import { setDefaultCallToken } from '../core/grpc-client.js';
import { Code, FlotillaError } from '../core/errors.js';

export interface NodeProcess {
  readonly lifecycle: Lifecycle;
  readonly http: HttpServer;
  /** host:port other processes dial (after start). */
  peerAddress(): string;
  /** The coordination endpoints in use (after start). */
  coordEndpoints(): string[];
  /** How it joined: local_setup, remote_setup through an address, a peer list, or direct endpoints. */
  joinedVia(): string;
  view(): MembershipView | undefined;
}

export function createNodeProcess(config: NodeConfig, logger: Logger): NodeProcess {
  const lifecycle = new Lifecycle({ logger });
  const startedAt = new Date();
  const incarnation = newIncarnation();
  const peers = createPeerClients();
  const backendSpec = parseBackendSpec(config.backend);
  let nodeId = '';
  let backend: BackendInfo | undefined;
  let endpoints: string[] = [];
  let joinedVia = '';
  /** gRPC addresses of the servers learned when joining (the agent streams to the first). */
  let servers: string[] = [];
  let coord: Coord | undefined;
  let registration: Registration | undefined;
  let view: MembershipView | undefined;
  let serving = false;

  lifecycle.add({ name: 'peer-clients', start: async () => undefined, stop: async () => peers.close() });
  // Authentication (docs/security.md): the join token goes on every call this node makes; the tokens it
  // accepts are the cluster's, read from the coordination store once joined.
  const joinTokenGiven = config.joinToken !== undefined || config.joinTokenFile !== undefined;
  const authOn = resolveAuthMode({
    auth: config.auth,
    insecureNoAuth: config.insecureNoAuth,
    listeners: [config.listen, config.http, ...(config.roles.includes('objects') && config.xfer !== undefined && config.xfer !== 'off' ? [config.xfer] : [])],
    ...(joinTokenGiven ? { alsoOnBecause: 'this node was given a join token' } : {}),
    logger,
    processName: 'node',
  });
  const tokens = new TokenRegistry({ coord: () => coord!, logger: logger.child({ component: 'auth' }) });
  const guard = authOn ? createAuthGuard(() => (tokens.ready ? tokens : undefined), rateLimitOption(config)) : undefined;
  lifecycle.add({
    name: 'join-token',
    async start() {
      let token = config.joinToken;
      if (token === undefined && config.joinTokenFile !== undefined) {
        token = await readTokenFile(config.joinTokenFile);
        if (token === undefined) throw new FlotillaError(Code.CONFIG_INVALID, `--join-token-file ${config.joinTokenFile} does not exist or is empty`);
      }
      if (token !== undefined) setDefaultCallToken(token);
      else if (authOn) logger.warn('no join token (--join-token, FLOTILLA_JOIN_TOKEN or --join-token-file): processes that check tokens will refuse this node');
    },
    stop: async () => undefined,
  });
  lifecycle.add({
    name: 'identity',
    async start() {
      nodeId = await loadOrCreateNodeId(config.dataDir);
      if (backendSpec.error !== undefined) throw new Error(backendSpec.error);
      backend = await probeBackend(backendSpec.value);
    },
    stop: async () => undefined,
  });
  const peer = lifecycle.add(
    createPeerServer({
      listen: config.listen,
      logger,
      ...(guard !== undefined ? { authorize: (req) => guard.checkGrpc(req.url, req.headers, req.socket?.remoteAddress) } : {}),
      fastPath: (req, res) => kv?.unaryHandler(req, res) ?? false,
      fastStream: (stream, headers) => kv?.unaryHandler.stream(stream, headers) ?? false,
      routes: (router) => {
        kv?.routes(router);
        registerClusterService(
          router,
          createClusterServiceImpl({
            name: config.name,
            role: 'node',
            version,
            incarnation,
            startedAtMs: startedAt.getTime(),
            serving: () => serving,
            coordEndpoints: () => endpoints,
            serverAddresses: () => servers,
            members: () => view?.members() ?? [],
            coordinationReachable: () => view?.coordinationReachable ?? false,
          }),
        );
      },
    }),
  );
  const rings = createClusterRings({ coord: () => coord!, logger: logger.child({ component: 'rings' }), onChange: () => void registration?.refresh() });
  const http = lifecycle.add(
    createHttpServer({
      listen: config.http,
      logger,
      processName: config.name,
      version,
      ...(guard !== undefined ? { authorize: (r) => void guard.checkHttp({ method: r.method, url: r.url, routeUrl: r.routeOptions.url, headers: r.headers, remoteAddress: r.ip }) } : {}),
      readiness: {
        registration: async () => {
          if (registration?.registered !== true) throw new Error('not registered');
        },
        // Registration comes before the roles' services start; the node is ready once all of them are up.
        started: async () => {
          if (!serving) throw new Error('starting');
        },
        ...Object.fromEntries(config.needRings.map((n) => [`ring:${n}`, rings.readiness(n)])),
      },
    }),
  );

  if (config.mode.kind === 'local') {
    const store = createEmbeddedCoordServer({ listen: config.mode.coordListen, dataDir: join(config.dataDir, 'coord'), logger: logger.child({ component: 'coord' }) });
    lifecycle.add({ name: 'coord-store', start: () => store.start(), stop: () => store.stop() });
    lifecycle.add({
      name: 'local-setup',
      async start() {
        endpoints = [store.address];
        joinedVia = `local_setup (own coordination store at ${store.address})`;
      },
      stop: async () => undefined,
    });
  } else {
    const mode = config.mode;
    lifecycle.add({
      name: 'join',
      async start() {
        if (mode.kind === 'etcd') {
          endpoints = mode.endpoints;
          joinedVia = `coordination endpoints ${endpoints.join(',')}`;
        } else if (mode.kind === 'join') {
          const info = await fetchJoinInfo(mode.address, { peers, name: config.name });
          endpoints = info.coordEndpoints;
          servers = info.serverAddresses;
          joinedVia = `remote_setup through ${info.answeredBy} at ${info.via}`;
        } else {
          const info = await joinFromPeerList(mode.addresses, { peers, name: config.name });
          for (const u of info.unreachable) logger.warn({ peer: u.address, err: u.error }, 'listed peer does not answer');
          endpoints = info.coordEndpoints;
          servers = info.serverAddresses;
          joinedVia = `peer list, through ${info.answeredBy} at ${info.via}`;
        }
      },
      stop: async () => undefined,
    });
  }

  lifecycle.add({
    name: 'coord-client',
    async start() {
      coord = await createCoord({ endpoints, requestTimeoutMs: 3000, watchMaxBackoffMs: 1000, logger: logger.child({ component: 'coord-client' }) });
    },
    async stop() {
      await coord?.close();
    },
  });

  if (authOn) lifecycle.add(tokens);
  lifecycle.add(rings);
  http.app.get('/api/v1/rings', async () => rings.summary());

  const describe = async (): Promise<NodeRecord> => ({
    name: config.name,
    nodeId,
    incarnation,
    peerAddress: advertisedAddress(config.listen, peer.port, config.advertiseHost),
    httpAddress: advertisedAddress(config.http, Number(http.address.split(':').pop()), config.advertiseHost),
    roles: config.roles,
    zone: config.zone,
    backend: { ...backend!, ...(await backendSpace(backend!.location).catch(() => ({}))) },
    version,
    startedAt: startedAt.toISOString(),
    rings: rings.versions(),
  });

  lifecycle.add({
    name: 'registration',
    async start() {
      registration = createRegistration({
        coord: coord!,
        describe,
        ttlSeconds: config.leaseTtl,
        probe: async (address) => {
          const r = await checkPeerHealth(address, peers, { timeoutMs: 1000, from: config.name });
          return r.name !== undefined ? { name: r.name, incarnation: r.incarnation ?? '' } : undefined;
        },
        logger: logger.child({ component: 'registration' }),
      });
      await registration.start();
    },
    async stop() {
      await registration?.stop();
    },
  });
  lifecycle.add({
    name: 'membership',
    async start() {
      view = new MembershipView({
        coord: coord!,
        peers,
        self: config.name,
        failureTimeoutMs: config.failureTimeout,
        healthIntervalMs: config.healthInterval,
        logger: logger.child({ component: 'membership' }),
      });
      await view.start();
    },
    async stop() {
      await view?.stop();
    },
  });
  let distances: DistancePublisher | undefined;
  lifecycle.add({
    name: 'distances',
    async start() {
      distances = createDistancePublisher({
        coord: coord!,
        name: config.name,
        distances: () => view?.distances() ?? {},
        lease: () => registration?.lease(),
        logger,
      });
      distances.start();
    },
    async stop() {
      await distances?.stop();
    },
  });
  const kv = config.roles.includes('kv')
    ? lifecycle.add(
        createNodeKv({
          self: config.name,
          dataDir: kvDataDir(config.dataDir),
          ring: () => (rings.versions().kv !== undefined ? rings.watcher().get('kv') : undefined),
          view: () => view,
          logger: logger.child({ component: 'kv' }),
        }),
      )
    : undefined;
  if (kv !== undefined) registerKvHttpRoutes(http.app, { coordinator: () => kv.coordinator });
  const objects = config.roles.includes('objects')
    ? lifecycle.add(
        createNodeObjects({
          self: config.name,
          dataDir: config.dataDir,
          backend: backendSpec.value ?? { kind: 'dir', path: join(config.dataDir, 'objects') },
          coord: () => coord!,
          ring: (name) => rings.get(name),
          view: () => view,
          replicateIntervalMs: config.replicateInterval,
          auditIntervalMs: config.auditInterval,
          tombstoneGraceMs: config.tombstoneGrace,
          multipartExpiryMs: config.multipartExpiry,
          logger: logger.child({ component: 'objects' }),
        }),
      )
    : undefined;
  if (objects !== undefined) {
    objects.registerRoutes(http.app);
    registerS3Routes(http.app, objects.service, {
      credentials: config.s3Credentials.map((c) => ({ accessKeyId: c.slice(0, c.indexOf(':')), secretAccessKey: c.slice(c.indexOf(':') + 1) })),
      logger: logger.child({ component: 's3' }),
    });
    if (authOn && config.xfer === undefined) {
      logger.info('file transfer endpoints (/upload, /download) not started: with authentication on, pass --xfer HOST:PORT to run them (they take an API token with the objects scope)');
    } else if (config.xfer !== 'off') {
      const xfer = createXferServer({
        listen: config.xfer ?? '0.0.0.0:5001',
        service: () => objects.service,
        logger: logger.child({ component: 'xfer' }),
        ...(authOn ? { tokens: () => (tokens.ready ? tokens : undefined) } : {}),
      });
      lifecycle.add({
        name: 'xfer',
        async start() {
          try {
            await xfer.start();
          } catch (err) {
            if (config.xfer !== undefined) throw err;
            logger.warn({ err: (err as Error).message }, 'file transfer endpoints not started: the default port 5001 is taken (pass --xfer HOST:PORT)');
          }
        },
        stop: () => xfer.stop(),
      });
    }
  }
  let agent: Agent | undefined;
  if (config.roles.includes('agent')) {
    lifecycle.add({
      name: 'monitor-agent',
      async start() {
        const server = config.monitorServer ?? servers[0];
        if (server === undefined) {
          logger.warn('agent role: no monitoring server known (this node joined without one); pass --monitor-server HOST:PORT to stream metrics');
          return;
        }
        agent = createAgent({ hostname: config.name, server, coord: coord!, dataDir: join(config.dataDir, 'agent'), labels: config.labels, logger: logger.child({ component: 'agent' }) });
        await agent.start();
      },
      async stop() {
        await agent?.stop();
      },
    });
  }
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
    peerAddress: () => advertisedAddress(config.listen, peer.port, config.advertiseHost),
    coordEndpoints: () => endpoints,
    joinedVia: () => joinedVia,
    view: () => view,
  };
}
