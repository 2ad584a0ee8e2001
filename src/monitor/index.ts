/**
 * The public door of src/monitor: the config schema shared by agent and server, the monitoring agent, and
 * the monitoring server (agent streams, global view, heartbeats, default configs, HTTP routes) with its
 * client.
 */
export * from './monitor-config.js';
export * from './agent/index.js';
export * from './server/index.js';
