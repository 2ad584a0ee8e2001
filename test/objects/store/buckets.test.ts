/**
 * The bucket registry (src/objects/store/buckets.ts) on a real embedded coordination store: once it follows
 * the buckets, a known bucket costs no read; an unknown name is read through (a bucket another node just
 * created is found); deletions and changes elsewhere arrive by the watch; known buckets are still answered
 * while the store is unreachable.
 */
import { strict as assert } from 'node:assert';
import { rm } from 'node:fs/promises';
import { after, before, describe, it } from 'node:test';
import { Code, FlotillaError } from '../../../src/core/errors.js';
import { createEmbeddedCoordServer, type EmbeddedCoordServer } from '../../../src/coord/embedded/index.js';
import { createCoord, type Coord } from '../../../src/coord/index.js';
import { BucketRegistry, BUCKETS_PREFIX } from '../../../src/objects/store/buckets.js';
import { eventually } from '../../testkit/cluster.js';
import { tempDir } from '../../testkit/index.js';

/** The coordination client with its reads counted. */
function counting(coord: Coord): { coord: Coord; gets: () => number } {
  let gets = 0;
  const wrapped = new Proxy(coord, {
    get(target, prop) {
      const v = Reflect.get(target, prop, target) as unknown;
      if (prop === 'get') return (...args: Parameters<Coord['get']>) => (gets++, target.get(...args));
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
  return { coord: wrapped, gets: () => gets };
}

const notFound = (e: unknown): boolean => e instanceof FlotillaError && e.code === Code.NOT_FOUND;

describe('bucket registry (watched)', () => {
  let server: EmbeddedCoordServer;
  let coordA: Coord;
  let coordB: Coord;
  let counted: ReturnType<typeof counting>;
  let a: BucketRegistry;
  let b: BucketRegistry;
  let dataDir: string;

  before(async () => {
    dataDir = await tempDir();
    server = createEmbeddedCoordServer({ listen: '127.0.0.1:0', dataDir });
    await server.start();
    coordA = await createCoord({ endpoints: [server.address] });
    coordB = await createCoord({ endpoints: [server.address] });
    counted = counting(coordB);
    a = new BucketRegistry(() => coordA);
    b = new BucketRegistry(() => counted.coord);
  });

  after(async () => {
    await a?.stop();
    await b?.stop();
    await coordA?.close();
    await coordB?.close();
    await server?.stop();
    await rm(dataDir, { recursive: true, force: true });
  });

  it('a bucket known to a following registry is answered without a read; an unknown name is read through', async () => {
    await a.create('known', 'replicated-2');
    b.start();
    await b.synced;
    const before = counted.gets();
    for (let i = 0; i < 20; i++) assert.equal((await b.get('known')).policy, 'replicated-2');
    assert.equal(counted.gets(), before, 'no coordination read for a followed bucket');
    // Created on A and asked on B at once: found by the read-through, whether or not the event came yet.
    await a.create('fresh', 'single');
    assert.equal((await b.get('fresh')).policy, 'single');
    await assert.rejects(b.get('never-made'), notFound);
    assert.ok(counted.gets() > before, 'unknown names are read');
  });

  it('a delete and a re-create elsewhere reach the registry by the watch', async () => {
    await a.delete('known');
    await eventually('B forgets the deleted bucket', async () => b.get('known').then(() => false, notFound), 5000);
    await a.create('known', 'single');
    await eventually('B sees the new policy', async () => (await b.get('known')).policy === 'single', 5000);
  });

  it('a record that is not JSON is ignored, not fatal', async () => {
    await coordA.put(`${BUCKETS_PREFIX}garbage`, 'not json');
    await a.create('after-garbage');
    await eventually('B still follows', async () => (await b.get('after-garbage').catch(() => undefined)) !== undefined, 5000);
  });

  it('known buckets are answered while the coordination store is down', async () => {
    await server.stop();
    assert.equal((await b.get('fresh')).policy, 'single');
    assert.equal((await b.get('known')).policy, 'single');
  });
});
