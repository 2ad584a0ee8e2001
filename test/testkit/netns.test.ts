/**
 * The test LAN of network namespaces: hosts reach each other and the test process over real links; a
 * cut host is unreachable until healed; nothing is left behind.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { connect } from 'node:net';
import { test } from 'node:test';
import { createTestNetwork } from './netns.js';
import { startProcess } from './process.js';

function reach(host: string, port: number, timeoutMs = 1500): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = connect({ host, port, timeout: timeoutMs });
    let data = '';
    s.on('data', (d: Buffer) => (data += d.toString()));
    s.on('end', () => resolve(data));
    s.on('timeout', () => {
      s.destroy();
      reject(new Error('timeout'));
    });
    s.on('error', reject);
  });
}

test('hosts in namespaces talk over the test LAN; a cut host is unreachable until healed; cleanup removes all', async (t) => {
  const net = await createTestNetwork(t, ['a', 'b']);
  const a = net.hosts.a!;
  const b = net.hosts.b!;
  const listener = a.command(process.execPath, ['-e', `require('net').createServer((s) => s.end('from a')).listen(7070, '${a.address}')`]);
  const server = await startProcess({ name: 'listener-a', ...listener, t, ready: async () => (await reach(a.address, 7070).catch(() => '')) === 'from a' });
  assert.equal(await reach(a.address, 7070), 'from a', 'reachable from the root namespace (the gateway)');
  const fromB = b.command(process.execPath, ['-e', `require('net').connect(7070, '${a.address}').on('data', (d) => { process.stdout.write(String(d)); process.exit(0); }).on('error', (e) => { console.error(e.message); process.exit(1); })`]);
  assert.equal(execFileSync(fromB.command, fromB.args, { encoding: 'utf8', timeout: 10_000 }), 'from a', 'reachable from host b');
  assert.throws(() => execFileSync('ip', ['netns', 'exec', b.ns, process.execPath, '-e', `require('net').connect(7070, '127.0.0.1').on('error', () => process.exit(3))`], { stdio: 'ignore' }), 'loopback is per host');

  await a.cut();
  await assert.rejects(reach(a.address, 7070, 800), 'cut off');
  await a.heal();
  let back = '';
  for (let i = 0; i < 20 && back === ''; i++) back = await reach(a.address, 7070).catch(() => '');
  assert.equal(back, 'from a', 'back after heal');

  await server.stop();
  await net.remove();
  const left = execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' });
  assert.ok(!left.includes(a.ns) && !left.includes(b.ns), `namespaces removed (left: ${left})`);
});
