/**
 * Enforcement: the functions the HTTP server (an onRequest hook) and every gRPC listener (before the
 * request reaches ConnectRPC or the coordination fast path) call for each request, and the decision
 * whether authentication is on for a process.
 */
import type { IncomingHttpHeaders } from 'node:http';
import { parseHostPort } from '../core/address.js';
import { Code, FlotillaError } from '../core/errors.js';
import type { Logger } from '../core/log.js';
import { authorize, bearerOf, grpcRequirement, httpRequirement } from './policy.js';
import type { TokenVerifier } from './token-store.js';
import type { Principal } from './tokens.js';
import type { RateLimiter } from './rate-limiter.js';

/** What the HTTP hook sees of a request. */
export interface HttpRequestInfo {
  method: string;
  url: string;
  /** The matched route's pattern; undefined when no route matched. */
  routeUrl: string | undefined;
  headers: IncomingHttpHeaders;
  /** The client's address: the rate limit's key when the request carries no token. */
  remoteAddress?: string;
}

export interface AuthGuard {
  /** Throws UNAUTHENTICATED / PERMISSION_DENIED (or UNAVAILABLE while starting); returns the principal, if any. */
  checkHttp(req: HttpRequestInfo): Principal | undefined;
  /** The error to answer a gRPC request with, or undefined to let it through. `path` is `/pkg.Service/Method`. */
  checkGrpc(path: string, headers: IncomingHttpHeaders, remoteAddress?: string): FlotillaError | undefined;
}

export interface AuthGuardOptions {
  /**
   * Rate limits (rate-limiter.ts): every request that needs a token takes one from its caller's bucket
   * (the token's id, else the client's address); the cluster (join) token is exempt. Default: none.
   */
  rateLimiter?: RateLimiter;
}

function principalOf(verifier: TokenVerifier | undefined, header: string | string[] | undefined): Principal | undefined {
  const token = bearerOf(header);
  if (token === undefined) return undefined;
  if (verifier === undefined) throw new FlotillaError(Code.UNAVAILABLE, 'authentication is starting: the token list is not loaded yet');
  return verifier.verify(token);
}

/** A guard over the tokens `verifier()` knows (undefined until the process has loaded them). */
export function createAuthGuard(verifier: () => TokenVerifier | undefined, options: AuthGuardOptions = {}): AuthGuard {
  const limiter = options.rateLimiter;
  const limit = (principal: Principal | undefined, address: string | undefined): void => {
    if (limiter === undefined || principal?.role === 'cluster') return;
    if (principal !== undefined) limiter.check(`t:${principal.tokenId}`, `API token ${principal.tokenId} (${principal.name})`);
    else limiter.check(`a:${address ?? 'unknown'}`, `client ${address ?? 'unknown'} (without a valid API token)`);
  };
  /** The verified principal, after the caller's rate limit (a bad token counts against the address). */
  const identify = (header: string | string[] | undefined, address: string | undefined): Principal | undefined => {
    let principal: Principal | undefined;
    try {
      principal = principalOf(verifier(), header);
    } catch (err) {
      limit(undefined, address);
      throw err;
    }
    limit(principal, address);
    return principal;
  };
  return {
    checkHttp(req) {
      const need = httpRequirement(req.method, req.routeUrl, req.url);
      if (need.public === true) return undefined;
      const principal = identify(req.headers.authorization, req.remoteAddress);
      authorize(principal, need, `${req.method} ${req.url.split('?')[0]}`);
      return principal;
    },
    checkGrpc(path, headers, remoteAddress) {
      try {
        const need = grpcRequirement(path);
        authorize(identify(headers.authorization, remoteAddress), need, path.slice(1));
        return undefined;
      } catch (err) {
        return FlotillaError.from(err);
      }
    },
  };
}

/** True for 127.0.0.0/8, ::1 and localhost. */
export function isLoopbackHost(host: string): boolean {
  const h = host.toLowerCase();
  return h === 'localhost' || h === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h) || h === '::ffff:127.0.0.1';
}

export interface AuthModeOptions {
  /** `on` always; `auto`: on when any listener is not on loopback (or `onWhen` says so). */
  auth: 'auto' | 'on';
  /** Turns authentication off even on non-loopback listeners (logged loudly). */
  insecureNoAuth: boolean;
  /** host:port of every listener of the process. */
  listeners: string[];
  /** Another reason to turn it on in auto mode (e.g. a node given a join token), for the log line. */
  alsoOnBecause?: string;
  logger: Logger;
  /** `server`, `node`, ... for messages. */
  processName: string;
}

/** Whether the process enforces authentication, with the reason logged. */
export function resolveAuthMode(o: AuthModeOptions): boolean {
  const exposed = o.listeners.filter((l) => {
    const p = parseHostPort(l);
    return p.error !== undefined || !isLoopbackHost(p.host);
  });
  if (o.insecureNoAuth) {
    if (o.auth === 'on') throw new FlotillaError(Code.CONFIG_INVALID, '--auth on and --insecure-no-auth contradict each other');
    const where = exposed.length > 0 ? `listeners ${exposed.join(', ')} are reachable from other hosts` : 'every listener is on loopback';
    o.logger.warn(
      `!!! AUTHENTICATION IS OFF (--insecure-no-auth): anyone who can reach this ${o.processName} can read and change everything; ${where} !!!`,
    );
    return false;
  }
  if (o.auth === 'on') {
    o.logger.info('authentication on (--auth on)');
    return true;
  }
  if (exposed.length > 0) {
    o.logger.info({ listeners: exposed }, 'authentication on: listening beyond loopback');
    return true;
  }
  if (o.alsoOnBecause !== undefined) {
    o.logger.info(`authentication on: ${o.alsoOnBecause}`);
    return true;
  }
  o.logger.info('authentication off: every listener is on loopback (--auth on turns it on)');
  return false;
}
