/** The testkit: real processes on free loopback ports, always stopped, logs printed when a test fails. */
export type { Cleanup } from './cleanup.js';
export { onCleanup, trackChild } from './cleanup.js';
export { freePort, freePortRange, tempDir } from './ports.js';
export type { ExitInfo, ProcessEnv, ProcessHandle, StartProcessOptions } from './process.js';
export { startProcess, tcpReady } from './process.js';
export type { CoordProcess, EtcdctlOptions, EtcdctlResult, StartEtcdOptions } from './etcd.js';
export { ETCD_BIN, ETCDCTL_BIN, etcdctl, etcdctlBackground, grpcReady, startEtcd } from './etcd.js';
export type { StartEmbeddedCoordOptions, StartFlotillaOptions } from './flotilla.js';
export { FLOTILLA_BIN, REPO_ROOT, startEmbeddedCoord, startFlotilla } from './flotilla.js';
export type { PostgresProcess } from './postgres.js';
export { startPostgres } from './postgres.js';
