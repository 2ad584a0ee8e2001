/**
 * `flotilla ring build|show|rebalance|add-device|remove-device`: partition rings, read and written in the
 * coordination store directly (`--etcd`, env FLOTILLA_ETCD, default 127.0.0.1:2379). Every change is a
 * compare-and-swap on the version read, so two admins never overwrite each other's change.
 */
import type { Command } from 'commander';
import { parseHostPort } from '../core/address.js';
import { formatDuration, parseDuration } from '../core/duration.js';
import { Code, FlotillaError } from '../core/errors.js';
import { createCoord, type Coord } from '../coord/index.js';
import {
  NODES_PREFIX,
  addDevice,
  buildRing,
  rebalanceRing,
  removeDevice,
  setWeight,
  ringStats,
  type RebalanceResult,
  type Ring,
  type RingDevice,
  DEFAULT_PART_POWER,
  RingStore,
  checkRingName,
  defaultReplicas,
  memberToDevice,
  membersFromNodeRecords,
  parseDeviceList,
  type StoredRing,
} from '../cluster/index.js';
import { action } from './run.js';

interface CoordFlags {
  etcd?: string;
  json?: boolean;
}

const DIAL_TIMEOUT_MS = 3000;

function endpointsOf(flags: CoordFlags): string[] {
  const given = flags.etcd ?? process.env.FLOTILLA_ETCD ?? '127.0.0.1:2379';
  const list = given.split(',').map((s) => s.trim());
  for (const e of list) {
    const bare = e.replace(/^https?:\/\//, '');
    const p = parseHostPort(bare);
    if (e === '' || p.error !== undefined) throw new FlotillaError(Code.INVALID_ARGUMENT, `invalid --etcd ${JSON.stringify(given)}: ${p.error ?? 'empty endpoint'}`);
  }
  return list;
}

/** Connects to the coordination store, runs `fn`, closes. UNAVAILABLE in one line when nothing answers. */
async function withStore<T>(flags: CoordFlags, fn: (store: RingStore, coord: Coord) => Promise<T>): Promise<T> {
  const endpoints = endpointsOf(flags);
  let coord: Coord;
  try {
    coord = await createCoord({ endpoints, dialTimeoutMs: DIAL_TIMEOUT_MS, requestTimeoutMs: 10_000 });
  } catch (err) {
    throw new FlotillaError(Code.UNAVAILABLE, `no coordination store reachable at ${endpoints.join(',')} (set --etcd or FLOTILLA_ETCD)`, { cause: err });
  }
  try {
    return await fn(new RingStore(coord), coord);
  } finally {
    await coord.close();
  }
}

function intOption(name: string, text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  if (!/^\d+$/.test(text.trim())) throw new FlotillaError(Code.INVALID_ARGUMENT, `--${name} must be a whole number, got ${JSON.stringify(text)}`);
  return Number(text);
}

function devicesOption(text: string): { value: RingDevice[] } {
  const parsed = parseDeviceList(text);
  if (parsed.error !== undefined) throw new FlotillaError(Code.INVALID_ARGUMENT, parsed.error);
  return parsed;
}

function pct(n: number | null): string {
  if (n === null) return '-';
  return `${n >= 0 ? '+' : ''}${n.toFixed(2)}%`;
}

function kib(bytes: number): string {
  return bytes < 1024 ? `${bytes} B` : `${(bytes / 1024).toFixed(1)} KiB`;
}

function columns(rows: string[][]): string {
  const widths = (rows[0] ?? []).map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i] ?? 0))).join('  ')).join('\n') + '\n';
}

/** Ring name -> node -> version held, from the node records (`rings` field) under /flotilla/nodes/. */
async function heldVersions(coord: Coord): Promise<Record<string, Record<string, number>>> {
  const out: Record<string, Record<string, number>> = {};
  for (const kv of (await coord.range(NODES_PREFIX)).kvs) {
    try {
      const rec = JSON.parse(kv.value.toString()) as { name?: unknown; rings?: unknown };
      if (typeof rec.name !== 'string' || rec.rings === null || typeof rec.rings !== 'object') continue;
      for (const [ring, v] of Object.entries(rec.rings as Record<string, unknown>)) {
        if (typeof v === 'number') (out[ring] ??= {})[rec.name] = v;
      }
    } catch {
      // Not a readable record: nothing to show for it.
    }
  }
  return out;
}

