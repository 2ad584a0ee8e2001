/**
 * Rings across real processes: watchers on a real `flotilla coord serve` and a real etcd converge on
 * every version; automatic builders racing store one ring; and a server with --expect-nodes 3 builds the
 * kv ring once three nodes are ACTIVE, after which the server and every node hold the same version (and
 * nodes that need the ring turn ready).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createCoord } from '../../../src/coord/index.js';
import { addDevice } from '../../../src/cluster/ring/index.js';
import { RingAutoBuilder, RingStore, RingWatcher, type RingMemberSource } from '../../../src/cluster/rings/index.js';
import { eventually, members, peerClients, runFlotilla, suiteOwner, type ServerHandle } from '../../testkit/cluster.js';
import { startEmbeddedCoord, startEtcd, startFlotilla, type CoordProcess, type ProcessHandle } from '../../testkit/index.js';
import { ring } from './fixtures.js';

/** The acceptance bound of issue 3: every process holds a new ring version within 2 s. */
const CONVERGE_MS = 2000;

const backends: { name: string; start: (owner: ReturnType<typeof suiteOwner>) => Promise<CoordProcess> }[] = [
  { name: 'flotilla coord serve', start: (owner) => startEmbeddedCoord({ t: owner }) },
  { name: 'etcd', start: (owner) => startEtcd({ t: owner }) },
];

for (const backend of backends) {
  describe(`rings over ${backend.name}`, () => {
    const owner = suiteOwner();
    let coord: CoordProcess;
    const client = async () => {
      const c = await createCoord({ endpoints: [coord.endpoint], watchMaxBackoffMs: 500 });
      owner.after(() => c.close());
      return c;
    };

    it('starts the store', async () => {
      coord = await backend.start(owner);
    });

    it('two watchers in different clients hold the same version within 2 s of each write', async () => {
      const watchers = [new RingWatcher({ coord: await client() }), new RingWatcher({ coord: await client() })];
      for (const w of watchers) {
        owner.after(() => w.stop());
        await w.start();
      }
      const store = new RingStore(await client());
      let current = await store.create(ring('kv'));
      for (let v = 1; v <= 3; v++) {
        const want = current.ring.version;
        await eventually(`both watchers hold kv version ${want}`, async () => watchers.every((w) => w.get('kv')?.version === want), CONVERGE_MS);
        if (v < 3) current = await store.update(current, addDevice(current.ring, { id: `extra-${v}`, zone: 'z1', weight: 1 }, { now: () => 10 + v }).ring);
      }
      assert.deepEqual(watchers[0]!.get('kv')!.toJSON(), watchers[1]!.get('kv')!.toJSON());
    });

    it('automatic builders in different clients racing store exactly one ring', async () => {
      const source: RingMemberSource = {
        activeMembers: () => ['n1', 'n2', 'n3', 'n4'].map((name, i) => ({ name, zone: `z${i % 2}`, weight: 1 })),
        subscribe: () => () => undefined,
      };
      const builders = await Promise.all(
        Array.from({ length: 4 }, async (_, i) => {
          const b = new RingAutoBuilder({ store: new RingStore(await client()), members: source, expectedNodes: 4, ringName: 'race', partPower: 8, now: () => 100 + i });
          owner.after(() => b.stop());
          return b;
        }),
      );
      let built = 0;
      for (const b of builders) b.on('ring:build:success', () => built++);
      await Promise.all(builders.map((b) => b.start()));
      await eventually('every builder is done', async () => builders.every((b) => b.state === 'done'), 10_000);
      assert.equal(built, 1);
      const kv = await (await client()).get('/flotilla/rings/race');
      assert.equal(kv?.version, 1, 'the key was written once');
      assert.equal((await new RingStore(await client()).require('race')).ring.replicas, 3);
    });
  });
}

/** `flotilla node` that needs the kv ring; ready to use once registered (its /readyz waits for the ring). */
async function startRingNode(t: ReturnType<typeof suiteOwner>, name: string, zone: string, server: ServerHandle): Promise<ProcessHandle> {
  return startFlotilla(
    ({ port, dataDir }) => [
      'node', '--name', name, '--join', server.grpc, '--zone', zone, '--need-rings', 'kv',
      '--listen', `127.0.0.1:${port('peer')}`, '--http', `127.0.0.1:${port('http')}`, '--data-dir', dataDir,
    ],
    {
      name: `flotilla node ${name}`,
      t,
      ports: ['peer', 'http'],
      env: { FLOTILLA_LOG_PRETTY: '0' },
      ready: async (p) => {
        const res = await fetch(`http://127.0.0.1:${p.port('http')}/readyz`).catch(() => undefined);
        const body = (await res?.json().catch(() => undefined)) as { checks?: Record<string, { ok: boolean }> } | undefined;
        return body?.checks?.registration?.ok === true;
      },
    },
  );
}

