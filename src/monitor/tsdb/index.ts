/** The embedded time-series store: the contract (types.ts) and its implementation. */
export type * from './types.js';
export { createTsdb, type HostSample, type SeriesRef, type Tsdb, type TsdbOptions, type TsdbStats } from './tsdb.js';
export type { HeadRejectReason } from './head.js';
export { ROLLUP_AGGREGATES, ROLLUP_RESOLUTIONS_MS, type RollupAggregate } from './rollup.js';
