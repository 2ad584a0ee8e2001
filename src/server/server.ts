/**
 * Composition root of `flotilla server`: the coordination store (embedded, unless real etcd endpoints are
 * given), a coordination client, and the HTTP server. No logic of its own: it wires modules together.
 */
import { join } from 'node:path';
import { Lifecycle } from '../core/lifecycle.js';
import type { Logger } from '../core/log.js';
import { version } from '../core/version.js';
import { createCoord, createEmbeddedCoordServer, type Coord } from '../coord/index.js';
import { createHttpServer, type HttpServer } from '../http/index.js';
import type { ServerConfig } from './config.js';

export interface ServerProcess {
  readonly lifecycle: Lifecycle;
  readonly http: HttpServer;
  /** The coordination endpoints in use (the embedded store's address, or the etcd endpoints). */
  coordEndpoints(): string[];
  readonly coord: () => Coord;
}

export function createServerProcess(config: ServerConfig, logger: Logger): ServerProcess {
  const lifecycle = new Lifecycle({ logger });
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

  return {
    lifecycle,
    http,
    coordEndpoints: endpoints,
    coord: () => {
      if (coord === undefined) throw new Error('server not started');
      return coord;
    },
  };
}
