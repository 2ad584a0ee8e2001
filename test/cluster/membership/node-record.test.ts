import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { stat } from 'node:fs/promises';
import { encodeNodeRecord, parseBackendSpec, parseDistances, parseNodeRecord, probeBackend, type NodeRecord } from '../../../src/cluster/index.js';
import { tempDir } from '../../testkit/index.js';

const record: NodeRecord = {
  name: 'node-a',
  nodeId: '00000000-0000-4000-8000-000000000000',
  incarnation: 'i1',
  peerAddress: '127.0.0.1:7101',
  httpAddress: '127.0.0.1:9001',
  roles: ['kv'],
  zone: 'z1',
  backend: { kind: 'dir', location: '/x', capacityBytes: 10, freeBytes: 5, readMBps: 1, writeMBps: 1 },
  version: '0.1.0',
  startedAt: new Date(0).toISOString(),
  rings: {},
};

describe('node records', () => {
  it('round-trips a record', () => {
    assert.deepEqual(parseNodeRecord(encodeNodeRecord(record)).value, record);
  });
  const bad: [string, string][] = [
    ['not JSON', '{'],
    ['a wrong name', JSON.stringify({ ...record, name: '-x' })],
    ['a missing field', JSON.stringify({ ...record, backend: undefined })],
    ['an array', '[]'],
  ];
  for (const [what, text] of bad) it(`reports ${what} as an error, not a crash`, () => assert.ok(parseNodeRecord(text).error));
  it('keeps only valid distances', () => {
    assert.deepEqual(parseDistances('{"a":1.5,"b":-1,"c":"x"}'), { a: 1.5 });
    assert.deepEqual(parseDistances('nope'), {});
  });
});

describe('backends', () => {
  it('parses dir:PATH and s3://..., and refuses a bad s3:// and anything else with a reason', () => {
    assert.deepEqual(parseBackendSpec('dir:/tmp/x').value, { kind: 'dir', path: '/tmp/x' });
    assert.equal(parseBackendSpec('s3://k:s@127.0.0.1:9000/bucket').value?.kind, 's3');
    assert.match(parseBackendSpec('s3://bucket').error!, /expected s3:\/\//);
    assert.match(parseBackendSpec('dir:').error!, /needs a path/);
    assert.match(parseBackendSpec('ftp://x').error!, /expected dir:PATH/);
  });
  it('measures a directory and leaves no test file behind', async (t) => {
    const dir = await tempDir(t);
    const info = await probeBackend({ kind: 'dir', path: `${dir}/objects` }, { testBytes: 256 * 1024 });
    assert.equal(info.kind, 'dir');
    assert.ok(info.capacityBytes > 0 && info.freeBytes > 0 && info.readMBps > 0 && info.writeMBps > 0);
    assert.equal((await stat(`${dir}/objects`)).isDirectory(), true);
    const { readdir } = await import('node:fs/promises');
    assert.deepEqual(await readdir(`${dir}/objects`), []);
  });
});