function ringJson(stored: StoredRing, held: Record<string, number> | undefined): Record<string, unknown> {
  const r = stored.ring;
  return {
    name: r.name,
    version: r.version,
    partPower: r.partPower,
    partitions: r.partitionCount,
    replicas: r.replicas,
    minPartMoveIntervalMs: r.minPartMoveIntervalMs,
    createdAt: new Date(r.createdAtMs).toISOString(),
    stored: { bytes: stored.storedBytes, encoding: stored.encoding, modRevision: stored.modRevision },
    stats: ringStats(r),
    heldByNodes: held ?? {},
  };
}

function describeRing(stored: StoredRing, held: Record<string, number> | undefined): string {
  const r = stored.ring;
  const s = ringStats(r);
  const total = s.partitions * s.replicas;
  let out =
    `ring ${r.name}  version ${r.version}  created ${new Date(r.createdAtMs).toISOString()}  stored ${kib(stored.storedBytes)} (${stored.encoding})\n` +
    `partitions ${s.partitions} (2^${r.partPower})  replicas ${s.replicas}  devices ${r.devices.length}  zones ${s.zones}  ` +
    `min move interval ${formatDuration(r.minPartMoveIntervalMs)}\n` +
    `balance: max ${s.maxBalancePercent.toFixed(2)}% off target, ${s.maxWeightBalancePercent.toFixed(2)}% off pure weight; ` +
    `${s.partitionsBelowBestSpread} partitions span fewer than ${s.bestZoneSpread} zones; ${s.drainingReplicas} replicas draining\n`;
  out += columns([
    ['DEVICE', 'ZONE', 'WEIGHT', 'PARTS', 'TARGET', 'SHARE', 'BALANCE'],
    ...s.devices.map((d) => [d.id, d.zone, String(d.weight), String(d.replicas), String(d.target), `${((100 * d.replicas) / total).toFixed(2)}%`, pct(d.balancePercent)]),
  ]);
  if (held !== undefined && Object.keys(held).length > 0) {
    out += `held by nodes: ${Object.entries(held)
      .sort(([a], [b]) => (a < b ? -1 : 1))
      .map(([n, v]) => `${n} v${v}`)
      .join(', ')}\n`;
  }
  return out;
}

function reportChange(what: string, previous: StoredRing, result: RebalanceResult, stored: StoredRing | undefined, json: boolean): void {
  const name = previous.ring.name;
  if (json) {
    process.stdout.write(
      JSON.stringify({ ring: name, changed: stored !== undefined, previousVersion: previous.ring.version, version: result.ring.version, movedReplicas: result.movedReplicas, pendingReplicas: result.pendingReplicas }) + '\n',
    );
    return;
  }
  if (stored === undefined) process.stdout.write(`ring ${name} version ${previous.ring.version}: ${what} changed nothing (already balanced)\n`);
  else process.stdout.write(`ring ${name}: ${what}: version ${previous.ring.version} -> ${stored.ring.version}, ${result.movedReplicas} partition replicas moved\n`);
  if (result.pendingReplicas > 0) {
    process.stdout.write(
      `${result.pendingReplicas} replicas still to move (held back by the minimum move interval of ${formatDuration(result.ring.minPartMoveIntervalMs)}); ` +
        `run \`flotilla ring rebalance ${name}\` again after it\n`,
    );
  }
}

function withCoordOptions(cmd: Command): Command {
  return cmd
    .option('--etcd <endpoints>', 'coordination store: host:port[,host:port...] (env FLOTILLA_ETCD, default 127.0.0.1:2379)')
    .option('--json', 'print JSON for scripts');
}

interface BuildFlags extends CoordFlags {
  partPower?: string;
  replicas?: string;
  devices?: string;
  fromMembers?: boolean;
  role?: string;
  minPartMoveInterval?: string;
}