async function readyz(h: ProcessHandle): Promise<{ status: number; body: { checks: Record<string, { ok: boolean; error?: string }> } }> {
  const res = await fetch(`http://127.0.0.1:${h.port('http')}/readyz`);
  return { status: res.status, body: (await res.json()) as { checks: Record<string, { ok: boolean; error?: string }> } };
}

async function ringVersion(h: ProcessHandle): Promise<number | undefined> {
  const res = await fetch(`http://127.0.0.1:${h.port('http')}/api/v1/rings`);
  const body = (await res.json()) as { rings: { name: string; version: number }[] };
  return body.rings.find((r) => r.name === 'kv')?.version;
}

describe('a server with --expect-nodes 3 and three nodes', () => {
  const owner = suiteOwner();
  let server: ServerHandle;
  const nodes: ProcessHandle[] = [];

  it('builds the kv ring only once the third node is ACTIVE; nodes are not ready before', async () => {
    server = await startFlotilla(
      ({ port, dataDir }) => [
        'server', '--expect-nodes', '3',
        '--listen', `127.0.0.1:${port('grpc')}`, '--http', `127.0.0.1:${port('http')}`, '--coord-listen', `127.0.0.1:${port('coord')}`, '--data-dir', dataDir,
      ],
      {
        name: 'flotilla server',
        t: owner,
        ports: ['grpc', 'http', 'coord'],
        ready: async (p) => (await fetch(`http://127.0.0.1:${p.port('http')}/readyz`).catch(() => undefined))?.status === 200,
      },
    ).then((h) => Object.assign(h, { grpc: `127.0.0.1:${h.port('grpc')}`, coordEndpoint: `127.0.0.1:${h.port('coord')}` }) as ServerHandle);
    nodes.push(await startRingNode(owner, 'node-a', 'z1', server));
    nodes.push(await startRingNode(owner, 'node-b', 'z2', server));
    const early = await readyz(nodes[0]!);
    assert.equal(early.status, 503);
    assert.deepEqual(early.body.checks['ring:kv'], { ok: false, error: 'ring kv does not exist yet' });
    assert.equal(await ringVersion(server), undefined);
    nodes.push(await startRingNode(owner, 'node-c', 'z3', server));
  });

  it('the server and every node hold the same kv version within 2 s, and the nodes turn ready', async () => {
    const all = [server, ...nodes];
    await eventually('some process holds the kv ring', async () => (await Promise.all(all.map(ringVersion))).some((v) => v !== undefined), 30_000);
    await eventually('every process holds kv version 1', async () => (await Promise.all(all.map(ringVersion))).every((v) => v === 1), CONVERGE_MS, () =>
      Promise.all(all.map(ringVersion)),
    );
    // Ready once the ring exists and every role's service has started.
    await eventually('every node is ready', async () => (await Promise.all(nodes.map(readyz))).every((r) => r.status === 200), 10_000, () =>
      Promise.all(nodes.map(readyz)),
    );
    const store = new RingStore(await createCoord({ endpoints: [server.coordEndpoint] }).then((c) => (owner.after(() => c.close()), c)));
    const kv = await store.require('kv');
    assert.deepEqual(kv.ring.devices.map((d) => [d.id, d.zone]), [['node-a', 'z1'], ['node-b', 'z2'], ['node-c', 'z3']]);
    assert.equal(kv.ring.replicas, 3);
  });

  it('an admin change reaches every process within 2 s and shows in flotilla status', async () => {
    const r = await runFlotilla(['ring', 'add-device', 'kv', '--device', 'spare:z1:1', '--etcd', server.coordEndpoint]);
    assert.equal(r.code, 0, r.stderr);
    const all = [server, ...nodes];
    await eventually('every process holds kv version 2', async () => (await Promise.all(all.map(ringVersion))).every((v) => v === 2), CONVERGE_MS, () =>
      Promise.all(all.map(ringVersion)),
    );
    const peers = peerClients(owner);
    await eventually(
      'the server sees every node publish kv version 2',
      async () => (await members(peers, server.grpc)).every((m) => m.rings.kv === 2),
      10_000,
      () => members(peers, server.grpc),
    );
    const status = await runFlotilla(['status', '--server', server.grpc]);
    assert.equal(status.code, 0, status.stderr);
    assert.equal(status.stdout.match(/kv:v2/g)?.length, 3, status.stdout);
  });
});
