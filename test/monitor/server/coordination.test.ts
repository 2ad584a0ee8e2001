// Heartbeats, default configs and the config view through the coordination store: the same behaviour
// against the embedded store and real etcd.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { writeDefaultConfig } from '../../../src/monitor/index.js';
import { configKey, defaultMonitorConfig, heartbeatKey } from '../../../src/monitor/monitor-config.js';
import { eventually, HAVE_ETCD, monitorClient, startAgent, startCoord, startMonitor } from './fixtures.js';

for (const kind of ['embedded', 'etcd'] as const) {
  describe(`monitor server with the ${kind} store`, () => {
    it('has its store installed', () => assert.ok(kind !== 'etcd' || HAVE_ETCD, 'etcd is not installed: run scripts/test-deps.sh (npm test does)'));
    it('logs exactly "[+] node X alive" when a heartbeat key appears and "[-] node X dead" when its lease ends', async (t) => {
      const { coord } = await startCoord(t, kind);
      // A host alive before the server starts counts as appearing.
      const early = await coord.grantLease(5);
      await coord.put(heartbeatKey('node-early'), 'x', { lease: early });
      const m = await startMonitor(t, coord);
      await m.monitor.synced();
      assert.ok(m.log.has('[+] node node-early alive'));
      const lease = await coord.grantLease(5);
      await coord.put(heartbeatKey('node-b'), '{"t":1}', { lease });
      await eventually('alive logged', () => m.log.has('[+] node node-b alive'));
      // A refresh of the key (same host, still alive) logs nothing new.
      await coord.put(heartbeatKey('node-b'), '{"t":2}', { lease });
      await lease.revoke();
      await eventually('dead logged', () => m.log.has('[-] node node-b dead'));
      assert.equal(m.log.count('[+] node node-b alive'), 1);
      assert.equal(m.monitor.view.snapshot('node-b')!.alive, false);
      // Back again.
      const again = await coord.grantLease(5);
      await coord.put(heartbeatKey('node-b'), 'x', { lease: again });
      await eventually('alive again', () => m.log.count('[+] node node-b alive') === 2);
      // Keys that name no valid host are ignored.
      await coord.put('/monitor/heartbeat/bad/name', 'x');
      await coord.put('/monitor/heartbeat/', 'x');
      await early.revoke();
      await eventually('early dead', () => m.log.has('[-] node node-early dead'));
      assert.deepEqual(m.monitor.view.hostnames(), ['node-b', 'node-early']);
    });

    it('writes the default config for a new host, never over an existing one, and shows the stored config', async (t) => {
      const { coord } = await startCoord(t, kind);
      const custom = JSON.stringify({ interval: 7, metrics: ['cpu'] });
      await coord.put(configKey('node-b'), custom);
      const m = await startMonitor(t, coord);
      await m.monitor.synced();
      const client = monitorClient(t, m.address);
      const a = startAgent(t, client, 'node-a');
      const b = startAgent(t, client, 'node-b');
      await eventually('welcomed', () => a.welcomed() && b.welcomed());
      await eventually('node-a default', async () => (await coord.get(configKey('node-a'))) !== undefined);
      assert.deepEqual(JSON.parse((await coord.get(configKey('node-a')))!.value.toString()), defaultMonitorConfig());
      assert.equal((await coord.get(configKey('node-b')))!.value.toString(), custom);
      // node-b's welcome carried its stored config.
      const welcome = b.received[0]!;
      assert.equal(welcome.kind.case, 'welcome');
      assert.equal(welcome.kind.case === 'welcome' ? welcome.kind.value.configJson : '', custom);
      assert.equal(await writeDefaultConfig(coord, 'node-b'), false);
      // Someone changes the config with etcdctl: the view follows.
      await coord.put(configKey('node-a'), JSON.stringify({ interval: 2, metrics: ['cpu', 'memory'] }));
      await eventually('view follows', () => m.monitor.view.snapshot('node-a')!.config?.interval === 2);
      await coord.put(configKey('node-a'), 'not json');
      await eventually('invalid shown as such', () => m.monitor.view.snapshot('node-a')!.configJson === 'not json');
      assert.equal(m.monitor.view.snapshot('node-a')!.config, undefined);
      assert.ok(m.log.has('wrote the default config for node-a'));
      assert.ok(!m.log.has('wrote the default config for node-b'));
    });

    it('a heartbeat from a host that has not connected yet also gets it a default config', async (t) => {
      const { coord } = await startCoord(t, kind);
      const m = await startMonitor(t, coord);
      await m.monitor.synced();
      const lease = await coord.grantLease(5);
      await coord.put(heartbeatKey('node-c'), 'x', { lease });
      await eventually('default written', async () => (await coord.get(configKey('node-c'))) !== undefined);
      await lease.revoke();
    });
  });
}
