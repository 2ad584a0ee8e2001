/**
 * The embedded store over gRPC, driven by real clients: the etcd3 library, etcdctl (ETCDCTL_API=3), a
 * ConnectRPC client for exact protocol fields, and raw HTTP/2 for malformed bodies.
 */
import assert from 'node:assert/strict';
import { create } from '@bufbuild/protobuf';
import { execFile, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import http2 from 'node:http2';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Code, createClient, type ConnectError } from '@connectrpc/connect';
import { createGrpcTransport } from '@connectrpc/connect-node';
import { Etcd3 } from 'etcd3';
import { createEmbeddedCoordServer, type EmbeddedCoordServer } from '../../../src/coord/embedded/index.js';
import { KV, Watch, WatchRequestSchema, type WatchRequest } from '../../../src/gen/etcdserverpb/rpc_pb.js';

const ETCDCTL = process.env.ETCDCTL_BIN ?? '/usr/bin/etcdctl';

let server: EmbeddedCoordServer;
let dataDir: string;
let client: Etcd3;

before(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'flotilla-coord-grpc-'));
  server = createEmbeddedCoordServer({ listen: '127.0.0.1:0', dataDir });
  await server.start();
  client = new Etcd3({ hosts: `http://${server.address}` });
});

after(async () => {
  client?.close();
  await server?.stop();
  await rm(dataDir, { recursive: true, force: true });
});

function etcdctl(args: string[], input?: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = execFile(
      ETCDCTL,
      ['--endpoints', server.address, '--dial-timeout', '3s', '--command-timeout', '5s', ...args],
      { env: { ...process.env, ETCDCTL_API: '3' }, timeout: 15_000 },
      (err, stdout, stderr) => resolve({ code: err === null ? 0 : typeof err.code === 'number' ? err.code : 1, stdout, stderr }),
    );
    if (input !== undefined) child.stdin?.end(input);
  });
}

/** Raw HTTP/2 gRPC call with an arbitrary body; returns the grpc-status and grpc-message. */
function rawGrpc(path: string, body: Buffer): Promise<{ status: string | undefined; message: string | undefined }> {
  return new Promise((resolve, reject) => {
    const session = http2.connect(`http://${server.address}`);
    session.on('error', reject);
    const req = session.request({ ':method': 'POST', ':path': path, 'content-type': 'application/grpc', te: 'trailers' });
    let headers: http2.IncomingHttpHeaders = {};
    req.on('response', (h) => {
      headers = h;
    });
    req.on('trailers', (t) => {
      headers = { ...headers, ...t };
    });
    req.on('data', () => {});
    req.on('end', () => {
      session.close();
      resolve({ status: headers['grpc-status'] as string | undefined, message: headers['grpc-message'] as string | undefined });
    });
    req.on('error', reject);
    req.end(body);
  });
}

function envelope(payload: Buffer): Buffer {
  const head = Buffer.alloc(5);
  head.writeUInt32BE(payload.length, 1);
  return Buffer.concat([head, payload]);
}

