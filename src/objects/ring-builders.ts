/**
 * The automatic builds of the object rings (one per storage policy, `objects-<policy>`), for a server
 * started with --expect-nodes N: each is built once N nodes with the objects role are ACTIVE, with
 * min(policy replicas, N) replicas.
 */
import { RingAutoBuilder, RingStore, type RingMemberSource, type RingWatcher } from '../cluster/index.js';
import type { Coord } from '../coord/index.js';
import type { Logger } from '../core/log.js';
import { POLICIES, ringNameOf } from './store/names.js';

export interface ObjectRingBuildersOptions {
  coord: () => Coord;
  members: () => RingMemberSource;
  watcher: () => RingWatcher;
  expectedNodes: number;
  logger?: Logger;
}

export function createObjectRingBuilders(o: ObjectRingBuildersOptions): { name: string; start(): Promise<void>; stop(): Promise<void> } {
  let builders: RingAutoBuilder[] = [];
  return {
    name: 'object-ring-builders',
    async start() {
      const w = o.watcher();
      builders = POLICIES.map(
        (p) =>
          new RingAutoBuilder({
            store: new RingStore(o.coord()),
            members: o.members(),
            expectedNodes: o.expectedNodes,
            ringName: ringNameOf(p.name),
            replicas: Math.min(p.replicas, o.expectedNodes),
            exists: (n) => w.ready(n),
            ...(o.logger !== undefined ? { logger: o.logger } : {}),
          }),
      );
      for (const b of builders) await b.start();
    },
    async stop() {
      for (const b of builders) await b.stop();
    },
  };
}
