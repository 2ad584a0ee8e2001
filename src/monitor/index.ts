/**
 * The public door of src/monitor: the config schema shared by agent and server, the monitoring agent, and
 * the monitoring server (agent streams, global view, heartbeats, default configs, HTTP routes) with its
 * client.
 */
export * from './monitor-config.js';
export * from './agent/index.js';
export * from './server/index.js';
export * from './export/index.js';
export * from './tsdb/index.js';
export { createPromqlEngine, parsePromql, PromqlSyntaxError, PromqlExecutionError, type PromqlEngine, type EngineOptions, type Expr } from './promql/index.js';
export {
  createRuleManager,
  createWebhookSender,
  loadRuleFile,
  parseRuleFile,
  checkRuleCycles,
  type RuleManager,
  type RuleManagerOptions,
  type RuleGroupSpec,
  type WebhookSender,
  type WebhookPayload,
} from './rules/index.js';
export { registerQueryRoutes, type QueryRoutesOptions } from './server/query-routes.js';
