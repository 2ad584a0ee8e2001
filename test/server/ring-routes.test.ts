// The server's ring administration routes against a real (embedded) coordination store: one ring's
// details, rebalance, and drain (weight 0 in every ring holding the node, all or nothing), with
// problem+json for unknown rings and nodes. The build from members is covered in the browser
// (test/web/kv-objects.test.ts), with a real cluster.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createEmbeddedCoordServer, type EmbeddedCoordServer } from '../../src/coord/embedded/index.js';
import { createCoord, type Coord } from '../../src/coord/index.js';
import { RingStore, buildRing } from '../../src/cluster/index.js';
import { createHttpServer, type HttpServer } from '../../src/http/index.js';
import { silentLogger } from '../../src/core/log.js';
import { registerRingRoutes } from '../../src/server/ring-routes.js';

describe('ring routes', () => {
  let dataDir: string;
  let server: EmbeddedCoordServer;
  let coord: Coord;
  let http: HttpServer;
  let store: RingStore;

  before(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'flotilla-ring-routes-'));
    server = createEmbeddedCoordServer({ listen: '127.0.0.1:0', dataDir });
    await server.start();
    coord = await createCoord({ endpoints: [server.address] });
    store = new RingStore(coord);
    http = createHttpServer({ listen: '127.0.0.1:0', logger: silentLogger(), processName: 'test', version: '0' });
    registerRingRoutes(http.app, { coord: () => coord, view: () => undefined });
    await http.app.ready();
  });

  after(async () => {
    await http?.app.close();
    await coord?.close();
    await server?.stop();
    await rm(dataDir, { recursive: true, force: true });
  });

  const call = async (method: 'GET' | 'POST', url: string): Promise<{ status: number; body: Record<string, unknown>; type: string }> => {
    const r = await http.app.inject({ method, url });
    return { status: r.statusCode, body: r.json(), type: String(r.headers['content-type']) };
  };
  const dev = (id: string, zone: string): { id: string; zone: string; weight: number } => ({ id, zone, weight: 1 });

  it('shows a ring, rebalances it, and drains a node from every ring that holds it', async () => {
    await store.create(buildRing({ name: 'kv', partPower: 6, replicas: 3, devices: [dev('a', 'z1'), dev('b', 'z2'), dev('c', 'z3'), dev('d', 'z1')] }));
    await store.create(buildRing({ name: 'objects-single', partPower: 6, replicas: 1, devices: [dev('a', 'z1'), dev('d', 'z1')] }));
    await store.create(buildRing({ name: 'objects-replicated-2', partPower: 6, replicas: 2, devices: [dev('a', 'z1'), dev('b', 'z2')] }));

    const shown = await call('GET', '/api/v1/rings/kv');
    assert.equal(shown.status, 200);
    assert.equal(shown.body.version, 1);
    assert.equal(shown.body.partitions, 64);
    assert.deepEqual((shown.body.devices as { id: string }[]).map((d) => d.id).sort(), ['a', 'b', 'c', 'd']);

    const same = await call('POST', '/api/v1/rings/kv/rebalance');
    assert.equal(same.status, 200);
    assert.deepEqual(same.body, { ring: 'kv', changed: false, previousVersion: 1, version: 1, movedReplicas: 0, pendingReplicas: 0 });

    const drained = await call('POST', '/api/v1/nodes/d/drain');
    assert.equal(drained.status, 200);
    const rings = drained.body.rings as { ring: string; changed: boolean; previousVersion: number; version: number; movedReplicas: number }[];
    assert.deepEqual(rings.map((r) => r.ring).sort(), ['kv', 'objects-single']);
    for (const r of rings) {
      assert.equal(r.changed, true);
      assert.equal(r.version, 2);
      assert.ok(r.movedReplicas > 0, `${r.ring}: nothing moved off d`);
      const stored = (await store.require(r.ring)).ring;
      assert.equal(stored.device('d')?.weight, 0);
      // A new ring has never moved a partition, so all of d's move at once.
      assert.equal(countOn(stored, 'd'), 0);
    }
    assert.equal((await store.require('objects-replicated-2')).ring.version, 1);
  });

  it('refuses a drain that one ring cannot afford, writing nothing', async () => {
    await store.create(buildRing({ name: 'tight', partPower: 4, replicas: 3, devices: [dev('p', 'z1'), dev('q', 'z2'), dev('r', 'z3')] }));
    await store.create(buildRing({ name: 'loose', partPower: 4, replicas: 1, devices: [dev('p', 'z1'), dev('q', 'z2'), dev('r', 'z3')] }));
    const r = await call('POST', '/api/v1/nodes/r/drain');
    assert.equal(r.status, 409);
    assert.match(r.type, /problem\+json/);
    assert.match(String(r.body.detail), /cannot drain r, nothing was changed: ring tight/);
    assert.equal((await store.require('tight')).ring.version, 1);
    assert.equal((await store.require('loose')).ring.version, 1);
    assert.equal((await store.require('loose')).ring.device('r')?.weight, 1);
  });

  it('answers unknown rings and nodes, bad names and a missing view as problem+json', async () => {
    const none = await call('POST', '/api/v1/nodes/nobody/drain');
    assert.equal(none.status, 404);
    assert.match(String(none.body.detail), /is a device of no ring/);
    const missing = await call('POST', '/api/v1/rings/no-such-ring/rebalance');
    assert.equal(missing.status, 404);
    assert.match(missing.type, /problem\+json/);
    const bad = await call('GET', '/api/v1/rings/Bad%20Name!');
    assert.equal(bad.status, 400);
    const build = await http.app.inject({ method: 'POST', url: '/api/v1/rings/build', payload: { rings: ['nope'] } });
    assert.equal(build.statusCode, 400);
    assert.match(String(build.json<{ detail: string }>().detail), /not a standard ring/);
    const noView = await http.app.inject({ method: 'POST', url: '/api/v1/rings/build', payload: {} });
    assert.equal(noView.statusCode, 503);
  });
});

/** Partition replicas on device `id`. */
function countOn(ring: { replicas: number; partitionCount: number; deviceIdAt(r: number, p: number): string }, id: string): number {
  let n = 0;
  for (let r = 0; r < ring.replicas; r++) for (let p = 0; p < ring.partitionCount; p++) if (ring.deviceIdAt(r, p) === id) n++;
  return n;
}
