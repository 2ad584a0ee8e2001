/**
 * A revert of a (blob, version) wins over a commit of that version whatever the order they reach the
 * holder in (docs/objects.md, Consistency), in process and through the replica API over HTTP:
 * - a revert that arrives first leaves a marker: the later commit is refused, nothing is published and
 *   the staged body is dropped;
 * - a revert that arrives while the commit is publishing (its final fsync held by a wrapper of the real
 *   directory backend) waits for it, then removes what it published;
 * - other versions are not affected; the marker table is bounded and its markers expire.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { describe, it, type TestContext } from 'node:test';
import { crc32 } from 'node:zlib';
import type { FlotillaError } from '../../../src/core/errors.js';
import { silentLogger } from '../../../src/core/log.js';
import { createHttpServer } from '../../../src/http/index.js';
import { createDirBackend, type ObjectBackend } from '../../../src/objects/backends/index.js';
import { newVersion, type StoredMeta } from '../../../src/objects/store/blob-meta.js';
import { LocalReplica, type LocalReplicaOptions } from '../../../src/objects/store/local-replica.js';
import { createReplicaClient } from '../../../src/objects/store/replica-client.js';
import { registerReplicaRoutes } from '../../../src/objects/store/replica-routes.js';
import { tempDir } from '../../testkit/index.js';

const BLOB = 'replicated-3/0042/00112233445566778899aabb';

interface Hold {
  /** Resolves when a commit decided to publish and waits before its trailer, fsync and rename. */
  reached: Promise<void>;
  release(): void;
}

/** The real directory backend, whose next publication can be held just before its fsync and rename. */
function holdableDirBackend(path: string): { backend: ObjectBackend; hold: () => Hold } {
  const inner = createDirBackend({ path });
  let armed: { signal: () => void; gate: Promise<void> } | undefined;
  const backend: ObjectBackend = {
    ...inner,
    put: (name, body, opts) =>
      inner.put(name, body, {
        ...opts,
        finish: async (w) => {
          const meta = await opts.finish(w);
          const a = armed;
          if (a !== undefined) {
            armed = undefined;
            a.signal();
            await a.gate;
          }
          return meta;
        },
      }),
  };
  return {
    backend,
    hold: () => {
      let signal!: () => void;
      let release!: () => void;
      const reached = new Promise<void>((r) => (signal = r));
      const gate = new Promise<void>((r) => (release = r));
      armed = { signal, gate };
      return { reached, release };
    },
  };
}

/** Stages `body` on `local` and starts committing it with `meta`, held at its publication until `release()`. */
async function commitHeld(local: LocalReplica, hold: () => Hold, body: Buffer, meta: StoredMeta): Promise<{ commit: Promise<StoredMeta>; release: () => void }> {
  const st = local.stage(BLOB, Readable.from([body]));
  await st.received;
  const h = hold();
  const commit = st.commit(meta);
  await h.reached;
  return { commit, release: () => h.release() };
}

async function newReplica(t: TestContext, options: LocalReplicaOptions = {}): Promise<{ local: LocalReplica; root: string; hold: () => Hold }> {
  const root = await tempDir(t, 'commit-revert-');
  const { backend, hold } = holdableDirBackend(join(root, 'objects'));
  const local = new LocalReplica(backend, join(root, 'index'), options);
  await local.start();
  t.after(() => local.stop());
  return { local, root, hold };
}

const crcOf = (b: Buffer): string => (crc32(b) >>> 0).toString(16).padStart(8, '0');

function metaOf(body: Buffer, atMs = Date.now()): StoredMeta {
  const md5 = createHash('md5').update(body).digest('hex');
  return { kind: 'object', bucket: 'b', key: 'k', size: body.length, sha256: createHash('sha256').update(body).digest('hex'), md5, crc32: crcOf(body), etag: md5, contentType: 'application/octet-stream', userMetadata: {}, lastModifiedMs: atMs, version: newVersion(atMs) };
}

const tmpFiles = async (root: string): Promise<string[]> => readdir(join(root, 'objects', 'tmp'));

