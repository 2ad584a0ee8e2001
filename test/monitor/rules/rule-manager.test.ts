import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { silentLogger } from '../../../src/core/log.js';
import { createRuleManager, createWebhookSender, type WebhookPayload } from '../../../src/monitor/rules/index.js';
import { freePort, tempDir } from '../../testkit/index.js';
import { MemoryStore } from '../promql/memory-store.js';

const rules = `
groups:
  - name: g
    interval: 1m
    rules:
      - record: zone:temp:max
        expr: max by (zone) (temp)
      - alert: Hot
        expr: zone:temp:max > 25
        for: 2m
        labels:
          severity: page
        annotations:
          summary: "zone {{ $labels.zone }} at {{ $value }}"
`;

test('alerts go inactive -> pending -> firing -> resolved and are sent to the webhook (with retry)', async (t) => {
  const dir = await tempDir(t);
  const file = join(dir, 'rules.yml');
  await writeFile(file, rules);
  const received: WebhookPayload[] = [];
  let failFirst = 1;
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      if (failFirst-- > 0) {
        res.statusCode = 503;
        res.end();
        return;
      }
      received.push(JSON.parse(body) as WebhookPayload);
      res.statusCode = 200;
      res.end();
    });
  });
  const port = await freePort();
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  t.after(() => new Promise<void>((resolve) => server.close(() => resolve())));
  const webhooks = createWebhookSender({ urls: [`http://127.0.0.1:${port}/hook`], logger: silentLogger(), backoffBaseMs: 10, backoffMaxMs: 20 });
  t.after(() => webhooks.stop());

  const store = new MemoryStore();
  const manager = createRuleManager({ files: [file], querier: store, appender: store, logger: silentLogger(), webhooks, resendDelayMs: 600_000 });
  await manager.reload();
  const group = manager.groups()[0]!;
  const t0 = 1_700_000_000_000;
  const temps = [30, 31, 32, 20];
  const states: string[] = [];
  for (let i = 0; i < temps.length; i++) {
    const ts = t0 + i * 60_000;
    store.add({ __name__: 'temp', zone: 'z1', host: 'a' }, ts, temps[i]!);
    store.add({ __name__: 'temp', zone: 'z1', host: 'b' }, ts, 10);
    await manager.evaluateGroup(group, ts);
    states.push(group.rules[1]!.alerting!.state);
    assert.equal(group.rules[0]!.health, 'ok');
  }
  assert.deepEqual(states, ['pending', 'pending', 'firing', 'inactive']);
  await webhooks.idle();
  assert.equal(received.length, 2);
  assert.equal(received[0]!.status, 'firing');
  assert.deepEqual(received[0]!.alerts[0]!.labels, { zone: 'z1', severity: 'page', alertname: 'Hot' });
  assert.equal(received[0]!.alerts[0]!.annotations.summary, 'zone z1 at 32');
  assert.equal(received[1]!.status, 'resolved');
  assert.equal(webhooks.stats().sent, 2);
  // Recorded series and ALERTS are stored like collected ones.
  const recorded = await store.select([{ name: '__name__', type: '=', value: 'zone:temp:max' }], t0, t0 + 300_000);
  assert.deepEqual(recorded[0]?.values, [30, 31, 32, 20]);
  const alertsSeries = await store.select([{ name: '__name__', type: '=', value: 'ALERTS' }], t0, t0 + 300_000);
  assert.deepEqual(alertsSeries.map((s) => s.labels.alertstate).sort(), ['firing', 'pending']);

  // A bad file on reload is refused and the running rules stay.
  await writeFile(file, 'groups:\n  - name: g\n    rules:\n      - record: a\n        expr: a + 1\n');
  await assert.rejects(manager.reload(), /cycle: a -> a/);
  assert.equal(manager.groups()[0]!.rules.length, 2);
});

test('scheduled evaluation runs at interval-aligned timestamps', async (t) => {
  const dir = await tempDir(t);
  const file = join(dir, 'rules.yml');
  await writeFile(file, 'groups:\n  - name: fast\n    interval: 50ms\n    rules:\n      - record: one\n        expr: vector(1)\n');
  const store = new MemoryStore();
  const manager = createRuleManager({ files: [file], querier: store, appender: store, logger: silentLogger() });
  await manager.start();
  t.after(() => manager.stop());
  for (let i = 0; i < 200 && (await store.select([{ name: '__name__', type: '=', value: 'one' }], 0, Date.now() + 1000)).flatMap((s) => s.timestamps).length < 2; i++) {
    await new Promise((r) => setTimeout(r, 20));
  }
  const ts = (await store.select([{ name: '__name__', type: '=', value: 'one' }], 0, Date.now() + 1000)).flatMap((s) => s.timestamps);
  assert.ok(ts.length >= 2);
  for (const x of ts) assert.equal(x % 50, 0);
});
