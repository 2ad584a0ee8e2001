/**
 * Dashboard login with OpenID Connect (PLAT-4): the authorization-code flow with PKCE against any
 * provider that publishes discovery metadata (Google, Keycloak, Dex, Entra ID, ...), done by
 * `openid-client` (discovery, state, nonce, PKCE and ID-token validation).
 *
 *   GET /auth/oidc/login[?return=/path]  -> 302 to the provider's authorization endpoint
 *   GET /auth/oidc/callback?code&state    -> code exchange, ID token checked, role looked up, a session
 *                                           token minted; the page stores it where the dashboard keeps
 *                                           its token (sessionStorage) and goes back to the dashboard
 *   GET /auth/oidc                        -> {enabled, loginUrl} for the dashboard's login form
 *
 * The user's role comes from the configured lists (by verified e-mail or by subject), else the default
 * role; a user with no role is told so and gets no token. Pending logins (state, nonce, PKCE verifier)
 * are kept in this process for 10 minutes, at most 10,000 at once, so the callback must reach the
 * server that started the login (put one server behind the redirect URL, or sticky sessions).
 */
import type { FastifyInstance, FastifyReply } from 'fastify';
import * as oidc from 'openid-client';
import { Code, FlotillaError } from '../core/errors.js';
import type { Logger } from '../core/log.js';

export type DashboardRole = 'admin' | 'operator' | 'reader';

export interface OidcLoginOptions {
  /** The provider's issuer URL (its discovery document is at <issuer>/.well-known/openid-configuration). */
  issuer: string;
  clientId: string;
  clientSecret: string;
  /** This server's public callback URL, registered at the provider: https://host/auth/oidc/callback. */
  redirectUrl: string;
  /** Users (verified e-mail or `sub`) per role; the first list that names the user wins, admin first. */
  roles?: Partial<Record<DashboardRole, readonly string[]>>;
  /** The role of any other user who signs in; undefined: they are refused. */
  defaultRole?: DashboardRole;
  /** Extra scopes beside openid, email, profile. */
  scopes?: readonly string[];
  /** Mints the session token the dashboard sends as its Bearer token. */
  mintSession: (user: { subject: string; email?: string; name?: string; role: DashboardRole }) => Promise<{ token: string; expiresAt: Date }>;
  logger: Logger;
  /** Plain-HTTP providers (a provider on loopback in tests). Never for a real provider. */
  allowInsecureIssuer?: boolean;
}

interface Pending {
  verifier: string;
  nonce: string;
  returnTo: string;
  expiresAt: number;
}

const pendingTtlMs = 10 * 60_000;
const maxPending = 10_000;
const roleOrder: readonly DashboardRole[] = ['admin', 'operator', 'reader'];

function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function page(reply: FastifyReply, status: number, title: string, body: string): FastifyReply {
  return reply
    .status(status)
    .header('cache-control', 'no-store')
    .header('referrer-policy', 'no-referrer')
    .type('text/html; charset=utf-8')
    .send(
      `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(title)}</title>` +
        `<meta name="viewport" content="width=device-width, initial-scale=1"><link rel="icon" href="data:,">` +
        `<style>body{font:16px/1.5 system-ui,sans-serif;max-width:40rem;margin:4rem auto;padding:0 1rem}@media (prefers-color-scheme:dark){body{background:#111;color:#ddd}}</style>` +
        `</head><body>${body}</body></html>\n`,
    );
}

/** A same-origin path to go back to after login; anything else (another host, //x) becomes `/`. */
export function safeReturnPath(value: unknown): string {
  if (typeof value !== 'string' || !value.startsWith('/') || value.startsWith('//') || value.startsWith('/\\') || value.length > 512) return '/';
  return value;
}

/** The role of a signed-in user, or undefined when none applies. */
export function roleOf(claims: { sub: string; email?: unknown; email_verified?: unknown }, options: Pick<OidcLoginOptions, 'roles' | 'defaultRole'>): DashboardRole | undefined {
  const email = typeof claims.email === 'string' && claims.email_verified !== false ? claims.email.toLowerCase() : undefined;
  for (const role of roleOrder) {
    const names = (options.roles?.[role] ?? []).map((n) => n.toLowerCase());
    if (names.includes(claims.sub.toLowerCase()) || (email !== undefined && names.includes(email))) return role;
  }
  return options.defaultRole;
}