async function until(cond: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 500 && !cond(); i++) await new Promise((r) => setTimeout(r, 10));
  assert.ok(cond(), what);
}

async function published(local: LocalReplica, body: Buffer, atMs?: number): Promise<StoredMeta> {
  const st = local.stage(BLOB, Readable.from([body]));
  await st.received;
  return st.commit(metaOf(body, atMs));
}

describe('revert versus commit of the same version (in process)', () => {
  it('a revert that arrives before the commit: the commit is refused and nothing is visible', async (t) => {
    const { local, root } = await newReplica(t);
    const old = await published(local, Buffer.from('previous version'), Date.now() - 1000);
    const body = randomBytes(200_000);
    const meta = metaOf(body);
    const st = local.stage(BLOB, Readable.from([body]), { expectedSize: body.length });
    await st.received;
    assert.equal(await local.revert(BLOB, meta.version), false, 'nothing of this version was published yet');
    await assert.rejects(st.commit(meta), (e: FlotillaError) => e.code === 'FAILED_PRECONDITION' && /reverted/.test(e.message));
    assert.deepEqual(await local.head(BLOB), old, 'the previous version stays');
    assert.deepEqual((await local.list('b', '', '', '', 10)).items.map((i) => i.meta?.version), [old.version]);
    assert.deepEqual(await tmpFiles(root), [], 'the refused stage left no temporary file');
    assert.throws(() => local.stagedWrite(st.id), (e: FlotillaError) => e.code === 'NOT_FOUND', 'the stage was dropped');
  });

  it('a revert that arrives while the commit is publishing waits for it, then removes the version', async (t) => {
    const { local, root, hold } = await newReplica(t);
    const body = randomBytes(300_000);
    const meta = metaOf(body);
    const { commit, release } = await commitHeld(local, hold, body, meta);
    let reverted: boolean | undefined;
    const revert = local.revert(BLOB, meta.version).then((r) => (reverted = r));
    // Let the revert run as far as it goes while the publication is held.
    for (let i = 0; i < 10; i++) await new Promise((r) => setImmediate(r));
    assert.equal(reverted, undefined, 'the revert waits for the commit in flight');
    release();
    assert.deepEqual(await commit, meta);
    assert.equal(await revert, true, 'the revert removed what the commit published');
    assert.equal(await local.head(BLOB), undefined);
    assert.deepEqual((await local.list('b', '', '', '', 10)).items, []);
    const inv: string[] = [];
    for await (const e of local.inventory()) inv.push(e.blob);
    assert.deepEqual(inv, []);
    assert.deepEqual(await tmpFiles(root), []);
  });

  it('other versions are unaffected: a revert neither waits for nor removes them, and its marker refuses only its own version', { timeout: 60_000 }, async (t) => {
    const { local, hold } = await newReplica(t);
    const failed = metaOf(Buffer.from('a write that failed its quorum'), Date.now() - 2000);
    assert.equal(await local.revert(BLOB, failed.version), false);
    const body = randomBytes(100_000);
    const meta = metaOf(body);
    const { commit, release } = await commitHeld(local, hold, body, meta);
    assert.equal(await local.revert(BLOB, failed.version), false, 'a revert of another version does not wait for this commit');
    release();
    assert.deepEqual(await commit, meta, 'the marker of another version does not refuse this commit');
    assert.deepEqual(await local.head(BLOB), meta);
    assert.equal(await local.revert(BLOB, failed.version), false);
    assert.deepEqual(await local.head(BLOB), meta, 'a revert of another version leaves the replica');
  });

  it('the marker table is bounded (oldest dropped first) and its markers expire', async (t) => {
    const { local } = await newReplica(t, { maxRevertMarkers: 3, revertMarkerTtlMs: 60_000 });
    const versions = [0, 1, 2, 3, 4].map((i) => newVersion(Date.now() + i));
    for (const v of versions) await local.revert(BLOB, v);
    assert.equal(local.revertMarkers(), 3);
    assert.deepEqual(versions.map((v) => local.wasReverted(BLOB, v)), [false, false, true, true, true]);

    const short = await newReplica(t, { revertMarkerTtlMs: 100 });
    const body = randomBytes(1000);
    const meta = metaOf(body);
    await short.local.revert(BLOB, meta.version);
    assert.equal(short.local.wasReverted(BLOB, meta.version), true);
    await new Promise((r) => setTimeout(r, 250));
    assert.equal(short.local.revertMarkers(), 0, 'an expired marker is dropped');
    const st = short.local.stage(BLOB, Readable.from([body]));
    await st.received;
    assert.deepEqual(await st.commit(meta), meta, 'once the marker expired, a commit of that version is accepted again');

    await assert.rejects(short.local.revert('../escape', meta.version), (e: FlotillaError) => e.code === 'INVALID_ARGUMENT');
    await assert.rejects(short.local.revert(BLOB, 'v'.repeat(10_000)), (e: FlotillaError) => e.code === 'INVALID_ARGUMENT');
    assert.equal(short.local.revertMarkers(), 0, 'a refused revert leaves no marker');
    assert.throws(() => new LocalReplica(createDirBackend({ path: join(short.root, 'x') }), join(short.root, 'y'), { maxRevertMarkers: 0 }), (e: FlotillaError) => e.code === 'INVALID_ARGUMENT');
    assert.throws(() => new LocalReplica(createDirBackend({ path: join(short.root, 'x') }), join(short.root, 'y'), { revertMarkerTtlMs: -1 }), (e: FlotillaError) => e.code === 'INVALID_ARGUMENT');
  });
});

