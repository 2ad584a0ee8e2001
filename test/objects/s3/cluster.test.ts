// The S3 API through real `flotilla node` processes: a server and three nodes (objects role, directory
// backends, zones z1-z3) with `--s3-credentials`; @aws-sdk/client-s3, lib-storage and rclone talk to
// different nodes and see the same bytes. Multipart uses 64 MiB (the acceptance names 200 MiB).
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  CopyObjectCommand,
  CreateBucketCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListBucketsCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  S3ServiceException,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { eventually, startNode, suiteOwner, type NodeHandle } from '../../testkit/cluster.js';
import { startFlotilla, tempDir } from '../../testkit/index.js';

const AK = 'CLUSTERKEY';
const SK = 'cluster-secret-0123456789';

describe('S3 API on a flotilla cluster (server + 3 nodes)', () => {
  const owner = suiteOwner();
  const nodes: NodeHandle[] = [];
  const clients: S3Client[] = [];
  const client = (i: number, secret = SK): S3Client => {
    const c = new S3Client({ endpoint: `http://127.0.0.1:${nodes[i]!.port('http')}`, region: 'us-east-1', forcePathStyle: true, credentials: { accessKeyId: AK, secretAccessKey: secret }, maxAttempts: 2 });
    clients.push(c);
    return c;
  };
  after(() => {
    for (const c of clients) c.destroy();
  });

  before(async () => {
    const server = await startFlotilla(
      ({ port, dataDir }) => ['server', '--expect-nodes', '3', '--listen', `127.0.0.1:${port('grpc')}`, '--http', `127.0.0.1:${port('http')}`, '--coord-listen', `127.0.0.1:${port('coord')}`, '--data-dir', dataDir],
      {
        name: 'flotilla server',
        t: owner,
        ports: ['grpc', 'http', 'coord'],
        ready: async (p) => {
          const r = await fetch(`http://127.0.0.1:${p.port('http')}/readyz`).catch(() => undefined);
          await r?.body?.cancel();
          return r?.status === 200;
        },
      },
    );
    const common = ['--join', `127.0.0.1:${server.port('grpc')}`, '--roles', 'objects', '--xfer', 'off', '--s3-credentials', `${AK}:${SK}`, '--failure-timeout', '1500ms', '--health-interval', '500ms', '--lease-ttl', '3'];
    for (const [i, name] of ['node-a', 'node-b', 'node-c'].entries()) nodes.push(await startNode(owner, name, [...common, '--zone', `z${i + 1}`]));
    await eventually(
      'every node holds the object rings',
      async () => {
        for (const n of nodes) {
          const r = (await (await fetch(`http://127.0.0.1:${n.port('http')}/api/v1/rings`)).json()) as { rings: { name: string }[] };
          if (!r.rings.some((y) => y.name === 'objects-replicated-3')) return false;
        }
        return true;
      },
      30_000,
    );
  });

  it('SDK and lib-storage on different nodes: create, put single and 64 MiB multipart, list, ranged get, copy, delete', async () => {
    const [a, b, c] = [client(0), client(1), client(2)];
    await a.send(new CreateBucketCommand({ Bucket: 'fleet' }));
    const big = randomBytes(64 * 1024 * 1024);
    await new Upload({ client: b, params: { Bucket: 'fleet', Key: 'dir/big.bin', Body: Readable.from([big]) }, partSize: 8 * 1024 * 1024, queueSize: 2 }).done();
    const small = randomBytes(100_000);
    await c.send(new PutObjectCommand({ Bucket: 'fleet', Key: 'dir/small.bin', Body: Readable.from([small]), ContentLength: small.length }));
    await c.send(new PutObjectCommand({ Bucket: 'fleet', Key: 'top.txt', Body: 'top' }));
    const listed = await a.send(new ListObjectsV2Command({ Bucket: 'fleet', Delimiter: '/' }));
    assert.deepEqual([listed.CommonPrefixes?.map((p) => p.Prefix), listed.Contents?.map((o) => o.Key)], [['dir/'], ['top.txt']]);
    const under = await c.send(new ListObjectsV2Command({ Bucket: 'fleet', Prefix: 'dir/' }));
    assert.deepEqual(under.Contents?.map((o) => [o.Key, o.Size]), [['dir/big.bin', big.length], ['dir/small.bin', small.length]]);
    const whole = Buffer.from(await (await a.send(new GetObjectCommand({ Bucket: 'fleet', Key: 'dir/big.bin' }))).Body!.transformToByteArray());
    assert.ok(whole.equals(big));
    const ranged = await c.send(new GetObjectCommand({ Bucket: 'fleet', Key: 'dir/big.bin', Range: 'bytes=50000000-50000999' }));
    assert.ok(Buffer.from(await ranged.Body!.transformToByteArray()).equals(big.subarray(50_000_000, 50_001_000)));
    await b.send(new CopyObjectCommand({ Bucket: 'fleet', Key: 'copy.bin', CopySource: 'fleet/dir/small.bin' }));
    assert.ok(Buffer.from(await (await a.send(new GetObjectCommand({ Bucket: 'fleet', Key: 'copy.bin' }))).Body!.transformToByteArray()).equals(small));
    await a.send(new DeleteObjectCommand({ Bucket: 'fleet', Key: 'copy.bin' }));
    await assert.rejects(c.send(new HeadObjectCommand({ Bucket: 'fleet', Key: 'copy.bin' })), (e: unknown) => e instanceof S3ServiceException && e.$metadata.httpStatusCode === 404);
    await assert.rejects(client(1, 'wrong').send(new ListObjectsV2Command({ Bucket: 'fleet' })), (e: unknown) => e instanceof S3ServiceException && e.name === 'SignatureDoesNotMatch');
  });

  it('CreateBucket refuses the names of the node\'s own routes with InvalidBucketName', async () => {
    const a = client(0);
    for (const name of ['api', 'internal', 'healthz', 'readyz', 'metrics']) {
      await assert.rejects(a.send(new CreateBucketCommand({ Bucket: name })), (e: unknown) => e instanceof S3ServiceException && e.name === 'InvalidBucketName' && e.$metadata.httpStatusCode === 400 && /reserved/.test(e.message), name);
    }
    const r = await fetch(`http://127.0.0.1:${nodes[1]!.port('http')}/api/v1/objects/buckets/metrics`, { method: 'PUT' });
    assert.equal(r.status, 400);
    assert.match(await r.text(), /reserved/);
    const names = (await a.send(new ListBucketsCommand({}))).Buckets?.map((b) => b.Name) ?? [];
    assert.ok(!names.some((n) => ['api', 'internal', 'healthz', 'readyz', 'metrics'].includes(n!)), names.join());
  });

  it('rclone against another node sees and round-trips the same objects', async () => {
    const dir = await tempDir(owner);
    const config = join(dir, 'rclone.conf');
    await writeFile(config, `[n]\ntype = s3\nprovider = Other\nendpoint = http://127.0.0.1:${nodes[2]!.port('http')}\naccess_key_id = ${AK}\nsecret_access_key = ${SK}\n`);
    const rc = (...args: string[]): Promise<Buffer> =>
      new Promise((resolve, reject) =>
        execFile('/usr/bin/rclone', ['--config', config, '--retries', '1', '--low-level-retries', '1', ...args], { env: { PATH: '/usr/bin:/bin', HOME: dir }, encoding: 'buffer', maxBuffer: 128 * 1024 * 1024, timeout: 120_000 }, (err, out, stderr) =>
          err !== null ? reject(new Error(`${err.message}\n${stderr.toString()}`)) : resolve(out),
        ),
      );
    const data = randomBytes(12 * 1024 * 1024);
    await writeFile(join(dir, 'r.bin'), data);
    await rc('mkdir', 'n:rclone-bkt');
    await rc('copyto', join(dir, 'r.bin'), 'n:rclone-bkt/sub/r.bin', '--s3-upload-cutoff', '5M', '--s3-chunk-size', '5M');
    assert.match((await rc('ls', 'n:rclone-bkt')).toString(), new RegExp(`${data.length} sub/r.bin`));
    assert.ok((await rc('cat', 'n:rclone-bkt/sub/r.bin', '--offset', '7000000', '--count', '4096')).equals(data.subarray(7_000_000, 7_004_096)));
    const viaSdk = await client(0).send(new GetObjectCommand({ Bucket: 'rclone-bkt', Key: 'sub/r.bin' }));
    assert.ok(Buffer.from(await viaSdk.Body!.transformToByteArray()).equals(data));
    await rc('delete', 'n:rclone-bkt');
    assert.equal((await rc('lsf', 'n:rclone-bkt')).toString().trim(), '');
  });
});
