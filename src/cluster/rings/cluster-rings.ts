/**
 * The rings part of a process, as one component for the composition roots: a RingWatcher (every
 * process) and, when asked, a RingAutoBuilder (a server with `--expect-nodes N`). It also gives the
 * readiness check of a service that needs a ring and a JSON summary for the HTTP API.
 */
import { Code, FlotillaError } from '../../core/errors.js';
import { silentLogger, type Logger } from '../../core/log.js';
import type { Coord } from '../../coord/index.js';
import type { Ring } from '../ring/index.js';
import { RingAutoBuilder, type RingAutoBuilderOptions } from './ring-auto-builder.js';
import type { RingMemberSource } from './ring-members.js';
import { RingStore } from './ring-store.js';
import { RingWatcher } from './ring-watcher.js';

export interface ClusterRingsOptions {
  /** The coordination client (read at start: the composition root creates it earlier in the start order). */
  coord: () => Coord;
  logger?: Logger;
  /** Build a ring automatically once `expectedNodes` members of `members()` are ACTIVE. Default: never. */
  autoBuild?: Pick<RingAutoBuilderOptions, 'expectedNodes' | 'ringName' | 'partPower' | 'replicas' | 'minPartMoveIntervalMs'> & {
    members: () => RingMemberSource;
  };
  /** Called after any ring changed (appeared, new version, deleted), e.g. to republish the node record. */
  onChange?: () => void;
}

export interface RingsSummary {
  rings: { name: string; version: number; partitions: number; replicas: number; devices: string[] }[];
  /** Ring name -> why its newest stored value was refused (the previous version stays in use). */
  refused: Record<string, string>;
  coordinationReachable: boolean;
  revision: number;
}

export interface ClusterRings {
  readonly name: string;
  start(): Promise<void>;
  stop(): Promise<void>;
  /** The watcher (after start). */
  watcher(): RingWatcher;
  /** The ring held under `name` (undefined before start or while it does not exist). Never waits on the store. */
  get(name: string): Ring | undefined;
  /** Ring name -> version held; {} before start. */
  versions(): Record<string, number>;
  /** A readiness check: fails (FAILED_PRECONDITION) until ring `name` is held. */
  readiness(name: string): () => Promise<void>;
  summary(): RingsSummary;
}

export function createClusterRings(options: ClusterRingsOptions): ClusterRings {
  const logger = options.logger ?? silentLogger();
  let watcher: RingWatcher | undefined;
  let builder: RingAutoBuilder | undefined;
  const changed = (): void => options.onChange?.();
  return {
    name: 'rings',
    async start() {
      const coord = options.coord();
      watcher = new RingWatcher({ coord, logger });
      watcher.on('ring:version:changed', changed);
      watcher.on('ring:deleted', changed);
      await watcher.start();
      changed();
      const auto = options.autoBuild;
      if (auto !== undefined) {
        const w = watcher;
        const { members, ...rest } = auto;
        builder = new RingAutoBuilder({ ...rest, store: new RingStore(coord), members: members(), exists: (n) => w.ready(n), logger });
        await builder.start();
      }
    },
    async stop() {
      await builder?.stop();
      await watcher?.stop();
    },
    watcher() {
      if (watcher === undefined) throw new FlotillaError(Code.FAILED_PRECONDITION, 'rings are not started');
      return watcher;
    },
    get: (name) => watcher?.get(name),
    versions: () => watcher?.versions() ?? {},
    readiness: (name) => async () => {
      if (watcher?.ready(name) !== true) {
        const refused = watcher?.loadError(name);
        throw new FlotillaError(Code.FAILED_PRECONDITION, refused !== undefined ? `ring ${name} is unreadable: ${refused.rawMessage}` : `ring ${name} does not exist yet`);
      }
    },
    summary() {
      const w = watcher;
      if (w === undefined) return { rings: [], refused: {}, coordinationReachable: false, revision: 0 };
      const refused = Object.fromEntries(Object.entries(w.refused()).map(([n, e]) => [n, e.rawMessage]));
      return {
        rings: w.list().map((r) => ({ name: r.name, version: r.version, partitions: r.partitionCount, replicas: r.replicas, devices: r.devices.map((d) => d.id) })),
        refused,
        coordinationReachable: w.coordinationReachable,
        revision: w.revision,
      };
    },
  };
}
