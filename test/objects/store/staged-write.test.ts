/**
 * The pieces of the two-phase write path, in process on a real directory backend and index:
 * - a staged replica write is invisible (head, read, listing, backend files) until committed; an abort or
 *   a timeout leaves nothing, not even a temporary file; a commit with other bytes than arrived is refused
 *   (checked with SHA-256, or with CRC32 as holders do when the writer asks);
 * - the fan-out to replicas holds back a fast source at the pace of the slowest target (back-pressure,
 *   bounded buffering) and delivers the same bytes, in order, to every target.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { PassThrough, Readable, Writable } from 'node:stream';
import { describe, it, type TestContext } from 'node:test';
import { crc32 } from 'node:zlib';
import { FlotillaError } from '../../../src/core/errors.js';
import { createDirBackend } from '../../../src/objects/backends/index.js';
import { newVersion, type StoredMeta } from '../../../src/objects/store/blob-meta.js';
import { LocalReplica } from '../../../src/objects/store/local-replica.js';
import { FAN_OUT_HIGH_WATER_BYTES, fanOut, VerifyingStream } from '../../../src/objects/store/streams.js';
import { tempDir } from '../../testkit/index.js';

const BLOB = 'replicated-3/0007/0123456789abcdef';

async function newReplica(t: TestContext): Promise<{ local: LocalReplica; root: string }> {
  const root = await tempDir(t, 'staged-write-');
  const local = new LocalReplica(createDirBackend({ path: join(root, 'objects') }), join(root, 'index'));
  await local.start();
  t.after(() => local.stop());
  return { local, root };
}

function metaOf(body: Buffer, key = 'k'): StoredMeta {
  const t = Date.now();
  const md5 = createHash('md5').update(body).digest('hex');
  return { kind: 'object', bucket: 'b', key, size: body.length, sha256: createHash('sha256').update(body).digest('hex'), md5, etag: md5, contentType: 'application/octet-stream', userMetadata: {}, lastModifiedMs: t, version: newVersion(t) };
}

const tmpFiles = async (root: string): Promise<string[]> => readdir(join(root, 'objects', 'tmp'));

describe('staged replica writes (LocalReplica.stage)', () => {
  it('a staged write is invisible until committed, then visible with its metadata', async (t) => {
    const { local, root } = await newReplica(t);
    const body = randomBytes(3 * 1024 * 1024 + 17);
    const st = local.stage(BLOB, Readable.from([body.subarray(0, 1000), body.subarray(1000)]), { expectedSize: body.length });
    const w = await st.received;
    assert.equal(w.size, body.length);
    assert.equal(w.sha256, createHash('sha256').update(body).digest('hex'), 'the replica hashes what it received');
    assert.equal(w.md5, undefined, 'MD5 is the writer\'s job, not each replica\'s');
    assert.equal(await local.head(BLOB), undefined, 'not visible before the commit');
    assert.equal((await local.list('b', '', '', '', 10)).items.length, 0);
    assert.equal((await tmpFiles(root)).length, 1, 'the body waits in a temporary file');
    const meta = metaOf(body);
    await st.commit(meta);
    assert.deepEqual(await local.head(BLOB), meta);
    assert.deepEqual((await local.list('b', '', '', '', 10)).items.map((i) => i.key), ['k']);
    const r = await local.read(BLOB);
    const got: Buffer[] = [];
    for await (const c of r.body) got.push(c as Buffer);
    assert.ok(Buffer.concat(got).equals(body));
    assert.deepEqual(await tmpFiles(root), []);
    await st.abort();
    assert.deepEqual(await local.head(BLOB), meta, 'an abort after the commit changes nothing');
  });

  it('an abort, before or after the body arrived, leaves nothing and keeps the previous version', async (t) => {
    const { local, root } = await newReplica(t);
    const old = Buffer.from('the previous version');
    const oldMeta = metaOf(old);
    const first = local.stage(BLOB, Readable.from([old]));
    await first.received;
    await first.commit(oldMeta);

    const arrived = local.stage(BLOB, Readable.from([randomBytes(100_000)]));
    await arrived.received;
    await arrived.abort();
    assert.deepEqual(await local.head(BLOB), oldMeta);

    const slow = new PassThrough();
    slow.write(randomBytes(50_000));
    const midway = local.stage(BLOB, slow);
    await midway.abort(new FlotillaError('UNAVAILABLE', 'quorum lost'));
    await assert.rejects(midway.received);
    await assert.rejects(midway.commit(oldMeta), (e: FlotillaError) => e instanceof FlotillaError);
    assert.deepEqual(await local.head(BLOB), oldMeta);
    assert.deepEqual(await tmpFiles(root), [], 'no temporary file is left behind');
    assert.throws(() => local.stagedWrite(arrived.id), (e: FlotillaError) => e.code === 'NOT_FOUND');
  });

  it('a staged write nobody commits times out and is dropped', async (t) => {
    const { local, root } = await newReplica(t);
    const st = local.stage(BLOB, Readable.from([randomBytes(10_000)]), { timeoutMs: 200 });
    await st.received;
    assert.equal(local.stagedWrite(st.id), st);
    for (let i = 0; i < 200 && (await tmpFiles(root)).length > 0; i++) await new Promise((r) => setTimeout(r, 25));
    assert.deepEqual(await tmpFiles(root), []);
    assert.throws(() => local.stagedWrite(st.id), (e: FlotillaError) => e.code === 'NOT_FOUND');
    await assert.rejects(st.commit(metaOf(Buffer.alloc(10_000))));
    assert.equal(await local.head(BLOB), undefined);
  });

  it('a commit whose size or SHA-256 differs from what arrived is refused and nothing is published', async (t) => {
    const { local, root } = await newReplica(t);
    const body = randomBytes(64 * 1024);
    const st = local.stage(BLOB, Readable.from([body]));
    await st.received;
    const other = Buffer.from(body);
    other[5] = other[5]! ^ 1;
    await assert.rejects(st.commit(metaOf(other)), (e: FlotillaError) => e.code === 'INVALID_ARGUMENT' && /received/.test(e.message));
    assert.equal(await local.head(BLOB), undefined);
    assert.deepEqual(await tmpFiles(root), []);
  });

  it('a holder checking with CRC32 (what writers ask for) computes only that, and refuses a commit whose CRC32 is not what arrived', async (t) => {
    const { local, root } = await newReplica(t);
    const body = randomBytes(3 * 64 * 1024 + 11);
    const crc = (b: Buffer): string => (crc32(b) >>> 0).toString(16).padStart(8, '0');
    const digests = { sha256: false, md5: false, crc32: true };
    const st = local.stage(BLOB, Readable.from([body.subarray(0, 70_000), body.subarray(70_000)]), { digests });
    const w = await st.received;
    assert.deepEqual(w, { size: body.length, crc32: crc(body) }, 'size and CRC32, no SHA-256 or MD5');
    const other = Buffer.from(body);
    other[body.length - 1] = other[body.length - 1]! ^ 0x80;
    // The writer's metadata carries its SHA-256 too, but the holder can only compare what it computed.
    await assert.rejects(st.commit({ ...metaOf(body), crc32: crc(other) }), (e: FlotillaError) => e.code === 'INVALID_ARGUMENT' && /CRC32/.test(e.message));
    assert.equal(await local.head(BLOB), undefined);
    assert.deepEqual(await tmpFiles(root), []);

    const again = local.stage(BLOB, Readable.from([body]), { digests });
    await again.received;
    const meta = { ...metaOf(body), crc32: crc(body) };
    await again.commit(meta);
    assert.deepEqual(await local.head(BLOB), meta, 'published with the CRC32 in its metadata');
  });

  it('a body longer or shorter than declared fails the stage', async (t) => {
    const { local, root } = await newReplica(t);
    await assert.rejects(local.stage(BLOB, Readable.from([Buffer.alloc(10)]), { expectedSize: 11 }).received, (e: FlotillaError) => e.code === 'INVALID_ARGUMENT');
    await assert.rejects(local.stage(BLOB, Readable.from([Buffer.alloc(12)]), { expectedSize: 11 }).received, (e: FlotillaError) => e.code === 'INVALID_ARGUMENT');
    assert.equal(await local.head(BLOB), undefined);
    assert.deepEqual(await tmpFiles(root), []);
  });
});

describe('fan-out to replicas', () => {
  it('holds a fast source back to the slowest target and delivers the same bytes to every target', async () => {
    const CHUNK = 64 * 1024;
    const TOTAL = 16 * 1024 * 1024;
    let produced = 0;
    const source = new Readable({
      read() {
        if (produced >= TOTAL) return void this.push(null);
        produced += CHUNK;
        this.push(randomBytes(CHUNK));
      },
    });
    const sent = createHash('sha256');
    const received: Record<string, { hash: ReturnType<typeof createHash>; bytes: number }> = {};
    let slowBytes = 0;
    let maxAhead = 0;
    let release: (() => void) | undefined;
    const gate = new Promise<void>((r) => (release = r));
    const consume = async (target: string, body: Readable): Promise<string> => {
      const h = createHash('sha256');
      received[target] = { hash: h, bytes: 0 };
      await new Promise<void>((resolve, reject) => {
        const sink = new Writable({
          highWaterMark: 1,
          write(chunk: Buffer, _e, cb) {
            h.update(chunk);
            received[target]!.bytes += chunk.length;
            if (target === 'slow') {
              slowBytes += chunk.length;
              maxAhead = Math.max(maxAhead, produced - slowBytes);
              // The slow target takes nothing more until released once 1 MiB arrived.
              if (slowBytes >= 1024 * 1024) return void gate.then(() => setTimeout(cb, 1));
            }
            cb();
          },
        });
        body.pipe(sink).once('finish', resolve).once('error', reject);
        body.once('error', reject);
      });
      return target;
    };
    const done = fanOut(source, ['fast', 'slow'], 2, consume, (c) => void sent.update(c));
    // While the slow target holds, the source must stop being read: wait until production stalls.
    let last = -1;
    for (let i = 0; i < 200 && produced !== last; i++) {
      last = produced;
      await new Promise((r) => setTimeout(r, 20));
    }
    const bound = 1024 * 1024 + 2 * FAN_OUT_HIGH_WATER_BYTES + 4 * CHUNK;
    assert.ok(produced < TOTAL, 'the source was paused');
    assert.ok(produced - slowBytes <= bound, `buffered ahead of the slow target: ${produced - slowBytes} bytes (bound ${bound})`);
    release!();
    const r = await done;
    assert.deepEqual(r.ok.sort(), ['fast', 'slow']);
    assert.equal(r.errors.length, 0);
    const want = sent.digest('hex');
    for (const t of ['fast', 'slow']) {
      assert.equal(received[t]!.bytes, TOTAL);
      assert.equal(received[t]!.hash.digest('hex'), want, `${t} got the bytes in order`);
    }
    assert.ok(maxAhead <= bound + CHUNK, `at most ${maxAhead} bytes were ever buffered ahead of the slow target`);
  });

  it('a target that fails is dropped; below the quorum every target is aborted', async () => {
    const source = Readable.from((function* () {
      for (let i = 0; i < 64; i++) yield randomBytes(64 * 1024);
    })());
    const seen: string[] = [];
    const consume = async (target: string, body: Readable): Promise<string> => {
      if (target !== 'ok') throw new FlotillaError('UNAVAILABLE', `${target} is down`);
      try {
        for await (const _ of body) {
          /* drain */
        }
      } catch (err) {
        seen.push(`${target} aborted: ${FlotillaError.from(err).code}`);
        throw err;
      }
      return target;
    };
    await assert.rejects(fanOut(source, ['ok', 'down-1', 'down-2'], 2, consume), (e: FlotillaError) => e.code === 'UNAVAILABLE' && /quorum lost/.test(e.message));
    assert.deepEqual(seen, ['ok aborted: UNAVAILABLE'], 'the live target did not receive a whole body');
  });
});

