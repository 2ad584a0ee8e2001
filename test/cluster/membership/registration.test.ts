/** Registration and the membership view against the embedded coordination store, in-process. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createRegistration, MembershipView, createPeerClients, type NodeRecord } from '../../../src/cluster/index.js';
import { createCoord, createEmbeddedCoordServer } from '../../../src/coord/index.js';
import { freePort, tempDir } from '../../testkit/index.js';
import { eventually } from '../../testkit/cluster.js';

function rec(name: string, over: Partial<NodeRecord> = {}): NodeRecord {
  return {
    name,
    nodeId: `id-${name}`,
    incarnation: `inc-${name}-1`,
    peerAddress: '127.0.0.1:1',
    httpAddress: '127.0.0.1:1',
    roles: ['kv'],
    zone: 'z',
    backend: { kind: 'dir', location: '/x', capacityBytes: 1, freeBytes: 1, readMBps: 1, writeMBps: 1 },
    version: '0',
    startedAt: new Date().toISOString(),
    rings: {},
    ...over,
  };
}

describe('registration', () => {
  it('registers atomically, refuses a live duplicate, lets the same node take over from its dead run, and leaves cleanly', async (t) => {
    const dir = await tempDir(t);
    const store = createEmbeddedCoordServer({ listen: '127.0.0.1:0', dataDir: dir });
    await store.start();
    t.after(() => store.stop());
    const coord = await createCoord({ endpoints: [store.address] });
    t.after(() => coord.close());
    const peers = createPeerClients();
    t.after(() => peers.close());
    const view = new MembershipView({ coord, peers, self: 'observer' });
    await view.start();
    t.after(() => view.stop());

    const first = createRegistration({ coord, describe: async () => rec('n1'), probe: async () => ({ name: 'n1', incarnation: 'inc-n1-1' }) });
    await first.start();
    t.after(() => first.stop());
    await eventually('n1 known', async () => view.member('n1') !== undefined, 5000);

    // Another node (another id) with the same name: refused, nothing written.
    const other = createRegistration({ coord, describe: async () => rec('n1', { nodeId: 'other', incarnation: 'x' }), probe: async () => undefined });
    await assert.rejects(other.start(), /already_exists/);
    // The same node restarted while its old run still answers: refused too.
    const again = createRegistration({ coord, describe: async () => rec('n1', { incarnation: 'inc-n1-2' }), probe: async () => ({ name: 'n1', incarnation: 'inc-n1-1' }) });
    await assert.rejects(again.start(), /already_exists/);
    assert.equal(JSON.parse((await coord.get('/flotilla/nodes/n1'))!.value.toString()).incarnation, 'inc-n1-1');

    // The same node restarted after its old run died (no answer): it takes the name back at once.
    first.lease()!.release();
    const taken = createRegistration({ coord, describe: async () => rec('n1', { incarnation: 'inc-n1-3' }), probe: async () => undefined });
    await taken.start();
    assert.equal(JSON.parse((await coord.get('/flotilla/nodes/n1'))!.value.toString()).incarnation, 'inc-n1-3');

    await taken.stop();
    assert.equal(await coord.get('/flotilla/nodes/n1'), undefined, 'lease revoked');
    assert.ok(JSON.parse((await coord.get('/flotilla/members/n1'))!.value.toString()).leftAt, 'left marker kept');
    await eventually('n1 SHUTOFF in the view', async () => view.member('n1')?.status === 'SHUTOFF', 5000);

    // A clean leave does not block the name.
    const back = createRegistration({ coord, describe: async () => rec('n1', { incarnation: 'inc-n1-4' }), probe: async () => undefined });
    await back.start();
    t.after(() => back.stop());
    await eventually('n1 registered again', async () => view.member('n1')?.registered === true, 5000);
  });

  it('keeps retrying while the store is not up yet, and gives up with the store\'s error after its start timeout', async (t) => {
    const dir = await tempDir(t);
    const port = await freePort();
    let store = createEmbeddedCoordServer({ listen: `127.0.0.1:${port}`, dataDir: dir });
    await store.start();
    t.after(() => store.stop());
    const coord = await createCoord({ endpoints: [`127.0.0.1:${port}`] });
    t.after(() => coord.close());
    await store.stop();

    // Nothing listens: start() fails with UNAVAILABLE once its start timeout has passed, not at the first error.
    const early = createRegistration({ coord, describe: async () => rec('n2'), probe: async () => undefined, startTimeoutMs: 800 });
    const began = Date.now();
    await assert.rejects(early.start(), /unavailable|deadline/);
    assert.ok(Date.now() - began >= 800, 'retried until its start timeout');
    await early.stop();

    // The store comes up while start() waits: the node registers without any manual step.
    const late = createRegistration({ coord, describe: async () => rec('n2'), probe: async () => undefined, startTimeoutMs: 20_000 });
    const started = late.start();
    t.after(() => late.stop());
    await new Promise((r) => setTimeout(r, 700));
    store = createEmbeddedCoordServer({ listen: `127.0.0.1:${port}`, dataDir: dir });
    await store.start();
    await started;
    assert.equal(late.registered, true);
    assert.equal(JSON.parse((await coord.get('/flotilla/nodes/n2'))!.value.toString()).name, 'n2');
  });
});
