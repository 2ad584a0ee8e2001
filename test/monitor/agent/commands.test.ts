import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { CommandContext } from '../../../src/monitor/agent/commands.js';
import { applyCommand } from '../../../src/monitor/agent/commands.js';
import { parseAgentConfig } from '../../../src/monitor/agent/config-watch.js';
import { createDefaultCollectors } from '../../../src/monitor/agent/collectors/index.js';
import { MetricCatalog } from '../../../src/monitor/agent/metric-catalog.js';
import { SettingsHolder } from '../../../src/monitor/agent/settings.js';

const catalog = new MetricCatalog(createDefaultCollectors());

function ctx(): CommandContext {
  return { settings: new SettingsHolder({ intervalSeconds: 5, metrics: ['cpu', 'memory', 'disk', 'network', 'filesystem'] }), catalog, hostname: 'node-a', now: () => 1_000_000 };
}

const run = (c: CommandContext, action: string, payload: unknown, deadlineMs = 0) =>
  applyCommand({ id: 'c1', action, payloadJson: typeof payload === 'string' ? payload : JSON.stringify(payload), deadlineMs }, c);

test('set_interval applies at once and acks with the id and a clear message', () => {
  const c = ctx();
  const r = run(c, 'set_interval', { interval: 2 });
  assert.deepEqual([r.id, r.ok, r.message], ['c1', true, 'interval set to 2s']);
  assert.equal(c.settings.get().intervalSeconds, 2);
  assert.equal(JSON.parse(r.resultJson).interval, 2);
});

test('disable and enable a group or a single metric; the selection stays normalised', () => {
  const c = ctx();
  assert.equal(run(c, 'disable_metric', { metric: 'disk' }).message, 'disk disabled');
  assert.deepEqual(c.settings.get().metrics, ['cpu', 'memory', 'network', 'filesystem']);
  assert.equal(run(c, 'disable_metric', { metric: 'disk' }).message, 'disk already disabled');
  run(c, 'disable_metric', { metric: 'node_load1' });
  assert.deepEqual(c.settings.get().metrics, ['node_cpu_usage_percent', 'node_load5', 'node_load15', 'memory', 'network', 'filesystem']);
  run(c, 'enable_metric', { metric: 'node_load1' });
  assert.deepEqual(c.settings.get().metrics, ['cpu', 'memory', 'network', 'filesystem']);
  run(c, 'enable_metric', { metric: 'disk' });
  assert.deepEqual(c.settings.get().metrics, ['cpu', 'memory', 'disk', 'network', 'filesystem']);
  const g = run(c, 'get_config', {});
  assert.deepEqual(JSON.parse(g.resultJson), { interval: 5, metrics: ['cpu', 'memory', 'disk', 'network', 'filesystem'] });
  const p = run(c, 'ping', '');
  assert.equal(p.message, 'pong');
  assert.equal(JSON.parse(p.resultJson).hostname, 'node-a');
});

test('bad payloads, unknown actions and metrics, expired commands: ok=false, a reason, nothing changed', () => {
  const cases: Array<[string, unknown, RegExp]> = [
    ['set_interval', '{not json', /not valid JSON/],
    ['set_interval', '[1,2]', /must be a JSON object/],
    ['set_interval', 'null', /must be a JSON object/],
    ['set_interval', {}, /needs \{"interval": seconds\}/],
    ['set_interval', { interval: '2' }, /with a number/],
    ['set_interval', { interval: 0 }, /between 0.1 and 86400/],
    ['set_interval', { interval: -3 }, /between/],
    ['set_interval', { interval: 1e9 }, /between/],
    ['enable_metric', {}, /needs \{"metric": name\}/],
    ['enable_metric', { metric: 42 }, /needs \{"metric": name\}/],
    ['disable_metric', { metric: 'gpu' }, /unknown metric "gpu" \(known: cpu, memory/],
    ['reboot', {}, /unknown action "reboot" \(known: set_interval, enable_metric/],
    ['', {}, /unknown action ""/],
    ['set_interval', 'x'.repeat(70_000), /payload too large/],
  ];
  for (const [action, payload, re] of cases) {
    const c = ctx();
    const r = run(c, action, payload);
    assert.equal(r.ok, false, `${action} ${String(payload).slice(0, 40)}`);
    assert.match(r.message, re);
    assert.equal(r.id, 'c1');
    assert.deepEqual(c.settings.asConfig(), { interval: 5, metrics: ['cpu', 'memory', 'disk', 'network', 'filesystem'] });
  }
  const c = ctx();
  const late = run(c, 'set_interval', { interval: 2 }, 999_000);
  assert.equal(late.ok, false);
  assert.match(late.message, /expired/);
  assert.equal(c.settings.get().intervalSeconds, 5);
});

test('stored config: valid JSON is normalised; bad JSON, bad values and unknown metrics are errors', () => {
  const good = parseAgentConfig('{"interval":1,"metrics":["memory","cpu","node_disk_busy_percent"]}', catalog);
  assert.ok(good.error === undefined);
  assert.deepEqual(good.value, {
    intervalSeconds: 1,
    metrics: ['cpu', 'memory', 'node_disk_busy_percent'],
  });
  for (const [text, re] of [
    ['{', /not valid JSON/],
    ['{"interval":"5","metrics":[]}', /invalid interval/],
    ['{"interval":0,"metrics":[]}', /invalid interval/],
    ['{"interval":5}', /invalid metrics/],
    ['{"interval":5,"metrics":["cpu","gpu"]}', /unknown "gpu"/],
    ['[]', /invalid/],
  ] as const) {
    const r = parseAgentConfig(text, catalog);
    assert.ok(r.error !== undefined && re.test(r.error), `${text}: ${r.error}`);
  }
});