describe('revert versus commit of the same version (replica API over HTTP)', () => {
  async function holder(t: TestContext): Promise<{ local: LocalReplica; root: string; hold: () => Hold; address: string; client: ReturnType<typeof createReplicaClient> }> {
    const r = await newReplica(t);
    const http = createHttpServer({ listen: '127.0.0.1:0', logger: silentLogger(), processName: 'test', version: '0', tls: null });
    registerReplicaRoutes(http.app, { local: () => r.local, reportDamaged: () => undefined });
    await http.start();
    t.after(() => http.stop());
    const client = createReplicaClient();
    t.after(() => client.close());
    return { ...r, address: http.address, client };
  }

  it('a delayed commit request that arrives after the revert is refused (409 FAILED_PRECONDITION) and nothing is visible', async (t) => {
    const { local, root, address, client } = await holder(t);
    const body = randomBytes(150_000);
    const meta = metaOf(body);
    const s = await client.stage('n1', address, BLOB, Readable.from([body]), { size: body.length, verify: 'crc32' });
    assert.equal(s.crc32, meta.crc32);
    await client.revert('n1', address, BLOB, meta.version);
    await assert.rejects(client.commit('n1', address, s.stage, meta), (e: FlotillaError) => e.code === 'FAILED_PRECONDITION' && /reverted/.test(e.message));
    assert.equal(await client.head('n1', address, BLOB), undefined);
    assert.equal(await local.head(BLOB), undefined);
    assert.deepEqual(await tmpFiles(root), []);
    await assert.rejects(client.revert('n1', address, BLOB, 'v'.repeat(1000)), (e: FlotillaError) => e.code === 'INVALID_ARGUMENT' && /version/.test(e.message));
  });

  it('a revert request that arrives while the commit publishes removes the version', async (t) => {
    const { local, root, hold, address, client } = await holder(t);
    const body = randomBytes(150_000);
    const meta = metaOf(body);
    const s = await client.stage('n1', address, BLOB, Readable.from([body]), { size: body.length, verify: 'crc32' });
    const h = hold();
    const commit = client.commit('n1', address, s.stage, meta);
    await h.reached;
    const revert = client.revert('n1', address, BLOB, meta.version);
    await until(() => local.wasReverted(BLOB, meta.version), 'the revert reached the holder');
    h.release();
    assert.deepEqual(await commit, meta);
    await revert;
    assert.equal(await client.head('n1', address, BLOB), undefined);
    assert.deepEqual((await local.list('b', '', '', '', 10)).items, []);
    assert.deepEqual(await tmpFiles(root), []);
  });
});
