/**
 * Ring administration on the server's HTTP API, for the dashboard's cluster page (the same changes as
 * `flotilla ring build|rebalance|set-weight`, each a compare-and-swap on the version read):
 *
 *   GET  /api/v1/rings/:name            one ring: version, partitions, replicas, min move interval and per
 *                                       device zone, weight, partition replicas held, target and balance
 *   POST /api/v1/rings/build            body { rings?: string[] }: builds the standard rings that do not
 *                                       exist yet (`kv` from the ACTIVE nodes with the kv role, one
 *                                       `objects-<policy>` per storage policy from those with the objects
 *                                       role) -> { built: [...], skipped: [{ ring, reason }] }
 *   POST /api/v1/rings/:name/rebalance  -> { ring, changed, previousVersion, version, movedReplicas, pendingReplicas }
 *   POST /api/v1/nodes/:name/drain      weight 0 for the node in every ring that has it, then rebalance:
 *                                       -> { node, rings: [the rebalance answer per ring] }. All or nothing:
 *                                       when one ring cannot do without the node (too few devices left for
 *                                       its replicas) nothing is written and the answer is 409.
 */
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { Code, FlotillaError } from '../core/errors.js';
import type { Coord } from '../coord/index.js';
import {
  DEFAULT_PART_POWER,
  RingStore,
  buildRing,
  checkRingName,
  defaultReplicas,
  memberSourceFromView,
  memberToDevice,
  ringStats,
  setWeight,
  rebalanceRing,
  type MembershipView,
  type RebalanceResult,
  type StoredRing,
} from '../cluster/index.js';
import { POLICIES, ringNameOf } from '../objects/index.js';

export interface RingRoutesOptions {
  coord: () => Coord;
  view: () => MembershipView | undefined;
}

/** The standard rings: name, the role its devices have, its replica count for `nodes` devices. */
const STANDARD = [
  { ring: 'kv', role: 'kv', replicas: (n: number) => defaultReplicas(n) },
  ...POLICIES.map((p) => ({ ring: ringNameOf(p.name), role: 'objects', replicas: (n: number) => Math.max(1, Math.min(p.replicas, n)) })),
];

const buildBody = z.object({ rings: z.array(z.string().min(1).max(100)).max(20).optional() }).strict();

function changeJson(previous: StoredRing, result: RebalanceResult, stored: StoredRing | undefined): Record<string, unknown> {
  return {
    ring: previous.ring.name,
    changed: stored !== undefined,
    previousVersion: previous.ring.version,
    version: stored?.ring.version ?? previous.ring.version,
    movedReplicas: result.movedReplicas,
    pendingReplicas: result.pendingReplicas,
  };
}

export function registerRingRoutes(app: FastifyInstance, options: RingRoutesOptions): void {
  const store = (): RingStore => new RingStore(options.coord());

  app.get<{ Params: { name: string } }>('/api/v1/rings/:name', async (req) => {
    const stored = await store().require(checkRingName(req.params.name));
    const r = stored.ring;
    const s = ringStats(r);
    return {
      name: r.name,
      version: r.version,
      partPower: r.partPower,
      partitions: r.partitionCount,
      replicas: r.replicas,
      minPartMoveIntervalMs: r.minPartMoveIntervalMs,
      createdAt: new Date(r.createdAtMs).toISOString(),
      maxBalancePercent: s.maxBalancePercent,
      drainingReplicas: s.drainingReplicas,
      devices: s.devices,
    };
  });

  app.post('/api/v1/rings/build', async (req) => {
    const parsed = buildBody.safeParse(req.body ?? {});
    if (!parsed.success) throw new FlotillaError(Code.INVALID_ARGUMENT, `bad body: ${parsed.error.issues.map((i) => `${i.path.join('.') || 'body'}: ${i.message}`).join('; ')}`);
    const wanted = parsed.data.rings;
    for (const n of wanted ?? []) {
      if (!STANDARD.some((s) => s.ring === n)) throw new FlotillaError(Code.INVALID_ARGUMENT, `${JSON.stringify(n)} is not a standard ring; rings: ${STANDARD.map((s) => s.ring).join(', ')}`);
    }
    const view = options.view();
    if (view === undefined) throw new FlotillaError(Code.UNAVAILABLE, 'the server is starting: no membership view yet');
    const st = store();
    const built: Record<string, unknown>[] = [];
    const skipped: { ring: string; reason: string }[] = [];
    for (const s of STANDARD.filter((x) => wanted === undefined || wanted.includes(x.ring))) {
      if ((await st.get(s.ring)) !== undefined) {
        skipped.push({ ring: s.ring, reason: 'exists' });
        continue;
      }
      const members = memberSourceFromView(view, { role: s.role }).activeMembers();
      if (members.length === 0) {
        skipped.push({ ring: s.ring, reason: `no ACTIVE node with the ${s.role} role` });
        continue;
      }
      const devices = members.map(memberToDevice);
      try {
        const stored = await st.create(buildRing({ name: s.ring, partPower: DEFAULT_PART_POWER, replicas: s.replicas(devices.length), devices }));
        built.push({ ring: s.ring, version: stored.ring.version, partitions: stored.ring.partitionCount, replicas: stored.ring.replicas, devices: devices.map((d) => d.id) });
      } catch (err) {
        const e = FlotillaError.from(err);
        if (e.code !== Code.ALREADY_EXISTS) throw e;
        skipped.push({ ring: s.ring, reason: 'exists' });
      }
    }
    return { built, skipped };
  });

  app.post<{ Params: { name: string } }>('/api/v1/rings/:name/rebalance', async (req) => {
    const { previous, result, stored } = await store().change(checkRingName(req.params.name), (r) => rebalanceRing(r));
    return changeJson(previous, result, stored);
  });

  app.post<{ Params: { name: string } }>('/api/v1/nodes/:name/drain', async (req) => {
    const node = req.params.name;
    const st = store();
    const { rings, bad } = await st.list();
    if (bad.length > 0) throw new FlotillaError(Code.FAILED_PRECONDITION, `cannot drain ${node}: ring ${bad[0]!.name} is unreadable (${bad[0]!.error.rawMessage})`);
    const holding = rings.filter((s) => s.ring.device(node) !== undefined);
    if (holding.length === 0) throw new FlotillaError(Code.NOT_FOUND, `node ${JSON.stringify(node)} is a device of no ring: nothing to drain`);
    // Every change is checked before any is written: a drain is all or nothing.
    const refused: string[] = [];
    for (const s of holding) {
      try {
        setWeight(s.ring, node, 0);
      } catch (err) {
        refused.push(`ring ${s.ring.name}: ${FlotillaError.from(err).rawMessage}`);
      }
    }
    if (refused.length > 0) throw new FlotillaError(Code.FAILED_PRECONDITION, `cannot drain ${node}, nothing was changed: ${refused.join('; ')}`, { details: { reason: 'drain_refused', node } });
    const out: Record<string, unknown>[] = [];
    for (const s of holding) {
      const { previous, result, stored } = await st.change(s.ring.name, (r) => setWeight(r, node, 0));
      out.push(changeJson(previous, result, stored));
    }
    return { node, rings: out };
  });
}
