/** Authentication and authorization: API tokens, the policy, enforcement hooks, bootstrap. See docs/security.md. */
export * from './tokens.js';
export * from './policy.js';
export * from './token-store.js';
export * from './guard.js';
export * from './bootstrap.js';
export { registerAuthRoutes, parseTtl } from './http-routes.js';
