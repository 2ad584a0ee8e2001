/**
 * The scheduled-message capability as a server component: the broker plus its HTTP, WebSocket and SSE
 * routes. The channel-token secret comes from configuration, or is generated once and kept in
 * `<dataDir>/pubsub-secret` (mode 0600) so tokens stay valid across restarts.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { Code, FlotillaError } from '../core/errors.js';
import type { Component } from '../core/lifecycle.js';
import type { SqlStore } from '../core/sql/index.js';
import { Broker, type BrokerOptions } from './broker.js';
import { registerPubsubRoutes } from './http-routes.js';

export interface PubsubServiceOptions extends Omit<BrokerOptions, 'tokenSecret' | 'sql'> {
  sql: SqlStore | (() => SqlStore);
  /** Where the generated secret is kept when `tokenSecret` is not given. */
  dataDir: string;
  /** HMAC secret of channel tokens (at least 32 characters); servers behind one NATS share it. */
  tokenSecret?: string;
}

export interface PubsubService extends Component {
  readonly broker: Broker;
  /** Adds /api/v1/publish, /api/v1/messages, /api/v1/channel-tokens, /ws and /sse to the app. */
  registerHttp(app: FastifyInstance): void;
}

/** Reads the secret kept in dataDir, creating it on first use. */
export function loadOrCreateSecret(dataDir: string): string {
  const file = join(dataDir, 'pubsub-secret');
  try {
    const text = readFileSync(file, 'utf8').trim();
    if (text.length >= 32) return text;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw new FlotillaError(Code.CONFIG_INVALID, `cannot read ${file}: ${(err as Error).message}`, { cause: err });
  }
  const secret = randomBytes(32).toString('base64url');
  mkdirSync(dataDir, { recursive: true });
  writeFileSync(file, secret + '\n', { mode: 0o600 });
  return secret;
}

export function createPubsubService(options: PubsubServiceOptions): PubsubService {
  if (options.tokenSecret !== undefined && options.tokenSecret.length < 32) {
    throw new FlotillaError(Code.CONFIG_INVALID, 'the channel-token secret must be at least 32 characters');
  }
  let secret = options.tokenSecret;
  const broker = new Broker({
    ...options,
    get tokenSecret(): string {
      secret ??= loadOrCreateSecret(options.dataDir);
      return secret;
    },
  });
  return {
    name: 'pubsub',
    broker,
    registerHttp(app) {
      registerPubsubRoutes(app, broker, options.logger);
    },
    async start() {
      await broker.start();
    },
    async stop() {
      await broker.stop();
    },
  };
}
