/**
 * The public door of src/coord: the `Coord` interface every module codes against, the client over the etcd
 * v3 API (real etcd or the embedded store), and the embedded etcd-API-compatible store itself.
 */
export type * from './coord.js';
export { createCoord } from './etcd-coord.js';
export type { CoordOptions } from './etcd-coord.js';
export * from './embedded/index.js';
export { createPrefixWatch } from './prefix-watch.js';
export type { PrefixWatch, PrefixWatchOptions } from './prefix-watch.js';
