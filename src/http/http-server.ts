/**
 * The HTTP server every Flotilla process exposes (Fastify): health and readiness probes, and the API
 * routes capabilities register. Errors are answered as RFC 9457 problem+json built from FlotillaError;
 * a stack trace never reaches a client.
 *
 * With the process's TLS (core/tls.ts setProcessTls) it serves HTTPS (HTTP/1.1) with its certificate; a
 * client certificate is asked for but optional (tokens authenticate people). Every connection has
 * timeouts: the request headers must arrive within `headersTimeoutMs`, the whole request body within
 * `requestTimeoutMs`, a socket with no traffic for `connectionTimeoutMs` is closed, and an idle kept-alive
 * connection after `keepAliveTimeoutMs`. A streaming response (a download, SSE with its keep-alive
 * comments) is never cut while it moves, and a WebSocket (/ws) leaves these timeouts behind at upgrade.
 */
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { Code, FlotillaError } from '../core/errors.js';
import type { Logger } from '../core/log.js';
import { formatHostPort, requireHostPort } from '../core/address.js';
import type { Component } from '../core/lifecycle.js';
import { processTls, type ProcessTls } from '../core/tls.js';

/** A readiness check: resolves when the dependency is usable, throws (ideally a FlotillaError) when not. */
export type ReadinessCheck = () => Promise<void>;

export interface HttpServerOptions {
  /** host:port; port 0 picks a free port. */
  listen: string;
  logger: Logger;
  /** Process name reported by /healthz. */
  processName: string;
  version: string;
  /** Named checks that /readyz runs. */
  readiness?: Record<string, ReadinessCheck>;
  /** Longest a readiness check may take. Default 2000 ms. */
  readinessTimeoutMs?: number;
  /**
   * Runs first for every request (an onRequest hook, so it covers every route, including ones added
   * later); throwing a FlotillaError refuses the request with its problem+json (401, 403, ...).
   * Default: none (no authentication).
   */
  authorize?: (request: FastifyRequest) => void;
  /** TLS: HTTPS with this material; null: plain HTTP. Default: the process's (core/tls.ts processTls()), when it has a certificate. */
  tls?: ProcessTls | null;
  /** The request line and headers must arrive within this. Default 30 000 ms. */
  headersTimeoutMs?: number;
  /** The whole request (body included: large uploads) must arrive within this. Default 3 600 000 ms. */
  requestTimeoutMs?: number;
  /** A socket with no traffic either way for this long is closed. Default 300 000 ms. */
  connectionTimeoutMs?: number;
  /** An idle kept-alive connection is closed after this. Default 65 000 ms. */
  keepAliveTimeoutMs?: number;
}

/** A route as registered (for the policy test, which checks that every route is protected). */
export interface RegisteredRoute {
  method: string;
  url: string;
}

export interface HttpServer extends Component {
  readonly app: FastifyInstance;
  /** The bound address host:port, after start. */
  readonly address: string;
  /** The base URL (http://host:port, or https:// with TLS), after start. */
  readonly url: string;
  /** Every route registered on the app so far (one entry per method). */
  routes(): RegisteredRoute[];
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new FlotillaError(Code.DEADLINE_EXCEEDED, `${what} did not answer within ${ms} ms`)), ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

