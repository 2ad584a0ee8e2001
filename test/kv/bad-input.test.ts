/**
 * Bad input through the real client API (KvService over gRPC): a clear error for each, and nothing
 * written anywhere. Binary keys, including invalid UTF-8, are allowed and round-trip.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { create } from '@bufbuild/protobuf';
import { ConnectError, Code as ConnectCode } from '@connectrpc/connect';
import { type Consistency, DeleteRequestSchema, GetRequestSchema, KvEntrySchema, PutRequestSchema, ReplicateRequestSchema, ScanRequestSchema } from '../../src/gen/flotilla/v1/kv_pb.js';
import { createKvClients } from '../../src/kv/index.js';
import { startHarness } from './kv-harness.js';

describe('KV bad input', () => {
  it('refuses bad requests with clear errors and writes nothing', async (t) => {
    const h = await startHarness(t);
    const clients = createKvClients({ readMaxBytes: 32 * 1024 * 1024 });
    t.after(() => clients.close());
    const kv = clients.kv(h.address('node-a'));
    const cases: { name: string; call: () => Promise<unknown>; code: ConnectCode; message: RegExp }[] = [
      { name: 'empty key', call: () => kv.put(create(PutRequestSchema, { key: new Uint8Array(0), value: Buffer.from('x') })), code: ConnectCode.InvalidArgument, message: /the key is empty/ },
      { name: 'empty key (get)', call: () => kv.get(create(GetRequestSchema, { key: new Uint8Array(0) })), code: ConnectCode.InvalidArgument, message: /the key is empty/ },
      { name: 'empty key (delete)', call: () => kv.delete(create(DeleteRequestSchema, { key: new Uint8Array(0) })), code: ConnectCode.InvalidArgument, message: /the key is empty/ },
      { name: 'key too long', call: () => kv.put(create(PutRequestSchema, { key: Buffer.alloc(1025, 0x61), value: Buffer.from('x') })), code: ConnectCode.InvalidArgument, message: /the limit is 1024 bytes/ },
      {
        name: '10 MiB value',
        call: () => kv.put(create(PutRequestSchema, { key: Buffer.from('big'), value: Buffer.alloc(10 * 1024 * 1024) })),
        code: ConnectCode.InvalidArgument,
        message: /the value is 10485760 bytes; the limit is 1048576 bytes \(1 MiB\)/,
      },
      {
        name: 'value one byte over the limit',
        call: () => kv.put(create(PutRequestSchema, { key: Buffer.from('big'), value: Buffer.alloc(1024 * 1024 + 1) })),
        code: ConnectCode.InvalidArgument,
        message: /limit is 1048576 bytes/,
      },
      { name: 'unknown consistency level', call: () => kv.put(create(PutRequestSchema, { key: Buffer.from('k'), value: Buffer.from("v"), consistency: 7 as Consistency })), code: ConnectCode.InvalidArgument, message: /unknown consistency level 7/ },
      { name: 'W > N', call: () => kv.put(create(PutRequestSchema, { key: Buffer.from('k'), value: Buffer.from('v'), replicas: 4 })), code: ConnectCode.InvalidArgument, message: /W=4 is impossible with N=3/ },
      { name: 'R > N', call: () => kv.get(create(GetRequestSchema, { key: Buffer.from('k'), replicas: 9 })), code: ConnectCode.InvalidArgument, message: /R=9 is impossible with N=3/ },
      { name: 'negative TTL', call: () => kv.put(create(PutRequestSchema, { key: Buffer.from('k'), value: Buffer.from('v'), ttlMs: -5n })), code: ConnectCode.InvalidArgument, message: /TTL/ },
      { name: 'scan limit too large', call: () => kv.scan(create(ScanRequestSchema, { prefix: Buffer.from('a'), limit: 100_000 })), code: ConnectCode.InvalidArgument, message: /scan limit must be 1..1000/ },
      { name: 'page token of another prefix', call: () => kv.scan(create(ScanRequestSchema, { prefix: Buffer.from('a'), pageToken: Buffer.from('b') })), code: ConnectCode.InvalidArgument, message: /page token/ },
    ];
    for (const c of cases) {
      await assert.rejects(c.call(), (err: unknown) => {
        assert.ok(err instanceof ConnectError, c.name);
        assert.equal(err.code, c.code, `${c.name}: ${err.message}`);
        assert.match(err.rawMessage, c.message, c.name);
        return true;
      });
    }
    // Nothing was written on any replica.
    for (const n of h.nodes.values()) {
      const all = await n.kv.engine.scanPrefix(new Uint8Array(0), undefined, 10);
      assert.deepEqual(all.entries, [], n.name);
    }
  });

  it('binary keys and values, invalid UTF-8 included, round-trip', async (t) => {
    const h = await startHarness(t);
    const clients = createKvClients();
    t.after(() => clients.close());
    const keys = [Buffer.from([0xff, 0xfe, 0x00, 0x01]), Buffer.from([0xc3, 0x28]), Buffer.from([0x00]), Buffer.from('ключ/🔑', 'utf8')];
    for (const [i, key] of keys.entries()) {
      const value = Buffer.from([0x80, 0x81, i, 0x00, 0xff]);
      await clients.kv(h.address('node-a')).put(create(PutRequestSchema, { key, value }));
      for (const name of ['node-a', 'node-b', 'node-c']) {
        const r = await clients.kv(h.address(name)).get(create(GetRequestSchema, { key }));
        assert.equal(r.found, true);
        assert.deepEqual(Buffer.from(r.value), value);
      }
    }
    const scan = await clients.kv(h.address('node-b')).scan(create(ScanRequestSchema, { prefix: new Uint8Array(0), limit: 10 }));
    assert.deepEqual(
      scan.entries.map((e) => Buffer.from(e.key).toString('hex')),
      keys.map((k) => k.toString('hex')).sort(),
    );
  });

  it('replica calls with malformed entries are refused', async (t) => {
    const h = await startHarness(t);
    const clients = createKvClients();
    t.after(() => clients.close());
    await assert.rejects(
      clients.replica(h.address('node-b')).replicate(create(ReplicateRequestSchema, { entries: [create(KvEntrySchema, { key: Buffer.from('k'), value: Buffer.from('v') })] })),
      /malformed version/,
    );
  });
});