async function build(name: string, flags: BuildFlags): Promise<void> {
  checkRingName(name);
  if ((flags.devices === undefined) === (flags.fromMembers !== true)) {
    throw new FlotillaError(Code.INVALID_ARGUMENT, 'give the devices with exactly one of --devices ID:ZONE:WEIGHT,... or --from-members');
  }
  const partPower = intOption('part-power', flags.partPower) ?? DEFAULT_PART_POWER;
  let interval: number | undefined;
  if (flags.minPartMoveInterval !== undefined) {
    const d = parseDuration(flags.minPartMoveInterval);
    if (d.error !== undefined) throw new FlotillaError(Code.INVALID_ARGUMENT, `--min-part-move-interval: ${d.error}`);
    interval = d.value;
  }
  const given = flags.devices !== undefined ? devicesOption(flags.devices).value : undefined;
  await withStore(flags, async (store, coord) => {
    let devices = given;
    if (devices === undefined) {
      const { members, skipped } = membersFromNodeRecords((await coord.range(NODES_PREFIX)).kvs.map((kv) => kv.value), flags.role === undefined ? {} : { role: flags.role });
      for (const s of skipped) process.stderr.write(`flotilla: skipping a node record under ${NODES_PREFIX}: ${s}\n`);
      if (members.length === 0) throw new FlotillaError(Code.FAILED_PRECONDITION, `no registered nodes under ${NODES_PREFIX}${flags.role !== undefined ? ` with role ${flags.role}` : ''}: nothing to build ring ${name} from`);
      devices = members.map(memberToDevice);
    }
    const replicas = intOption('replicas', flags.replicas) ?? defaultReplicas(devices.length);
    if (await store.get(name).catch(() => undefined)) {
      throw new FlotillaError(Code.ALREADY_EXISTS, `ring ${name} already exists; change it with rebalance, add-device or remove-device`);
    }
    const ring: Ring = buildRing({ name, partPower, replicas, devices, ...(interval !== undefined ? { minPartMoveIntervalMs: interval } : {}) });
    const stored = await store.create(ring);
    if (flags.json === true) process.stdout.write(JSON.stringify(ringJson(stored, undefined)) + '\n');
    else process.stdout.write(`ring ${name} built: version 1, ${ring.partitionCount} partitions, ${ring.replicas} replicas, ${ring.devices.length} devices (${ring.devices.map((d) => d.id).join(', ')})\n`);
  });
}

async function show(name: string | undefined, flags: CoordFlags): Promise<void> {
  await withStore(flags, async (store, coord) => {
    const held: Record<string, Record<string, number>> = await heldVersions(coord).catch(() => ({}));
    if (name !== undefined) {
      const stored = await store.require(checkRingName(name));
      process.stdout.write(flags.json === true ? JSON.stringify(ringJson(stored, held[name]), null, 2) + '\n' : describeRing(stored, held[name]));
      return;
    }
    const { rings, bad } = await store.list();
    if (flags.json === true) {
      process.stdout.write(
        JSON.stringify({ rings: rings.map((s) => ringJson(s, held[s.ring.name])), unreadable: bad.map((b) => ({ name: b.name, key: b.key, error: b.error.message })) }, null, 2) + '\n',
      );
      return;
    }
    if (rings.length === 0 && bad.length === 0) {
      process.stdout.write('no rings yet (build one with: flotilla ring build NAME --devices ID:ZONE:WEIGHT,... or --from-members)\n');
      return;
    }
    process.stdout.write(
      columns([
        ['NAME', 'VERSION', 'PARTITIONS', 'REPLICAS', 'DEVICES', 'ZONES', 'MAX-BALANCE', 'MIN-MOVE', 'CREATED'],
        ...rings.map(({ ring: r }) => {
          const s = ringStats(r);
          return [r.name, String(r.version), String(r.partitionCount), String(r.replicas), String(r.devices.length), String(s.zones), `${s.maxBalancePercent.toFixed(2)}%`, formatDuration(r.minPartMoveIntervalMs), new Date(r.createdAtMs).toISOString()];
        }),
      ]),
    );
    for (const b of bad) process.stdout.write(`unreadable: ${b.key}: ${b.error.rawMessage}\n`);
  });
}

async function change(name: string, flags: CoordFlags, what: string, fn: (ring: Ring) => RebalanceResult): Promise<void> {
  checkRingName(name);
  await withStore(flags, async (store) => {
    const { previous, result, stored } = await store.change(name, fn);
    reportChange(what, previous, result, stored, flags.json === true);
  });
}

