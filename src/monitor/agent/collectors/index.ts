/** The collectors, one per metric group, and the catalog of metric names the agent can emit. */
import type { Collector, HostPaths } from './collector.js';
import { DEFAULT_HOST_PATHS } from './collector.js';
import { createCgroupCollector } from './cgroup.js';
import { createCpuCollector } from './cpu.js';
import { createDiskCollector } from './disk.js';
import { createFilesystemCollector } from './filesystem.js';
import { createMemoryCollector } from './memory.js';
import { createNetworkCollector } from './network.js';

export type { CollectTime, Collector, HostPaths, Sample } from './collector.js';
export { DEFAULT_HOST_PATHS } from './collector.js';

/** Every collector of the agent, in the order they are reported. */
export function createDefaultCollectors(paths: HostPaths = DEFAULT_HOST_PATHS): Collector[] {
  return [
    createCpuCollector(paths),
    createMemoryCollector(paths),
    createDiskCollector(paths),
    createNetworkCollector({ paths }),
    createFilesystemCollector({ paths }),
    createCgroupCollector({ proc: paths.proc }),
  ];
}
