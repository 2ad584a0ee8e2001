/**
 * The write and read paths on a server and three node processes (directory backends, 1 s replicator and
 * auditor intervals):
 * - a large object round-trips with its checksums: the answer's SHA-256 and ETag (MD5) are the body's,
 *   every replica file on disk holds the bytes and that metadata, a ranged GET returns the exact slice;
 *   a HEAD answers the GET's headers from the metadata, without reading the body;
 * - a multipart upload over S3 completes into one object with the S3 multipart ETag;
 * - a PUT from a slow client (a body trickling in) is stored whole on the three nodes;
 * - the undo path: holders that stage a body but fail to publish it (their temporary directory on another
 *   filesystem: rename fails): with two of three failing, the access node's published copy is reverted,
 *   the PUT answers 503, every node still serves the previous version and the replicator restores it on
 *   the access node; with one failing, the PUT succeeds and the replicator repairs the failed holder;
 * - a PUT that fails its write quorum leaves nothing visible: with the other two holders unable to store
 *   (their temporary directory broken) the PUT answers 503 and GET/LIST show neither the object nor a
 *   change to an existing one; after the holders are repaired and restarted, the replicator and the
 *   auditor do not bring it back. With two of three nodes stopped, a PUT answers 503 the same way and
 *   leaves no file on the remaining node.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { lstat, mkdir, mkdtemp, readdir, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { request } from 'node:http';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { crc32 } from 'node:zlib';
import { CompleteMultipartUploadCommand, CreateMultipartUploadCommand, S3Client, UploadPartCommand } from '@aws-sdk/client-s3';
import { eventually, suiteOwner, type NodeHandle } from '../../testkit/cluster.js';
import { startObjectCluster, type ObjectCluster } from '../cli/object-cluster.js';
import { blobFiles } from './blob-files.js';

const AK = 'writepathaccess';
const SK = 'writepathsecret';
const MiB = 1024 * 1024;
const sha256 = (b: Buffer): string => createHash('sha256').update(b).digest('hex');
const md5 = (b: Buffer): string => createHash('md5').update(b).digest('hex');

/** Every replica file of bucket/key on a node: its body and stored metadata (the blob format's trailer). */
async function replicasOn(n: NodeHandle, bucket: string, key: string): Promise<{ body: Buffer; meta: Record<string, unknown> }[]> {
  const out: { body: Buffer; meta: Record<string, unknown> }[] = [];
  for (const f of await blobFiles(join(n.dataDir, 'objects', 'blobs'))) {
    const all = await readFile(f);
    const metaLen = all.readUInt32BE(all.length - 12);
    const meta = JSON.parse(all.subarray(all.length - 12 - metaLen, all.length - 12).toString('utf8')) as Record<string, unknown>;
    if (meta.bucket === bucket && meta.key === key && meta.kind === 'object') out.push({ body: all.subarray(0, all.length - 12 - metaLen), meta });
  }
  return out;
}

