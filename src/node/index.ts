export { createNodeProcess, type NodeProcess } from './node.js';
export { nodeConfigSchema, resolveNodeConfig, type JoinMode, type NodeConfig, type NodeConfigInput } from './config.js';