void describe('embedded coordination server over gRPC', () => {
  void it('serves put, get by prefix and delete to the etcd3 library', async () => {
    await client.put('lib/a').value('1');
    await client.put('lib/b').value('2');
    assert.deepEqual(await client.getAll().prefix('lib/').strings(), { 'lib/a': '1', 'lib/b': '2' });
    assert.equal(await client.get('lib/a').string(), '1');
    await client.delete().key('lib/a');
    assert.equal(await client.get('lib/a').string(), null);
    assert.equal(await client.getAll().prefix('lib/').count(), 1);
  });

  void it('runs transactions from the etcd3 library', async () => {
    const ok = await client.if('tx/k', 'Create', '==', 0).then(client.put('tx/k').value('first')).commit();
    assert.equal(ok.succeeded, true);
    const again = await client.if('tx/k', 'Create', '==', 0).then(client.put('tx/k').value('second')).else(client.get('tx/k')).commit();
    assert.equal(again.succeeded, false);
    assert.equal(await client.get('tx/k').string(), 'first');
  });

  void it('watches a prefix with the etcd3 library', async () => {
    const watcher = await client.watch().prefix('wl/').create();
    try {
      const seen: string[] = [];
      const done = new Promise<void>((resolve) => {
        watcher.on('put', (kv) => seen.push(`put ${kv.key.toString()}=${kv.value.toString()}`));
        watcher.on('delete', (kv) => {
          seen.push(`delete ${kv.key.toString()}`);
          resolve();
        });
      });
      await client.put('wl/x').value('1');
      await client.put('other').value('nope');
      await client.delete().key('wl/x');
      await done;
      assert.deepEqual(seen, ['put wl/x=1', 'delete wl/x']);
    } finally {
      await watcher.cancel();
    }
  });

  void it('grants, keeps alive and revokes leases with the etcd3 library; revoking deletes the keys', async () => {
    const lease = client.lease(10, { autoKeepAlive: false });
    const id = await lease.grant();
    await lease.put('lease/k').value('v');
    const ka = await lease.keepaliveOnce();
    assert.equal(String(ka.TTL), '10');
    assert.equal(await client.get('lease/k').string(), 'v');
    await lease.revoke();
    assert.equal(await client.get('lease/k').string(), null);
    await assert.rejects(async () => {
      await client.put('lease/x').value('v').lease(id);
    }, /requested lease not found/);
  });

  void it('answers etcdctl: put, get --prefix, del, txn from stdin, endpoint status, member list', async () => {
    assert.equal((await etcdctl(['put', 'ctl/a', 'one'])).stdout.trim(), 'OK');
    await etcdctl(['put', 'ctl/b', 'two']);
    assert.equal((await etcdctl(['get', '--prefix', 'ctl/'])).stdout, 'ctl/a\none\nctl/b\ntwo\n');
    assert.equal((await etcdctl(['del', 'ctl/a'])).stdout.trim(), '1');
    const txn = await etcdctl(['txn'], 'value("ctl/b") = "two"\n\nput ctl/c three\n\nput ctl/c never\n\n');
    assert.equal(txn.stdout.trim().split('\n')[0], 'SUCCESS', txn.stderr);
    assert.equal((await etcdctl(['get', 'ctl/c', '--print-value-only'])).stdout.trim(), 'three');
    interface StatusJson {
      header: { member_id: number };
      leader: number;
      dbSize: number;
      raftIndex: number;
      version: string;
    }
    const status = JSON.parse((await etcdctl(['endpoint', 'status', '-w', 'json'])).stdout) as Array<{ Status: StatusJson }>;
    const st = status[0]!.Status;
    assert.equal(st.leader, st.header.member_id);
    assert.ok(st.dbSize > 0 && st.raftIndex > 0 && typeof st.version === 'string');
    const members = JSON.parse((await etcdctl(['member', 'list', '-w', 'json'])).stdout) as { members: Array<{ clientURLs: string[] }> };
    assert.deepEqual(members.members.map((m) => m.clientURLs), [[`http://${server.address}`]]);
  });

  void it('streams etcdctl watch --prefix output', async () => {
    const child = spawn(ETCDCTL, ['--endpoints', server.address, 'watch', '--prefix', 'cw/'], { env: { ...process.env, ETCDCTL_API: '3' } });
    try {
      let out = '';
      const got = new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`watch output so far: ${out}`)), 10_000);
        child.stdout.on('data', (d: Buffer) => {
          out += d.toString();
          if (out.includes('DELETE\ncw/1\n')) {
            clearTimeout(timer);
            resolve();
          }
        });
      });
      // etcdctl has no "watch created" signal: write until the first put shows up (bounded).
      for (let i = 0; i < 50 && !out.includes('PUT'); i++) {
        await etcdctl(['put', 'cw/1', 'v']);
        await new Promise((r) => setTimeout(r, 100));
      }
      await etcdctl(['del', 'cw/1']);
      await got;
      assert.match(out, /PUT\ncw\/1\nv\n/);
    } finally {
      child.kill();
    }
  });

  void it('grants, keeps alive and revokes a lease with etcdctl', async () => {
    const grant = await etcdctl(['lease', 'grant', '30']);
    const id = /lease ([0-9a-f]+) granted with TTL\(30s\)/.exec(grant.stdout)?.[1];
    assert.ok(id !== undefined, grant.stdout + grant.stderr);
    await etcdctl(['put', '--lease', id, 'cl/k', 'v']);
    assert.match((await etcdctl(['lease', 'keep-alive', '--once', id])).stdout, /keepalived with TTL\(30\)/);
    assert.match((await etcdctl(['lease', 'timetolive', '--keys', id])).stdout, /attached keys\(\[cl\/k\]\)/);
    assert.match((await etcdctl(['lease', 'revoke', id])).stdout, /revoked/);
    assert.equal((await etcdctl(['get', 'cl/k'])).stdout, '');
  });

  void it('gives etcd error codes for bad input and stays up', async () => {
    const transport = createGrpcTransport({ baseUrl: `http://${server.address}` });
    const kv = createClient(KV, transport);
    await assert.rejects(kv.put({ key: new Uint8Array(0), value: Buffer.from('x') }), (err: ConnectError) => err.code === Code.InvalidArgument && err.rawMessage === 'etcdserver: key is not provided');
    await assert.rejects(kv.put({ key: Buffer.from('big'), value: Buffer.alloc(1.6 * 1024 * 1024) }), (err: ConnectError) => err.code === Code.InvalidArgument && err.rawMessage === 'etcdserver: request is too large');
    await assert.rejects(kv.put({ key: Buffer.from('k'), value: Buffer.from('v'), lease: 12345n }), (err: ConnectError) => err.code === Code.NotFound && err.rawMessage === 'etcdserver: requested lease not found');
    await assert.rejects(kv.range({ key: Buffer.from('k'), revision: 1_000_000n }), (err: ConnectError) => err.code === Code.OutOfRange);
    const ctl = await etcdctl(['put', '', 'x']);
    assert.notEqual(ctl.code, 0);
    assert.match(ctl.stderr, /key is not provided/);

    for (const body of [envelope(Buffer.from([0xff, 0xff, 0xff, 0xff, 0x0f])), Buffer.from('garbage!'), envelope(Buffer.from([0x0a, 0x10, 0x01]))]) {
      const res = await rawGrpc('/etcdserverpb.KV/Put', body);
      assert.ok(res.status !== undefined && res.status !== '0', `status ${res.status} for ${body.toString('hex')}`);
    }
    assert.equal((await kv.put({ key: Buffer.from('still/up'), value: Buffer.from('yes') })).header?.revision !== undefined, true);
  });

  void it('cancels a watch from a compacted revision with compact_revision set, as etcd does', async () => {
    const transport = createGrpcTransport({ baseUrl: `http://${server.address}` });
    const kv = createClient(KV, transport);
    await kv.put({ key: Buffer.from('cmp'), value: Buffer.from('1') });
    const latest = (await kv.put({ key: Buffer.from('cmp'), value: Buffer.from('2') })).header!.revision;
    await kv.compact({ revision: latest });
    await assert.rejects(kv.compact({ revision: latest }), (err: ConnectError) => err.code === Code.OutOfRange && /has been compacted/.test(err.rawMessage));
    await assert.rejects(kv.range({ key: Buffer.from('cmp'), revision: latest - 1n }), (err: ConnectError) => err.code === Code.OutOfRange && /has been compacted/.test(err.rawMessage));

    const watch = createClient(Watch, transport);
    const abort = new AbortController();
    async function* requests(): AsyncGenerator<WatchRequest> {
      yield create(WatchRequestSchema, { requestUnion: { case: 'createRequest', value: { key: Buffer.from('cmp'), startRevision: 1n } } });
      await new Promise((r) => abort.signal.addEventListener('abort', r));
    }
    const seen: Array<{ created: boolean; canceled: boolean; compactRevision: bigint }> = [];
    try {
      for await (const res of watch.watch(requests(), { signal: abort.signal })) {
        seen.push({ created: res.created, canceled: res.canceled, compactRevision: res.compactRevision });
        if (res.canceled) break;
      }
    } finally {
      abort.abort();
    }
    assert.deepEqual(seen, [
      { created: true, canceled: false, compactRevision: 0n },
      { created: false, canceled: true, compactRevision: latest },
    ]);
    const ctl = await etcdctl(['watch', 'cmp', '--rev', '1']);
    assert.match(ctl.stdout + ctl.stderr, /required revision has been compacted/);
  });
});