describe('object write and read paths on three node processes', () => {
  const owner = suiteOwner();
  let c: ObjectCluster;
  const url = (i: number, path: string): string => `http://${c.http[i]}/api/v1/objects${path}`;
  const obj = (i: number, bucket: string, key: string): string => url(i, `/buckets/${bucket}/objects/${encodeURIComponent(key)}`);
  const get = async (i: number, bucket: string, key: string): Promise<Buffer | number> => {
    const r = await fetch(obj(i, bucket, key));
    if (r.status !== 200) {
      await r.body?.cancel();
      return r.status;
    }
    return Buffer.from(await r.arrayBuffer());
  };
  const keys = async (i: number, bucket: string): Promise<string[]> => {
    const r = await fetch(url(i, `/buckets/${bucket}/objects`));
    assert.equal(r.status, 200);
    return ((await r.json()) as { objects: { key: string }[] }).objects.map((o) => o.key);
  };

  it('starts three nodes and a bucket', async () => {
    c = await startObjectCluster(owner, { nodeArgs: ['--s3-credentials', `${AK}:${SK}`, '--replicate-interval', '1s', '--audit-interval', '1s'] });
    assert.equal((await fetch(url(0, '/buckets/data'), { method: 'PUT' })).status, 201);
  });

  it('a large object round-trips with its checksums; every replica holds the bytes and the metadata; ranged GETs are exact', async () => {
    const body = randomBytes(24 * MiB + 12345);
    const r = await fetch(obj(1, 'data', 'big/one.bin'), { method: 'PUT', body, headers: { 'content-type': 'application/x-test' } });
    assert.equal(r.status, 200, await r.clone().text());
    const meta = (await r.json()) as { size: number; sha256: string; etag: string };
    assert.equal(meta.size, body.length);
    assert.equal(meta.sha256, sha256(body));
    // The native API's ETag is the SHA-256 (no MD5 pass); S3 PutObject's is the MD5 (the S3 SDK tests).
    assert.equal(meta.etag, `sha256-${sha256(body)}`);
    const g = await fetch(obj(2, 'data', 'big/one.bin'));
    assert.equal(g.headers.get('x-flotilla-sha256'), sha256(body));
    assert.equal(g.headers.get('etag'), `"sha256-${sha256(body)}"`);
    assert.ok(Buffer.from(await g.arrayBuffer()).equals(body));
    for (const n of c.nodes) {
      const reps = await replicasOn(n, 'data', 'big/one.bin');
      assert.equal(reps.length, 1, `${n.nodeName} holds one replica`);
      assert.ok(reps[0]!.body.equals(body), `${n.nodeName}: the replica's bytes`);
      assert.equal(reps[0]!.meta.sha256, sha256(body), `${n.nodeName}: stored SHA-256`);
      assert.equal(reps[0]!.meta.md5, '', `${n.nodeName}: no MD5 computed`);
      assert.equal(reps[0]!.meta.etag, `sha256-${sha256(body)}`, `${n.nodeName}: stored ETag`);
      assert.equal(reps[0]!.meta.contentType, 'application/x-test');
    }
    for (const [i, [start, end]] of [[0, 0], [MiB - 3, MiB + 2], [5 * MiB + 7, 17 * MiB + 1], [body.length - 10, body.length - 1]].entries()) {
      const rg = await fetch(obj(i % 3, 'data', 'big/one.bin'), { headers: { range: `bytes=${start}-${end}` } });
      assert.equal(rg.status, 206);
      assert.equal(rg.headers.get('content-range'), `bytes ${start}-${end}/${body.length}`);
      assert.ok(Buffer.from(await rg.arrayBuffer()).equals(body.subarray(start, end! + 1)), `range ${start}-${end}`);
    }
  });

  it('a HEAD answers with a GET\'s headers from the metadata alone (the body is not read)', async () => {
    const body = randomBytes(24 * MiB + 12345);
    const r = await fetch(obj(0, 'data', 'big/head.bin'), { method: 'PUT', body, headers: { 'content-type': 'application/x-test' } });
    assert.equal(r.status, 200, await r.text());
    // Bytes the node has read (/proc/PID/io rchar: files and sockets). The auditor (1 s) reads replicas in
    // the background too, so one of several HEADs must read less than a MiB; reading the body is 24 MiB.
    const rchar = async (pid: number): Promise<number> => Number(/^rchar: (\d+)$/m.exec(await readFile(`/proc/${pid}/io`, 'utf8'))![1]);
    const pid = c.nodes[1]!.pid!;
    const read: number[] = [];
    for (let i = 0; i < 10 && !read.some((n) => n < MiB); i++) {
      const before = await rchar(pid);
      const h = await fetch(obj(1, 'data', 'big/head.bin'), { method: 'HEAD' });
      assert.equal(h.status, 200);
      assert.equal(h.headers.get('content-length'), String(body.length));
      assert.equal(h.headers.get('etag'), `"sha256-${sha256(body)}"`);
      assert.equal(h.headers.get('x-flotilla-sha256'), sha256(body));
      assert.equal(h.headers.get('content-type'), 'application/x-test');
      assert.equal(h.headers.get('accept-ranges'), 'bytes');
      assert.equal((await h.arrayBuffer()).byteLength, 0);
      read.push((await rchar(pid)) - before);
    }
    assert.ok(read.some((n) => n < MiB), `bytes read by the node per HEAD: ${read.join(', ')}`);
    const missing = await fetch(obj(1, 'data', 'big/no-such.bin'), { method: 'HEAD' });
    assert.equal(missing.status, 404);
  });

  it('a multipart upload over S3 completes into one object with the multipart ETag', async () => {
    const s3 = new S3Client({ endpoint: `http://${c.http[0]}`, region: 'us-east-1', forcePathStyle: true, credentials: { accessKeyId: AK, secretAccessKey: SK }, maxAttempts: 1 });
    try {
        const parts = [randomBytes(5 * MiB), randomBytes(5 * MiB), randomBytes(1234)];
        const { UploadId } = await s3.send(new CreateMultipartUploadCommand({ Bucket: 'data', Key: 'multi.bin' }));
        const etags: string[] = [];
        for (const [i, p] of parts.entries()) etags.push((await s3.send(new UploadPartCommand({ Bucket: 'data', Key: 'multi.bin', UploadId, PartNumber: i + 1, Body: p }))).ETag!);
        const done = await s3.send(new CompleteMultipartUploadCommand({ Bucket: 'data', Key: 'multi.bin', UploadId, MultipartUpload: { Parts: etags.map((ETag, i) => ({ ETag, PartNumber: i + 1 })) } }));
        const want = `${md5(Buffer.concat(parts.map((p) => Buffer.from(md5(p), 'hex'))))}-3`;
        assert.equal(done.ETag, `"${want}"`);
        const whole = Buffer.concat(parts);
        const g = await get(2, 'data', 'multi.bin');
        assert.ok(Buffer.isBuffer(g) && g.equals(whole));
        for (const n of c.nodes) assert.equal((await replicasOn(n, 'data', 'multi.bin'))[0]?.meta.sha256, sha256(whole), n.nodeName);
    } finally {
      s3.destroy();
    }
  });

  it('a PUT from a slow client (the body trickling in) is stored whole on the three nodes', async () => {
    const body = randomBytes(6 * MiB);
    const [host, port] = c.http[2]!.split(':') as [string, string];
    const status = await new Promise<number>((resolve, reject) => {
      const req = request({ host, port: Number(port), method: 'PUT', path: `/api/v1/objects/buckets/data/objects/slow.bin`, headers: { 'content-length': body.length } }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.once('error', reject);
      let off = 0;
      const next = (): void => {
        if (off >= body.length) return void req.end();
        const piece = body.subarray(off, off + 256 * 1024);
        off += piece.length;
        req.write(piece);
        setTimeout(next, 15);
      };
      next();
    });
    assert.equal(status, 200);
    const g = await get(0, 'data', 'slow.bin');
    assert.ok(Buffer.isBuffer(g) && g.equals(body));
    for (const n of c.nodes) assert.equal((await replicasOn(n, 'data', 'slow.bin')).length, 1, n.nodeName);
  });

  it('holders failing between stage and publish: below quorum the write is undone (previous version kept everywhere, restored on the access node); at quorum the laggard is repaired', async () => {
    // A holder whose temporary directory lies on another filesystem than its blobs receives and stages a
    // body normally, but cannot publish it (rename: EXDEV): it fails between the two phases, a real
    // failure of its storage, with the previous version still readable there.
    const dataDev = (await stat(c.nodes[0]!.dataDir)).dev;
    let elsewhere: string | undefined;
    for (const d of ['/dev/shm', tmpdir(), '/var/tmp', process.cwd()]) {
      const st = await stat(d).catch(() => undefined);
      if (st?.isDirectory() === true && st.dev !== dataDev) {
        elsewhere = d;
        break;
      }
    }
    assert.ok(elsewhere !== undefined, 'a writable directory on another filesystem than the nodes\' data directories (/dev/shm)');
    const foreign = await mkdtemp(join(elsewhere, 'flotilla-undo-'));
    owner.after(() => rm(foreign, { recursive: true, force: true }));
    const breakPublish = async (n: NodeHandle): Promise<string> => {
      const dir = await mkdtemp(join(foreign, `${n.nodeName}-`));
      await rm(join(n.dataDir, 'objects', 'tmp'), { recursive: true, force: true });
      await symlink(dir, join(n.dataDir, 'objects', 'tmp'));
      return dir;
    };
    const repairPublish = async (n: NodeHandle): Promise<void> => {
      await rm(join(n.dataDir, 'objects', 'tmp'), { force: true });
      await mkdir(join(n.dataDir, 'objects', 'tmp'), { recursive: true });
    };
    try {
    const v1 = randomBytes(2 * MiB + 3);
    const v2 = randomBytes(2 * MiB + 5);
    assert.equal((await fetch(obj(0, 'data', 'undo.bin'), { method: 'PUT', body: v1 })).status, 200);
    for (const n of c.nodes) assert.equal((await replicasOn(n, 'data', 'undo.bin'))[0]?.meta.sha256, sha256(v1), `${n.nodeName} holds v1`);

    // node-b and node-c fail to publish: node-a (the access node) published v2, then had to undo it.
    const stagedAt = await Promise.all(c.nodes.slice(1).map(breakPublish));
    const r = await fetch(obj(0, 'data', 'undo.bin'), { method: 'PUT', body: v2 });
    const problem = (await r.json()) as { code?: string; detail?: string };
    assert.equal(r.status, 503, JSON.stringify(problem));
    assert.equal(problem.code, 'UNAVAILABLE');
    assert.match(problem.detail ?? '', /1 of 2 replicas published .*the write was undone/);
    for (const d of stagedAt) assert.deepEqual(await readdir(d), [], 'a holder that could not publish kept no temporary file');
    for (let i = 0; i < 3; i++) assert.deepEqual(await get(i, 'data', 'undo.bin'), v1, `GET on node ${i} after the undo: the previous version`);
    for (const n of c.nodes) {
      for (const rep of await replicasOn(n, 'data', 'undo.bin')) assert.equal(rep.meta.sha256, sha256(v1), `${n.nodeName}: no replica of the undone version`);
    }
    // node-a removed its published v2 (its v1 was replaced by it): the replicator restores v1 there.
    await Promise.all(c.nodes.slice(1).map(repairPublish));
    await eventually('the replicator restores v1 on node-a', async () => (await replicasOn(c.nodes[0]!, 'data', 'undo.bin'))[0]?.body.equals(v1) === true, 20_000);
    for (const n of c.nodes) {
      const reps = await replicasOn(n, 'data', 'undo.bin');
      assert.equal(reps.length, 1, n.nodeName);
      assert.ok(reps[0]!.body.equals(v1), `${n.nodeName} holds v1`);
      assert.equal(reps[0]!.meta.crc32, (crc32(v1) >>> 0).toString(16).padStart(8, '0'), `${n.nodeName}: stored CRC32`);
    }

    // Only node-c fails to publish: the write quorum (2 of 3) holds, the PUT succeeds, node-c is repaired.
    await breakPublish(c.nodes[2]!);
    const v3 = randomBytes(MiB + 7);
    const ok = await fetch(obj(1, 'data', 'undo.bin'), { method: 'PUT', body: v3 });
    assert.equal(ok.status, 200, await ok.clone().text());
    assert.equal(((await ok.json()) as { sha256: string }).sha256, sha256(v3));
    for (let i = 0; i < 3; i++) assert.deepEqual(await get(i, 'data', 'undo.bin'), v3, `GET on node ${i}: the new version`);
    await repairPublish(c.nodes[2]!);
    await eventually('the replicator brings v3 to node-c', async () => (await replicasOn(c.nodes[2]!, 'data', 'undo.bin'))[0]?.body.equals(v3) === true, 20_000);
    } finally {
      // Whatever happened, the next tests find working nodes.
      for (const n of c.nodes) if ((await lstat(join(n.dataDir, 'objects', 'tmp')).catch(() => undefined))?.isSymbolicLink() === true) await repairPublish(n);
    }
  });

  it('a PUT that fails its write quorum answers 503 and leaves nothing visible; nothing comes back after restart', async () => {
    const old = Buffer.from('the version every node holds');
    assert.equal((await fetch(obj(0, 'data', 'kept.txt'), { method: 'PUT', body: old })).status, 200);
    // node-b and node-c stay ACTIVE but cannot store anything (their temporary directory is a file now).
    for (const n of c.nodes.slice(1)) {
      await rm(join(n.dataDir, 'objects', 'tmp'), { recursive: true, force: true });
      await writeFile(join(n.dataDir, 'objects', 'tmp'), 'not a directory');
    }
    for (const [key, body] of [['lost.bin', randomBytes(3 * MiB)], ['small.txt', Buffer.from('tiny')], ['kept.txt', Buffer.from('a newer version that failed')]] as const) {
      const r = await fetch(obj(0, 'data', key), { method: 'PUT', body });
      assert.equal(r.status, 503, `${key}: ${await r.clone().text()}`);
      const problem = (await r.json()) as { code?: string; detail?: string };
      assert.equal(problem.code, 'UNAVAILABLE');
      assert.match(problem.detail ?? '', /write quorum (not met|lost)/);
    }
    const check = async (when: string): Promise<void> => {
      for (let i = 0; i < 3; i++) {
        assert.equal(await get(i, 'data', 'lost.bin'), 404, `${when}: GET lost.bin on node ${i}`);
        assert.equal(await get(i, 'data', 'small.txt'), 404, `${when}: GET small.txt on node ${i}`);
        assert.deepEqual(await get(i, 'data', 'kept.txt'), old, `${when}: kept.txt keeps its old version on node ${i}`);
        const listed = await keys(i, 'data');
        assert.ok(!listed.includes('lost.bin') && !listed.includes('small.txt'), `${when}: LIST on node ${i}: ${listed.join(', ')}`);
      }
      for (const n of c.nodes) {
        assert.deepEqual(await replicasOn(n, 'data', 'lost.bin'), [], `${when}: no replica file of lost.bin on ${n.nodeName}`);
        assert.deepEqual(await replicasOn(n, 'data', 'small.txt'), [], `${when}: no replica file of small.txt on ${n.nodeName}`);
      }
    };
    await check('after the failed PUTs');
    assert.deepEqual(await readdir(join(c.nodes[0]!.dataDir, 'objects', 'tmp')), [], 'the access node kept no temporary file');
    // Repaired and restarted (a node clears its temporary directory at start), with replicator and auditor rounds.
    await Promise.all(c.nodes.slice(1).map((n) => n.restart()));
    // Replicator and auditor run every second (and a replication round at start and when a peer turns
    // ACTIVE): a few seconds are several rounds of each on every node.
    await new Promise((r) => setTimeout(r, 4000));
    await check('after the restart and repair rounds');
    assert.equal((await fetch(obj(1, 'data', 'small.txt'), { method: 'PUT', body: Buffer.from('now it works') })).status, 200);
  });

  it('with two of three nodes stopped a PUT answers 503 and stores nothing', async () => {
    await Promise.all([c.nodes[1]!.stop(), c.nodes[2]!.stop()]);
    const r = await fetch(obj(0, 'data', 'alone.bin'), { method: 'PUT', body: randomBytes(100_000) });
    assert.equal(r.status, 503);
    assert.equal(((await r.json()) as { code?: string }).code, 'UNAVAILABLE');
    assert.equal(await get(0, 'data', 'alone.bin'), 404);
    assert.ok(!(await keys(0, 'data')).includes('alone.bin'));
    assert.deepEqual(await replicasOn(c.nodes[0]!, 'data', 'alone.bin'), []);
    assert.deepEqual(await readdir(join(c.nodes[0]!.dataDir, 'objects', 'tmp')), []);
  });
});