/** Registers the login routes. Discovery happens on the first login, so a provider that is down does not stop the server. */
export function registerOidcLogin(app: FastifyInstance, options: OidcLoginOptions): void {
  let issuerUrl: URL;
  let redirectUrl: URL;
  try {
    issuerUrl = new URL(options.issuer);
    redirectUrl = new URL(options.redirectUrl);
  } catch {
    throw new FlotillaError(Code.CONFIG_INVALID, `invalid OpenID Connect issuer or redirect URL (${options.issuer}, ${options.redirectUrl})`);
  }
  if (issuerUrl.protocol !== 'https:' && options.allowInsecureIssuer !== true) {
    throw new FlotillaError(Code.CONFIG_INVALID, `the OpenID Connect issuer must be https:// (got ${options.issuer})`);
  }
  const pending = new Map<string, Pending>();
  let config: Promise<oidc.Configuration> | undefined;
  const configuration = (): Promise<oidc.Configuration> => {
    config ??= oidc
      .discovery(issuerUrl, options.clientId, options.clientSecret, undefined, options.allowInsecureIssuer === true ? { execute: [oidc.allowInsecureRequests] } : {})
      .catch((err: unknown) => {
        config = undefined; // try again on the next login
        throw new FlotillaError(Code.UNAVAILABLE, `the OpenID provider ${options.issuer} did not answer its discovery request`, { cause: err });
      });
    return config;
  };
  const sweep = (now: number): void => {
    for (const [state, p] of pending) if (p.expiresAt <= now) pending.delete(state);
  };

  app.get('/auth/oidc', async () => ({ enabled: true, loginUrl: '/auth/oidc/login' }));

  app.get('/auth/oidc/login', async (request, reply) => {
    const now = Date.now();
    sweep(now);
    if (pending.size >= maxPending) throw new FlotillaError(Code.RESOURCE_EXHAUSTED, 'too many logins in progress; try again in a few minutes');
    const c = await configuration();
    const verifier = oidc.randomPKCECodeVerifier();
    const state = oidc.randomState();
    const nonce = oidc.randomNonce();
    pending.set(state, { verifier, nonce, returnTo: safeReturnPath((request.query as Record<string, unknown>).return), expiresAt: now + pendingTtlMs });
    const url = oidc.buildAuthorizationUrl(c, {
      redirect_uri: redirectUrl.href,
      scope: ['openid', 'email', 'profile', ...(options.scopes ?? [])].join(' '),
      code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
      state,
      nonce,
    });
    return reply.header('cache-control', 'no-store').redirect(url.href, 302);
  });

  app.get('/auth/oidc/callback', async (request, reply) => {
    const query = request.query as Record<string, unknown>;
    const state = typeof query.state === 'string' ? query.state : '';
    const p = pending.get(state);
    if (p !== undefined) pending.delete(state);
    if (p === undefined || p.expiresAt <= Date.now()) {
      return page(reply, 400, 'Login expired', `<h1>This login has expired or was already used</h1><p><a href="/auth/oidc/login">Sign in again</a>.</p>`);
    }
    if (typeof query.error === 'string') {
      const why = typeof query.error_description === 'string' ? query.error_description : query.error;
      return page(reply, 401, 'Login refused', `<h1>The provider refused the login</h1><p>${escapeHtml(why.slice(0, 300))}</p><p><a href="/auth/oidc/login">Try again</a>.</p>`);
    }
    const c = await configuration();
    const current = new URL(request.url, redirectUrl);
    let tokens;
    try {
      tokens = await oidc.authorizationCodeGrant(c, current, { pkceCodeVerifier: p.verifier, expectedState: state, expectedNonce: p.nonce, idTokenExpected: true });
    } catch (err) {
      options.logger.warn({ err }, 'OpenID Connect code exchange failed');
      return page(reply, 401, 'Login failed', `<h1>The login could not be completed</h1><p>The provider's answer did not check out (see the server log).</p><p><a href="/auth/oidc/login">Try again</a>.</p>`);
    }
    const idClaims = tokens.claims();
    if (idClaims === undefined) throw new FlotillaError(Code.UNAUTHENTICATED, 'the provider returned no ID token');
    let claims: { sub: string; email?: unknown; email_verified?: unknown; name?: unknown } = idClaims;
    if (claims.email === undefined) {
      // Providers that follow the spec's default keep profile claims out of the ID token: ask the
      // UserInfo endpoint (its subject must match the ID token's, which openid-client checks).
      try {
        claims = { ...(await oidc.fetchUserInfo(c, tokens.access_token, idClaims.sub)), sub: idClaims.sub };
      } catch (err) {
        options.logger.warn({ err }, 'OpenID Connect UserInfo request failed; using the ID token alone');
      }
    }
    const role = roleOf(claims, options);
    const who = typeof claims.email === 'string' ? claims.email : claims.sub;
    if (role === undefined) {
      options.logger.warn({ subject: claims.sub, email: claims.email }, 'OpenID Connect login without a role');
      return page(reply, 403, 'No access', `<h1>Signed in as ${escapeHtml(who)}, without access</h1><p>No role is given to this account. Ask an administrator to add it to the server's OpenID Connect roles.</p>`);
    }
    const session = await options.mintSession({
      subject: claims.sub,
      ...(typeof claims.email === 'string' ? { email: claims.email } : {}),
      ...(typeof claims.name === 'string' ? { name: claims.name } : {}),
      role,
    });
    options.logger.info({ subject: claims.sub, email: claims.email, role }, 'dashboard login through OpenID Connect');
    // The token goes where the dashboard keeps the one typed into its login form (src/web/src/api.ts).
    const script = `sessionStorage.setItem('flotilla.token', ${JSON.stringify(session.token).replace(/</g, '\\u003c')});location.replace(${JSON.stringify(p.returnTo).replace(/</g, '\\u003c')});`;
    return page(reply, 200, 'Signed in', `<p>Signed in as ${escapeHtml(who)} (${role}).</p><script>${script}</script>`);
  });
}
