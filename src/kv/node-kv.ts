/**
 * The KV component as a node process uses it: the `kv` ring from the ring watcher, and membership from
 * the node's membership view (a node is up when it is ACTIVE and registered; its peer address comes
 * from its record). A node that becomes ACTIVE again gets its hints and a tree exchange at once.
 */
import type { MemberStatus, MembershipView, Ring } from '../cluster/index.js';
import type { Logger } from '../core/log.js';
import { createKvService, type KvServiceComponent, type KvServiceOptions } from './kv-service.js';
import { placementFromRing } from './ring-placement.js';
import type { KvMembership, KvPlacement } from './types.js';

export interface NodeKvOptions extends Omit<KvServiceOptions, 'placement' | 'membership'> {
  /** This node's name. */
  self: string;
  /** The current `kv` ring (undefined until it exists). */
  ring: () => Ring | undefined;
  /** The membership view (undefined until it is started). */
  view: () => MembershipView | undefined;
  logger?: Logger;
}

export function membershipFromView(self: string, view: () => MembershipView | undefined): KvMembership {
  return {
    self,
    isUp(node) {
      if (node === self) return true;
      const m = view()?.member(node);
      return m !== undefined && m.status === 'ACTIVE' && m.registered;
    },
    addressOf(node) {
      return view()?.member(node)?.record.peerAddress;
    },
  };
}

export function createNodeKv(options: NodeKvOptions): KvServiceComponent {
  const { self, ring, view, ...rest } = options;
  const cache = new WeakMap<Ring, KvPlacement>();
  let started = false;
  let lastVersion = 0;
  const placement = (): KvPlacement | undefined => {
    const r = ring();
    if (r === undefined) return undefined;
    let p = cache.get(r);
    if (p === undefined) cache.set(r, (p = placementFromRing(r)));
    if (r.version !== lastVersion) {
      // A new ring: start moving partitions now rather than at the next periodic round.
      const first = lastVersion === 0;
      lastVersion = r.version;
      if (started && !first) {
        setImmediate(() => {
          if (started) void kv.antiEntropy.runNow().catch(() => undefined);
        });
      }
    }
    return p;
  };
  const kv = createKvService({ ...rest, placement, membership: membershipFromView(self, view) });
  let subscribed: MembershipView | undefined;
  const onStatus = (name: string, status: MemberStatus): void => {
    if (status === 'ACTIVE' && name !== self) kv.peerUp(name);
  };
  return {
    name: kv.name,
    routes: (router) => kv.routes(router),
    unaryHandler: kv.unaryHandler,
    peerUp: (node) => kv.peerUp(node),
    get coordinator() {
      return kv.coordinator;
    },
    get engine() {
      return kv.engine;
    },
    get antiEntropy() {
      return kv.antiEntropy;
    },
    get hints() {
      return kv.hints;
    },
    async start() {
      await kv.start();
      started = true;
      subscribed = view();
      subscribed?.on('node:status:changed', onStatus);
    },
    async stop() {
      started = false;
      subscribed?.off('node:status:changed', onStatus);
      await kv.stop();
    },
  };
}
