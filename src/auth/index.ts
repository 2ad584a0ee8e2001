/** Authentication and authorization: API tokens, the policy, enforcement hooks, bootstrap. See docs/security.md. */
export * from './tokens.js';
export * from './policy.js';
export * from './token-store.js';
export * from './guard.js';
export * from './bootstrap.js';
export { registerAuthRoutes, parseTtl } from './http-routes.js';
export { createCoordStoreAuthorizer } from './coord-store.js';
export type { CoordStoreAuthorizerOptions } from './coord-store.js';
export { DEFAULT_RATE_LIMIT, RateLimiter, rateLimitOption } from './rate-limiter.js';
export type { RateLimiterOptions } from './rate-limiter.js';
