/**
 * The timed background passes of real node processes, with short intervals given as flags:
 *   --audit-interval 1s --replicate-interval 1s --tombstone-grace 4s --multipart-expiry 4s
 * - the auditor, on its own timer (no read touches the object), finds a replica corrupted on disk and the
 *   replicator restores it;
 * - a delete's tombstones disappear from every node's inventory after the grace period, and the key can be
 *   written again;
 * - an abandoned multipart upload (started over S3, one part stored on three nodes) is aborted after the
 *   limit: ListParts answers NoSuchUpload and no part blob is left on any node.
 * Bad values of the flags are refused with a clear one-line error.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { CreateMultipartUploadCommand, ListPartsCommand, S3Client, S3ServiceException, UploadPartCommand } from '@aws-sdk/client-s3';
import { eventually, runFlotilla, suiteOwner, type NodeHandle } from '../../testkit/cluster.js';
import { startObjectCluster, type ObjectCluster } from '../cli/object-cluster.js';
import { blobFiles } from './blob-files.js';

const AK = 'gctestaccess';
const SK = 'gctestsecret';

/** A node's replica inventory through its replica API: blob -> kind. */
async function inventory(http: string): Promise<Map<string, string>> {
  const text = await (await fetch(`http://${http}/internal/objects/inventory`)).text();
  const m = new Map<string, string>();
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    const e = JSON.parse(line) as { blob: string; kind: string };
    m.set(e.blob, e.kind);
  }
  return m;
}

const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

describe('timed auditor, tombstone and multipart garbage collection on three node processes', () => {
  const owner = suiteOwner();
  let c: ObjectCluster;
  const clients: S3Client[] = [];
  after(() => {
    for (const x of clients) x.destroy();
  });
  const api = (i: number): string => `http://${c.http[i]}/api/v1/objects/buckets`;
  const objectsDir = (n: NodeHandle): string => join(n.dataDir, 'objects');

  it('the auditor finds a replica corrupted on disk on its own timer; the replicator restores it', async () => {
    c = await startObjectCluster(owner, {
      nodeArgs: ['--audit-interval', '1s', '--replicate-interval', '1s', '--tombstone-grace', '4s', '--multipart-expiry', '4s', '--s3-credentials', `${AK}:${SK}`],
    });
    assert.equal((await fetch(`${api(0)}/gcb`, { method: 'PUT' })).status, 201);
    const body = randomBytes(200_000);
    const put = await fetch(`${api(0)}/gcb/objects/audited.bin`, { method: 'PUT', body });
    assert.equal(put.status, 200, await put.text());
    const nodeB = c.nodes[1]!;
    const files = await blobFiles(join(objectsDir(nodeB), 'blobs'));
    assert.equal(files.length, 1, files.join());
    const bytes = await readFile(files[0]!);
    assert.ok(bytes.subarray(0, body.length).equals(body));
    bytes[1000] = bytes[1000]! ^ 0xff;
    await writeFile(files[0]!, bytes);
    await nodeB.waitForOutput((out) => /audit: replica damaged/.test(out), 20_000);
    await eventually(
      'the replica on node-b holds the right bytes again',
      async () => {
        const f = await blobFiles(join(objectsDir(nodeB), 'blobs'));
        return f.length === 1 && sha((await readFile(f[0]!)).subarray(0, body.length)) === sha(body);
      },
      20_000,
    );
    assert.match(nodeB.output(), /replica restored/);
  });

  it('tombstones are removed from every node after the grace period; the key can be written again', async () => {
    const put = await fetch(`${api(1)}/gcb/objects/short-lived.txt`, { method: 'PUT', body: 'soon gone' });
    assert.equal(put.status, 200, await put.text());
    const del = await fetch(`${api(2)}/gcb/objects/short-lived.txt`, { method: 'DELETE' });
    assert.equal(del.status, 200, await del.text());
    const tombstones = async (): Promise<number[]> =>
      Promise.all(c.http.map(async (h) => [...(await inventory(h)).values()].filter((k) => k === 'tombstone').length));
    const before = await tombstones();
    assert.deepEqual(before, [1, 1, 1], 'a tombstone on each of the three replica holders right after the delete');
    assert.equal((await fetch(`${api(0)}/gcb/objects/short-lived.txt`)).status, 404);
    await eventually('no tombstone left on any node', async () => (await tombstones()).every((n) => n === 0), 30_000);
    assert.equal((await fetch(`${api(0)}/gcb/objects/short-lived.txt`)).status, 404, 'still deleted once the tombstones are gone');
    const again = await fetch(`${api(0)}/gcb/objects/short-lived.txt`, { method: 'PUT', body: 'back' });
    assert.equal(again.status, 200);
    assert.equal(await (await fetch(`${api(2)}/gcb/objects/short-lived.txt`)).text(), 'back');
    // The audited object was never deleted: still there.
    assert.equal((await fetch(`${api(1)}/gcb/objects/audited.bin?stat=1`)).status, 200);
  });

  it('an abandoned multipart upload is aborted after the limit and its parts removed everywhere', async () => {
    const s3 = new S3Client({ endpoint: `http://${c.http[0]}`, region: 'us-east-1', forcePathStyle: true, credentials: { accessKeyId: AK, secretAccessKey: SK }, maxAttempts: 1 });
    clients.push(s3);
    const { UploadId } = await s3.send(new CreateMultipartUploadCommand({ Bucket: 'gcb', Key: 'never-completed.bin' }));
    await s3.send(new UploadPartCommand({ Bucket: 'gcb', Key: 'never-completed.bin', UploadId, PartNumber: 1, Body: randomBytes(100_000) }));
    const parts = async (): Promise<number[]> => Promise.all(c.http.map(async (h) => [...(await inventory(h)).values()].filter((k) => k === 'part').length));
    assert.ok((await parts()).every((n) => n === 1), 'one part blob on each node');
    await eventually(
      'the upload is gone',
      async () => {
        try {
          await s3.send(new ListPartsCommand({ Bucket: 'gcb', Key: 'never-completed.bin', UploadId }));
          return false;
        } catch (e) {
          return e instanceof S3ServiceException && e.name === 'NoSuchUpload';
        }
      },
      30_000,
    );
    await eventually('no part blob left on any node', async () => (await parts()).every((n) => n === 0), 30_000);
    assert.ok(c.nodes.some((n) => /abandoned multipart upload aborted/.test(n.output())));
  });

  it('bad interval flags are refused with a clear error', async () => {
    for (const [flag, value] of [['--audit-interval', 'often'], ['--replicate-interval', '10ms'], ['--tombstone-grace', '-1s']] as const) {
      const r = await runFlotilla(['node', '--name', 'bad', flag, value, '--roles', 'objects'], { timeoutMs: 15_000 });
      assert.notEqual(r.code, 0, `${flag} ${value}`);
      assert.match(r.stderr, new RegExp(flag.slice(2).replace(/-/g, '.?'), 'i'), r.stderr);
      assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
    }
  });
});