export function createHttpServer(options: HttpServerOptions): HttpServer {
  const { host, port } = requireHostPort(options.listen, 'HTTP listen address');
  const loggerInstance: FastifyBaseLogger = options.logger;
  const own = options.tls === null ? undefined : (options.tls ?? processTls());
  const tls = own?.cert !== undefined && own.key !== undefined ? own : undefined;
  const headersTimeout = options.headersTimeoutMs ?? 30_000;
  const requestTimeout = Math.max(options.requestTimeoutMs ?? 3_600_000, headersTimeout);
  const app = Fastify({
    loggerInstance,
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: 1024 * 1024,
    connectionTimeout: options.connectionTimeoutMs ?? 300_000,
    keepAliveTimeout: options.keepAliveTimeoutMs ?? 65_000,
    requestTimeout,
    // The router's own refusals (a path that is not valid percent-encoding, a parameter over maxParamLength)
    // come before any route or error handler: they are problem+json too.
    frameworkErrors: (err, request, reply) => {
      const status = typeof err.statusCode === 'number' && err.statusCode >= 400 && err.statusCode < 500 ? err.statusCode : 400;
      const problem = new FlotillaError(Code.INVALID_ARGUMENT, err.message).toProblem((request.url ?? '/').split('?')[0] ?? '/');
      problem.status = status;
      void (reply as unknown as FastifyReply).status(status).type('application/problem+json').send(problem);
    },
    ...(tls !== undefined ? { https: { cert: tls.cert!, key: tls.key!, ca: tls.ca, requestCert: true, rejectUnauthorized: false, minVersion: 'TLSv1.2' as const, handshakeTimeout: 10_000 } } : {}),
  }) as unknown as FastifyInstance;
  app.server.headersTimeout = headersTimeout;
  const startedAt = new Date();
  const readinessTimeoutMs = options.readinessTimeoutMs ?? 2000;
  let address = '';
  const routes: RegisteredRoute[] = [];
  app.addHook('onRoute', (route) => {
    for (const method of Array.isArray(route.method) ? route.method : [route.method]) routes.push({ method, url: route.url });
  });
  const authorize = options.authorize;
  if (authorize !== undefined) {
    app.addHook('onRequest', async (request, reply) => {
      try {
        authorize(request);
      } catch (err) {
        // Answered here rather than thrown: a plugin's own error handler (the S3 API's XML) must not reword it.
        const fe = FlotillaError.from(err);
        if (fe.code === Code.UNAUTHENTICATED) void reply.header('www-authenticate', 'Bearer realm="flotilla"');
        // A rate limit (src/auth/rate-limiter.ts) says when to come back.
        if (typeof fe.details?.retryAfterSeconds === 'number') void reply.header('retry-after', String(fe.details.retryAfterSeconds));
        const problem = fe.toProblem(request.url.split('?')[0]);
        if (fe.code === Code.INTERNAL) problem.detail = 'internal error (see the server log)';
        return reply.status(problem.status).type('application/problem+json').send(problem);
      }
      return undefined;
    });
  }

  app.setErrorHandler((err, request, reply) => {
    let fe: FlotillaError;
    if (err instanceof FlotillaError) fe = err;
    else if (typeof (err as { statusCode?: unknown }).statusCode === 'number' && (err as { statusCode: number }).statusCode < 500) {
      // Fastify's own client errors (bad JSON, body too large, ...).
      const status = (err as { statusCode: number }).statusCode;
      fe = new FlotillaError(status === 413 ? Code.RESOURCE_EXHAUSTED : status === 404 ? Code.NOT_FOUND : Code.INVALID_ARGUMENT, (err as Error).message);
    } else {
      fe = FlotillaError.from(err);
    }
    if (fe.code === Code.INTERNAL) request.log.error({ err }, 'request failed');
    const problem = fe.toProblem(request.url);
    if (fe.code === Code.INTERNAL) problem.detail = 'internal error (see the server log)';
    void reply.status(problem.status).type('application/problem+json').send(problem);
  });
  app.setNotFoundHandler((request, reply) => {
    const problem = new FlotillaError(Code.NOT_FOUND, `no route for ${request.method} ${request.url}`).toProblem(request.url);
    void reply.status(404).type('application/problem+json').send(problem);
  });

  app.get('/healthz', async () => ({
    status: 'ok',
    process: options.processName,
    version: options.version,
    startedAt: startedAt.toISOString(),
    uptimeSeconds: Math.round((Date.now() - startedAt.getTime()) / 1000),
  }));

  app.get('/readyz', async (_request, reply) => {
    const checks: Record<string, { ok: boolean; error?: string }> = {};
    await Promise.all(
      Object.entries(options.readiness ?? {}).map(async ([name, check]) => {
        try {
          await withTimeout(check(), readinessTimeoutMs, name);
          checks[name] = { ok: true };
        } catch (err) {
          checks[name] = { ok: false, error: FlotillaError.from(err).rawMessage };
        }
      }),
    );
    const ready = Object.values(checks).every((c) => c.ok);
    return reply.status(ready ? 200 : 503).send({ status: ready ? 'ready' : 'not ready', checks });
  });

  return {
    name: 'http',
    app,
    get address() {
      return address;
    },
    get url() {
      return `${tls !== undefined ? 'https' : 'http'}://${address}`;
    },
    routes: () => [...routes],
    async start() {
      try {
        await app.listen({ host, port });
      } catch (err) {
        throw new FlotillaError(Code.LISTEN_FAILED, `cannot listen for HTTP on ${options.listen}: ${(err as Error).message}`, { cause: err });
      }
      const a = app.server.address();
      if (a !== null && typeof a === 'object') address = formatHostPort(a.address, a.port);
    },
    async stop() {
      await app.close();
    },
  };
}
