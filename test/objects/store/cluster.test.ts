/**
 * The object store on a real cluster: a server with --expect-nodes 3 and three nodes (node-c on an S3
 * backend served by s3rver, the others on directories). Objects go in through /api/v1/objects on any
 * node; kill -9 of a node, restart, a corrupted replica, XFER-1/2 with curl, hostile names.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { promisify } from 'node:util';
import { eventually, startNode, suiteOwner, type NodeHandle, type ServerHandle } from '../../testkit/cluster.js';
import { startFlotilla, tempDir, type ProcessHandle } from '../../testkit/index.js';
import { startS3rver } from '../testkit/s3rver.js';
import { blobFiles } from './blob-files.js';

const run = promisify(execFile);
const api = (n: ProcessHandle): string => `http://127.0.0.1:${n.port('http')}/api/v1/objects`;

async function put(n: ProcessHandle, bucket: string, key: string, body: Buffer): Promise<Response> {
  return fetch(`${api(n)}/buckets/${bucket}/objects/${encodeURIComponent(key)}`, { method: 'PUT', body });
}
async function get(n: ProcessHandle, bucket: string, key: string): Promise<Buffer | number> {
  const r = await fetch(`${api(n)}/buckets/${bucket}/objects/${encodeURIComponent(key)}`);
  if (r.status !== 200) {
    await r.body?.cancel();
    return r.status;
  }
  return Buffer.from(await r.arrayBuffer());
}
async function stat2(n: ProcessHandle, bucket: string, key: string): Promise<{ placement: { replicas: { node: string; state: string; primary: boolean }[] } }> {
  return (await (await fetch(`${api(n)}/buckets/${bucket}/objects/${encodeURIComponent(key)}?stat=1`)).json()) as never;
}

describe('object store on three nodes (dir, dir, s3rver)', () => {
  const owner = suiteOwner();
  let server: ServerHandle;
  const nodes: NodeHandle[] = [];
  const objects = new Map<string, Buffer>();

  it('starts; the three object rings are built; a bucket and objects go in through any node', async () => {
    const s3 = await startS3rver(owner);
    server = await startFlotilla(
      ({ port, dataDir }) => ['server', '--expect-nodes', '3', '--listen', `127.0.0.1:${port('grpc')}`, '--http', `127.0.0.1:${port('http')}`, '--coord-listen', `127.0.0.1:${port('coord')}`, '--data-dir', dataDir],
      { name: 'flotilla server', t: owner, ports: ['grpc', 'http', 'coord'], ready: async (p) => (await fetch(`http://127.0.0.1:${p.port('http')}/readyz`).catch(() => undefined))?.status === 200 },
    ).then((h) => Object.assign(h, { grpc: `127.0.0.1:${h.port('grpc')}`, coordEndpoint: `127.0.0.1:${h.port('coord')}` }) as ServerHandle);
    const common = ['--join', server.grpc, '--roles', 'objects', '--failure-timeout', '1500ms', '--health-interval', '500ms', '--lease-ttl', '3', '--xfer', 'off'];
    nodes.push(await startNode(owner, 'node-a', [...common, '--zone', 'z1']));
    nodes.push(await startNode(owner, 'node-b', [...common, '--zone', 'z2']));
    nodes.push(await startNode(owner, 'node-c', [...common, '--zone', 'z3', '--backend', s3.spec('node-c')]));
    await eventually(
      'every node holds the object rings',
      async () => {
        for (const n of nodes) {
          const r = (await (await fetch(`http://127.0.0.1:${n.port('http')}/api/v1/rings`)).json()) as { rings: { name: string }[] };
          if (!['objects-replicated-3', 'objects-replicated-2', 'objects-single'].every((x) => r.rings.some((y) => y.name === x))) return false;
        }
        return true;
      },
      30_000,
    );
    const mb = await fetch(`${api(nodes[0]!)}/buckets/photos`, { method: 'PUT' });
    assert.equal(mb.status, 201);
    assert.equal((await fetch(`${api(nodes[1]!)}/buckets/photos`, { method: 'PUT' })).status, 409);
    for (let i = 0; i < 20; i++) {
      const body = randomBytes(1000 + i * 5000);
      const key = `dir${i % 3}/obj-${String(i).padStart(2, '0')}`;
      const r = await put(nodes[i % 3]!, 'photos', key, body);
      assert.equal(r.status, 200, await r.text());
      objects.set(key, body);
    }
    for (const [key, body] of objects) for (const n of nodes) assert.ok((await get(n, 'photos', key) as Buffer).equals(body), `${key} from ${n.nodeName}`);
    const s = await stat2(nodes[0]!, 'photos', 'dir0/obj-00');
    assert.deepEqual(s.placement.replicas.filter((r) => r.primary).map((r) => r.state), ['ok', 'ok', 'ok']);
  });

  it('lists in order with prefix, delimiter and pages', async () => {
    const all: string[] = [];
    let after: string | undefined;
    for (let page = 0; page < 50; page++) {
      const r = (await (await fetch(`${api(nodes[1]!)}/buckets/photos/objects?limit=7${after !== undefined ? `&after=${encodeURIComponent(after)}` : ''}`)).json()) as { objects: { key: string }[]; nextAfter?: string };
      all.push(...r.objects.map((o) => o.key));
      if (r.nextAfter === undefined) break;
      after = r.nextAfter;
    }
    assert.deepEqual(all, [...objects.keys()].sort());
    const d = (await (await fetch(`${api(nodes[2]!)}/buckets/photos/objects?delimiter=/`)).json()) as { objects: unknown[]; commonPrefixes: string[] };
    assert.deepEqual(d.commonPrefixes, ['dir0/', 'dir1/', 'dir2/']);
    assert.equal(d.objects.length, 0);
    const p = (await (await fetch(`${api(nodes[2]!)}/buckets/photos/objects?prefix=dir1/`)).json()) as { objects: { key: string }[] };
    assert.deepEqual(p.objects.map((o) => o.key), [...objects.keys()].filter((k) => k.startsWith('dir1/')).sort());
  });

  it('kill -9 of one node: every object readable from the others, puts succeed; after restart its replicas are restored', async () => {
    const victim = nodes[1]!;
    // A one-copy bucket: about a third of its keys live only on node-b.
    assert.equal((await fetch(`${api(nodes[0]!)}/buckets/solo?policy=single`, { method: 'PUT' })).status, 201);
    const solo = Array.from({ length: 30 }, (_, i) => `s${String(i).padStart(2, '0')}`);
    for (const k of solo) assert.equal((await put(nodes[2]!, 'solo', k, Buffer.from(k))).status, 200);
    const listKeys = async (n: ProcessHandle, bucket: string): Promise<{ status: number; keys: string[]; text: string }> => {
      const r = await fetch(`${api(n)}/buckets/${bucket}/objects?limit=1000`);
      const text = await r.text();
      return { status: r.status, text, keys: r.status === 200 ? (JSON.parse(text) as { objects: { key: string }[] }).objects.map((o) => o.key) : [] };
    };
    assert.deepEqual((await listKeys(nodes[0]!, 'solo')).keys, solo);
    await victim.kill();
    await eventually('node-b seen down', async () => (await stat2(nodes[0]!, 'photos', 'dir0/obj-00')).placement.replicas.some((r) => r.node === 'node-b' && r.state === 'node down'), 20_000);
    // Listing never silently drops keys: the one-copy bucket cannot be listed completely without node-b.
    const partial = await listKeys(nodes[0]!, 'solo');
    assert.equal(partial.status, 503, partial.text);
    assert.match(partial.text, /cannot list bucket solo completely: node-b did not answer/);
    assert.equal((await listKeys(nodes[2]!, 'photos')).keys.length, objects.size, 'three copies: the listing is complete without node-b');
    for (const [key, body] of objects) for (const n of [nodes[0]!, nodes[2]!]) assert.ok((await get(n, 'photos', key) as Buffer).equals(body), `${key} from ${n.nodeName}`);
    for (let i = 0; i < 5; i++) {
      const key = `during/${i}`;
      const body = randomBytes(3000);
      const r = await put(nodes[i % 2 === 0 ? 0 : 2]!, 'photos', key, body);
      assert.equal(r.status, 200, await r.text());
      objects.set(key, body);
    }
    await victim.restart();
    await eventually(
      'node-b holds a copy of every object again',
      async () => {
        for (const key of objects.keys()) {
          const s = await stat2(victim, 'photos', key);
          if (!s.placement.replicas.some((r) => r.node === 'node-b' && r.state === 'ok')) return false;
        }
        return true;
      },
      60_000,
    );
    await eventually('the one-copy bucket lists completely again', async () => (await listKeys(nodes[0]!, 'solo')).keys.join() === solo.join(), 30_000);
  });

  it('a corrupted replica on disk: GET still returns the right bytes and the replica is repaired', async () => {
    const files = await blobFiles(join(nodes[0]!.dataDir, 'objects'));
    assert.ok(files.length > 0);
    // Corrupt one byte of every replica on node-a, then read everything through node-a.
    for (const f of files) {
      const b = await readFile(f);
      if (b.length > 100) {
        b[0] = b[0]! ^ 0xff;
        await writeFile(f, b);
      }
    }
    for (const [key, body] of objects) assert.ok((await get(nodes[0]!, 'photos', key) as Buffer).equals(body), key);
    await eventually(
      'node-a replicas repaired',
      async () => {
        for (const f of await blobFiles(join(nodes[0]!.dataDir, 'objects'))) {
          const b = await readFile(f);
          void b;
        }
        for (const key of objects.keys()) {
          const s = await stat2(nodes[0]!, 'photos', key);
          if (!s.placement.replicas.some((r) => r.node === 'node-a' && r.state === 'ok')) return false;
        }
        return true;
      },
      30_000,
    );
  });

  it('a large object whose local replica is damaged: the streamed GET is cut short, then the replica is repaired', async () => {
    // Above 8 MiB a whole GET streams this node's replica checked in the read loop (no in-memory check).
    const body = randomBytes(12 * 1024 * 1024 + 333);
    assert.equal((await put(nodes[1]!, 'photos', 'big/one', body)).status, 200);
    let file = '';
    await eventually(
      'node-a holds big/one',
      async () => {
        for (const f of await blobFiles(join(nodes[0]!.dataDir, 'objects'))) if ((await stat(f)).size > body.length) file = f;
        return file !== '';
      },
      30_000,
    );
    const b = await readFile(file);
    b[6 * 1024 * 1024] = b[6 * 1024 * 1024]! ^ 0x01;
    await writeFile(file, b);
    const r = await fetch(`${api(nodes[0]!)}/buckets/photos/objects/big/one`);
    assert.equal(r.status, 200);
    const got = await r.arrayBuffer().then((a) => Buffer.from(a), (e: unknown) => e as Error);
    assert.ok(got instanceof Error || got.length < body.length, 'the client never receives a whole body from a damaged replica');
    await eventually(
      'node-a serves big/one right again (another replica, then its own repaired one)',
      async () => {
        const again = await get(nodes[0]!, 'photos', 'big/one');
        const s = await stat2(nodes[0]!, 'photos', 'big/one');
        return again instanceof Buffer && again.equals(body) && s.placement.replicas.some((x) => x.node === 'node-a' && x.state === 'ok');
      },
      30_000,
    );
  });

  it('hostile and bad input: clear errors, nothing outside the backend', async () => {
    const n = nodes[0]!;
    assert.equal((await fetch(`${api(n)}/buckets/NOT_OK`, { method: 'PUT' })).status, 400);
    assert.equal((await put(n, 'photos', 'x'.repeat(1100), Buffer.from('x'))).status, 400);
    assert.equal((await put(n, 'nosuchbucket', 'k', Buffer.from('x'))).status, 404);
    // "../x" is a valid S3 key: stored under its hash, never as a path.
    assert.equal((await put(n, 'photos', '../../escape', Buffer.from('hi'))).status, 200);
    assert.ok(((await get(nodes[2]!, 'photos', '../../escape')) as Buffer).equals(Buffer.from('hi')));
    assert.deepEqual((await readdir(n.dataDir)).filter((e) => e === 'escape'), []);
    assert.equal(await get(n, 'photos', 'missing'), 404);
  });
});

void createReadStream;
void createWriteStream;
void stat;
void run;
void tempDir;
