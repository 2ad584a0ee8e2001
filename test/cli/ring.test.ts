/**
 * `flotilla ring ...` end to end against a real `flotilla coord serve` and a real etcd: what the commands
 * print, what etcdctl then sees under /flotilla/rings/, and every bad input refused with one line, a
 * non-zero exit code and nothing written.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { runFlotilla, suiteOwner } from '../testkit/cluster.js';
import { etcdctl, freePort, startEmbeddedCoord, startEtcd, type CoordProcess } from '../testkit/index.js';

async function stored(endpoint: string, key: string): Promise<{ version: number; devices: { id: string; weight: number }[]; replicas: number } | undefined> {
  const r = await etcdctl(endpoint, ['get', key, '--print-value-only']);
  assert.equal(r.code, 0, r.stderr);
  return r.stdout.trim() === '' ? undefined : (JSON.parse(r.stdout) as { version: number; devices: { id: string; weight: number }[]; replicas: number });
}

const backends: { name: string; start: (owner: ReturnType<typeof suiteOwner>) => Promise<CoordProcess> }[] = [
  { name: 'flotilla coord serve', start: (owner) => startEmbeddedCoord({ t: owner }) },
  { name: 'etcd', start: (owner) => startEtcd({ t: owner }) },
];

for (const backend of backends) {
  describe(`flotilla ring against ${backend.name}`, () => {
    const owner = suiteOwner();
    let coord: CoordProcess;
    const ring = async (args: string[]) => runFlotilla(['ring', ...args, '--etcd', coord.endpoint]);

    it('starts the store', async () => {
      coord = await backend.start(owner);
    });

    it('builds a ring that etcdctl sees at /flotilla/rings/<name>', async () => {
      const r = await ring(['build', 'kv', '--devices', 'a:z1:1,b:z2:1,c:z3:2', '--part-power', '8']);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /ring kv built: version 1, 256 partitions, 3 replicas, 3 devices \(a, b, c\)/);
      const v = await stored(coord.endpoint, '/flotilla/rings/kv');
      assert.equal(v?.version, 1);
      assert.deepEqual(v?.devices.map((d) => d.id), ['a', 'b', 'c']);
    });

    it('shows the rings, one ring, and one ring as JSON', async () => {
      const list = await ring(['show']);
      assert.equal(list.code, 0, list.stderr);
      assert.match(list.stdout, /^NAME\s+VERSION\s+PARTITIONS\s+REPLICAS/m);
      assert.match(list.stdout, /^kv\s+1\s+256\s+3\s+3\s+3\s/m);
      const one = await ring(['show', 'kv']);
      assert.equal(one.code, 0, one.stderr);
      assert.match(one.stdout, /ring kv {2}version 1/);
      assert.match(one.stdout, /min move interval 1h/);
      assert.match(one.stdout, /^DEVICE\s+ZONE\s+WEIGHT\s+PARTS\s+TARGET\s+SHARE\s+BALANCE/m);
      assert.match(one.stdout, /^c\s+z3\s+2\s+256\s+256\s+33\.33%\s+\+0\.00%/m);
      const json = await ring(['show', 'kv', '--json']);
      assert.equal(json.code, 0, json.stderr);
      const j = JSON.parse(json.stdout);
      assert.equal(j.version, 1);
      assert.equal(j.partitions, 256);
      assert.equal(j.stats.devices.length, 3);
    });

    it('adds a device, rebalances and removes a device, one version each', async () => {
      const add = await ring(['add-device', 'kv', '--device', 'd:z1:1']);
      assert.equal(add.code, 0, add.stderr);
      assert.match(add.stdout, /ring kv: add-device d: version 1 -> 2, \d+ partition replicas moved/);
      assert.deepEqual((await stored(coord.endpoint, '/flotilla/rings/kv'))?.devices.map((d) => d.id), ['a', 'b', 'c', 'd']);
      const reb = await ring(['rebalance', 'kv']);
      assert.equal(reb.code, 0, reb.stderr);
      assert.match(reb.stdout, /ring kv/);
      const drain = await ring(['set-weight', 'kv', '--device', 'a:0', '--json']);
      assert.equal(drain.code, 0, drain.stderr);
      const drained = (await stored(coord.endpoint, '/flotilla/rings/kv'))!;
      assert.equal(drained.devices.find((d) => d.id === 'a')?.weight, 0, 'device a is drained');
      const rm = await ring(['remove-device', 'kv', '--device', 'a', '--json']);
      assert.equal(rm.code, 0, rm.stderr);
      const out = JSON.parse(rm.stdout);
      assert.equal(out.changed, true);
      const v = await stored(coord.endpoint, '/flotilla/rings/kv');
      assert.equal(v?.version, out.version);
      assert.deepEqual(v?.devices.map((d) => d.id), ['b', 'c', 'd']);
    });

    it('never loses an update when admins change the same ring at once', async () => {
      const before = (await stored(coord.endpoint, '/flotilla/rings/kv'))!;
      const names = ['e', 'f', 'g', 'h'];
      const runs = await Promise.all(names.map((n, i) => ring(['add-device', 'kv', '--device', `${n}:z${(i % 3) + 1}:1`])));
      const won = names.filter((_, i) => runs[i]!.code === 0);
      for (const r of runs) {
        if (r.code !== 0) {
          assert.equal(r.code, 1);
          assert.match(r.stderr, /^flotilla: \[failed_precondition\] version conflict on ring kv: it changed since version \d+ was read/);
        }
      }
      assert.ok(won.length >= 1);
      const after = (await stored(coord.endpoint, '/flotilla/rings/kv'))!;
      assert.equal(after.version, before.version + won.length);
      assert.deepEqual(after.devices.map((d) => d.id).sort(), [...before.devices.map((d) => d.id), ...won].sort());
    });

    it('builds from the registered nodes under /flotilla/nodes/', async () => {
      for (const [name, zone] of [['node-a', 'z1'], ['node-b', 'z2']] as const) {
        const put = await etcdctl(coord.endpoint, ['put', `/flotilla/nodes/${name}`, JSON.stringify({ name, zone, roles: ['kv'] })]);
        assert.equal(put.code, 0, put.stderr);
      }
      await etcdctl(coord.endpoint, ['put', '/flotilla/nodes/node-x', JSON.stringify({ name: 'node-x', zone: 'z3', roles: ['agent'] })]);
      const r = await ring(['build', 'members', '--from-members', '--role', 'kv', '--part-power', '6']);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /ring members built: version 1, 64 partitions, 2 replicas, 2 devices \(node-a, node-b\)/);
    });

    const bad: { name: string; args: string[]; code: number; message: RegExp; key?: string }[] = [
      { name: 'a ring that exists', args: ['build', 'kv', '--devices', 'x:z1:1'], code: 1, message: /\[already_exists\] ring kv already exists/ },
      { name: 'more replicas than devices', args: ['build', 'r5', '--devices', 'a:z1:1,b:z2:1,c:z3:1', '--replicas', '5'], code: 1, message: /5 replicas need at least 5 devices with weight > 0, the ring has 3/, key: '/flotilla/rings/r5' },
      { name: 'a device without a zone', args: ['build', 'bad1', '--devices', 'a'], code: 2, message: /bad device "a": expected ID:ZONE\[:WEIGHT\]/, key: '/flotilla/rings/bad1' },
      { name: 'a weight that is not a number', args: ['build', 'bad2', '--devices', 'a:z1:heavy'], code: 2, message: /the weight must be a number >= 0, got "heavy"/, key: '/flotilla/rings/bad2' },
      { name: 'an empty device entry', args: ['build', 'bad3', '--devices', 'a:z1:1,,b:z2:1'], code: 2, message: /bad device list/, key: '/flotilla/rings/bad3' },
      { name: 'a device id the builder refuses', args: ['build', 'bad4', '--devices', 'a b:z1:1'], code: 2, message: /bad device: devices\[0\]\.id/, key: '/flotilla/rings/bad4' },
      { name: 'both device sources', args: ['build', 'bad5', '--devices', 'a:z1', '--from-members'], code: 2, message: /exactly one of --devices/, key: '/flotilla/rings/bad5' },
      { name: 'a part power out of range', args: ['build', 'bad6', '--devices', 'a:z1', '--part-power', '40'], code: 2, message: /partPower must be an integer from 1 to 20/, key: '/flotilla/rings/bad6' },
      { name: 'a bad ring name', args: ['show', 'a/b'], code: 2, message: /a ring name is 1\.\.253 characters/ },
      { name: 'show of a missing ring', args: ['show', 'nope'], code: 1, message: /\[not_found\] ring nope does not exist/ },
      { name: 'rebalance of a missing ring', args: ['rebalance', 'nope'], code: 1, message: /\[not_found\] ring nope does not exist/ },
      { name: 'adding a device that is there', args: ['add-device', 'kv', '--device', 'b:z2:1'], code: 1, message: /device "b" is already in ring kv/ },
      { name: 'removing a device that is not there', args: ['remove-device', 'kv', '--device', 'zz'], code: 1, message: /device "zz" is not in ring kv/ },
      { name: 'a weight for a device that is not there', args: ['set-weight', 'kv', '--device', 'zz:1'], code: 1, message: /device "zz" is not in ring kv/ },
      { name: 'a negative weight', args: ['set-weight', 'kv', '--device', 'b:-1'], code: 2, message: /expected ID:WEIGHT with a weight >= 0/ },
      { name: 'a duplicate device', args: ['build', 'dup', '--devices', 'a:z1,a:z2'], code: 2, message: /duplicate device id "a"/, key: '/flotilla/rings/dup' },
    ];
    // None of these writes anything, so they run a few at once.
    describe('refusals', { concurrency: 4 }, () => {
    for (const b of bad) {
      it(`refuses ${b.name} with one line and writes nothing`, async () => {
        const before = await stored(coord.endpoint, '/flotilla/rings/kv');
        const r = await ring(b.args);
        assert.equal(r.code, b.code, `stdout: ${r.stdout} stderr: ${r.stderr}`);
        assert.match(r.stderr, b.message);
        assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
        if (b.key !== undefined) assert.equal(await stored(coord.endpoint, b.key), undefined);
        assert.equal((await stored(coord.endpoint, '/flotilla/rings/kv'))?.version, before?.version);
      });
    }
    });
  });
}

describe('flotilla ring without a coordination store', { concurrency: true }, () => {
  it('says no store is reachable and exits 1', async () => {
    const port = await freePort();
    // Each waits out the client's connect timeout: both at once.
    const [r, env] = await Promise.all([
      runFlotilla(['ring', 'show', '--etcd', `127.0.0.1:${port}`]),
      runFlotilla(['ring', 'show'], { env: { FLOTILLA_ETCD: `127.0.0.1:${port}` } }),
    ]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^flotilla: \[unavailable\] no coordination store reachable at 127\.0\.0\.1:\d+ \(set --etcd or FLOTILLA_ETCD\)\n$/);
    assert.equal(env.code, 1);
    assert.match(env.stderr, /no coordination store reachable at 127\.0\.0\.1:/);
  });

  it('refuses a malformed --etcd', async () => {
    const r = await runFlotilla(['ring', 'show', '--etcd', 'nohost']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /invalid --etcd "nohost": expected HOST:PORT/);
  });
});
