export { createServerProcess, type ServerProcess } from './server.js';
export { serverConfigSchema, coordConfigSchema, type ServerConfig, type CoordConfig } from './config.js';