describe('read verification (VerifyingStream)', () => {
  const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');
  const crc = (b: Buffer): string => (crc32(b) >>> 0).toString(16).padStart(8, '0');
  async function through(meta: { sha256: string; crc32?: string }, bytes: Buffer): Promise<{ out: Buffer; damaged: boolean; error?: Error }> {
    let damaged = false;
    const v = new VerifyingStream(meta, () => (damaged = true));
    const chunks: Buffer[] = [];
    try {
      for await (const c of Readable.from([bytes.subarray(0, 1000), bytes.subarray(1000)]).pipe(v)) chunks.push(c as Buffer);
    } catch (err) {
      return { out: Buffer.concat(chunks), damaged, error: err as Error };
    }
    return { out: Buffer.concat(chunks), damaged };
  }

  it('checks the CRC32 when the replica has one, else the SHA-256 (replicas written before it was stored)', async () => {
    const body = randomBytes(300_000);
    const bad = Buffer.from(body);
    bad[200_000] = bad[200_000]! ^ 0x01;
    for (const meta of [{ sha256: sha(body), crc32: crc(body) }, { sha256: sha(body) }]) {
      const ok = await through(meta, body);
      assert.equal(ok.error, undefined);
      assert.ok(ok.out.equals(body) && !ok.damaged);
      const cut = await through(meta, bad);
      assert.match(cut.error?.message ?? '', /checksum mismatch/, JSON.stringify(Object.keys(meta)));
      assert.ok(cut.damaged, 'the replica is reported damaged');
      assert.ok(cut.out.length < bad.length, `the reader got ${cut.out.length} of ${bad.length} bytes: the last chunk is held back`);
    }
    // With a CRC32 stored, that is what is checked (a SHA-256 that does not match is not looked at).
    assert.equal((await through({ sha256: 'f'.repeat(64), crc32: crc(body) }, body)).error, undefined);
  });
});