export function registerRing(program: Command): void {
  const ring = program.command('ring').description('partition rings: build, show, rebalance, add or remove devices, set weights (talks to the coordination store)');
  withCoordOptions(
    ring
      .command('build <name>')
      .description('build a new ring (version 1) and store it at /flotilla/rings/NAME; refused if it exists')
      .option('--part-power <p>', `2^p partitions, 1..20 (default ${DEFAULT_PART_POWER})`)
      .option('--replicas <r>', 'replicas per partition (default min(3, devices))')
      .option('--devices <list>', 'the devices: ID:ZONE[:WEIGHT],... e.g. a:z1:1,b:z2:1,c:z3:1')
      .option('--from-members', `use the registered nodes under ${NODES_PREFIX} (weight from backend capacity)`)
      .option('--role <role>', 'with --from-members: only nodes with this role (e.g. kv, objects)')
      .option('--min-part-move-interval <duration>', 'a partition moves at most once per this time (default 1h)'),
  ).action(action(async (name: string, flags: BuildFlags) => build(name, flags)));
  withCoordOptions(ring.command('show [name]').description('list the rings, or show one: versions, partitions, replicas, devices with zone, weight, share and balance')).action(
    action(async (name: string | undefined, flags: CoordFlags) => show(name, flags)),
  );
  withCoordOptions(ring.command('rebalance <name>').description('move partitions toward the weights (within the minimum move interval); writes version + 1')).action(
    action(async (name: string, flags: CoordFlags) => change(name, flags, 'rebalance', (r) => rebalanceRing(r))),
  );
  withCoordOptions(
    ring
      .command('add-device <name>')
      .description('add devices and rebalance; writes version + 1')
      .requiredOption('--device <list>', 'ID:ZONE[:WEIGHT][,...] e.g. d:z1:1'),
  ).action(
    action(async (name: string, flags: CoordFlags & { device: string }) => {
      const devices = devicesOption(flags.device).value;
      await change(name, flags, `add-device ${devices.map((d) => d.id).join(',')}`, (r) => {
        if (devices.length === 1) return addDevice(r, devices[0]!);
        for (const d of devices) if (r.device(d.id) !== undefined) throw new FlotillaError(Code.ALREADY_EXISTS, `device "${d.id}" is already in ring ${r.name}`);
        return rebalanceRing(r, { devices: [...r.devices, ...devices] });
      });
    }),
  );
  withCoordOptions(
    ring
      .command('set-weight <name>')
      .description('change a device\'s weight and rebalance (weight 0 drains it: its partitions move elsewhere); writes version + 1')
      .requiredOption('--device <id:weight>', 'ID:WEIGHT, e.g. node-b:0 to drain node-b'),
  ).action(
    action(async (name: string, flags: CoordFlags & { device: string }) => {
      const m = /^([^:,\s]+):(\d+(?:\.\d+)?)$/.exec(flags.device.trim());
      if (m === null) throw new FlotillaError(Code.INVALID_ARGUMENT, `bad --device ${JSON.stringify(flags.device)}: expected ID:WEIGHT with a weight >= 0, e.g. node-b:0`);
      const [, id, weight] = m;
      await change(name, flags, `set-weight ${id}=${weight}`, (r) => setWeight(r, id!, Number(weight)));
    }),
  );
  withCoordOptions(
    ring
      .command('remove-device <name>')
      .description('remove devices (their partitions move at once) and rebalance; writes version + 1')
      .requiredOption('--device <ids>', 'device ID[,ID...]'),
  ).action(
    action(async (name: string, flags: CoordFlags & { device: string }) => {
      const ids = flags.device.split(',').map((s) => s.trim());
      if (ids.some((id) => id === '')) throw new FlotillaError(Code.INVALID_ARGUMENT, `bad --device ${JSON.stringify(flags.device)}: expected ID[,ID...]`);
      await change(name, flags, `remove-device ${ids.join(',')}`, (r) => {
        if (ids.length === 1) return removeDevice(r, ids[0]!);
        for (const id of ids) if (r.device(id) === undefined) throw new FlotillaError(Code.NOT_FOUND, `device "${id}" is not in ring ${r.name}`);
        return rebalanceRing(r, { devices: r.devices.filter((d) => !ids.includes(d.id)) });
      });
    }),
  );
}
