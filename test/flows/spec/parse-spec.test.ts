import assert from 'node:assert/strict';
import { test } from 'node:test';
import { evaluateTriggerRule, parseFlowSpec } from '../../../src/flows/index.js';

const files: Record<string, string> = { 'jobs/extract.py': 'print(1)\n', 'jobs/clean.sh': 'echo\n', 'jobs/load.sql': 'select 1;\n' };
const readFile = (p: string): string | undefined => files[p];

const flow1 = `collection: { key: etl-nightly, triggertime: "0 2 * * *", timeout: 3600, retries: 1 }
tasks:
  extract:   { key: extract, executor: jobs/extract.py, timeout: 600, retries: 3 }
  clean:     { key: clean, executor: jobs/clean.sh }
  load:      { key: load, executor: jobs/load.sql, runs_on: node-b }
workflow:
  - extract -> clean
  - "[clean, extract] -> load"
`;

test('the YAML of FLOW-1 parses as the source document writes it', () => {
  const r = parseFlowSpec(flow1, { readFile });
  assert.deepEqual(r.problems, []);
  const spec = r.spec!;
  assert.equal(spec.key, 'etl-nightly');
  assert.deepEqual(spec.trigger, { kind: 'cron', expr: '0 2 * * *' });
  assert.equal(spec.timeoutMs, 3_600_000);
  assert.deepEqual(spec.edges, [['extract', 'clean'], ['clean', 'load'], ['extract', 'load']]);
  const extract = spec.tasks.find((t) => t.key === 'extract')!;
  assert.equal(extract.timeoutMs, 600_000);
  assert.equal(extract.retry.retries, 3);
  assert.equal(spec.tasks.find((t) => t.key === 'clean')!.retry.retries, 1);
  assert.equal(spec.tasks.find((t) => t.key === 'load')!.runsOn, 'node-b');
});

test('workflow as one multi-line string, with the source document\'s // comment, and chains', () => {
  const r = parseFlowSpec(`collection: { key: k }
tasks:
  a: { command: "true" }
  b: { command: "true" }
  c: { command: "true" }
  d: { command: "true" }
workflow: |
  a -> b
  [b, c] -> d // b and c in parallel, then d
  a -> c -> d
`, { readFile });
  assert.deepEqual(r.problems, []);
  assert.deepEqual(r.spec!.edges, [['a', 'b'], ['b', 'd'], ['c', 'd'], ['a', 'c']]);
});

const bad: [string, string, string][] = [
  ['unknown task in an edge', flow1.replace('"[clean, extract] -> load"', '"[clean, extrct] -> load"'), '8:14: workflow: unknown task "extrct" in edge "[clean, extrct] -> load"'],
  ['a bad cron expression', flow1.replace('0 2 * * *', '0 25 * * *'), '1:47: collection.triggertime: bad cron expression "0 25 * * *": CronPattern: Invalid value for hour: 25'],
  ['an unknown field', flow1.replace('retries: 3 }', 'retries: 3, retires: 1 }'), '3:83: unknown field "retires" in task "extract" (expected one of: key, description, triggertime, executor, command, sensor, timeout, retries, retry_delay, retry_exponential_backoff, max_retry_delay, trigger_rule, runs_on, env, params, connection, branch)'],
  ['a missing executor file', flow1.replace('jobs/clean.sh', 'jobs/nope.sh'), '4:38: task "clean": executor file "jobs/nope.sh" not found (relative to the spec file)'],
  ['a duplicate key', flow1.replace('  load:', '  clean:     { key: clean2, command: "true" }\n  load:'), '5:3: duplicate key "clean" in tasks'],
  ['a cycle', flow1.replace('  - extract -> clean', '  - extract -> clean\n  - load -> extract'), '7:5: cycle in workflow: extract -> clean -> load -> extract'],
  ['an unknown trigger rule', flow1.replace('runs_on: node-b', 'trigger_rule: most_success'), '5:66: task "load": unknown trigger_rule "most_success" (expected one of: all_success, all_failed, all_done, all_skipped, one_success, one_failed, one_done, none_failed, none_failed_min_one_success, none_skipped, always)'],
  ['broken YAML', 'collection: { key: x\n', '2:1: Flow map in block collection must be sufficiently indented and end with a }'],
];
for (const [what, yaml, expected] of bad) {
  test(`validation error with line and column: ${what}`, () => {
    const r = parseFlowSpec(yaml, { readFile });
    assert.equal(r.spec, undefined);
    const first = r.problems[0]!;
    assert.equal(`${first.line}:${first.col}: ${first.message}`, expected, JSON.stringify(r.problems));
  });
}

test('hostile input gives problems, never a throw', () => {
  for (const text of ['', '[]', '---\n- a', 'collection: 1\ntasks: 2\nworkflow: 3', 'a: &x [*x]', '\u0000\u0001', 'x'.repeat(10_000), '{'.repeat(500)]) {
    const r = parseFlowSpec(text, { readFile });
    assert.ok(r.problems.length > 0, text.slice(0, 20));
  }
});

test('trigger rules follow Airflow', () => {
  assert.equal(evaluateTriggerRule('all_success', ['success', 'running']), 'wait');
  assert.equal(evaluateTriggerRule('all_success', ['success', 'failed']), 'upstream_failed');
  assert.equal(evaluateTriggerRule('all_success', ['success', 'skipped']), 'skip');
  assert.equal(evaluateTriggerRule('one_success', ['success', 'running']), 'run');
  assert.equal(evaluateTriggerRule('one_failed', ['success', 'success']), 'skip');
  assert.equal(evaluateTriggerRule('all_done', ['failed', 'skipped']), 'run');
  assert.equal(evaluateTriggerRule('none_failed', ['success', 'skipped']), 'run');
  assert.equal(evaluateTriggerRule('none_failed_min_one_success', ['skipped', 'skipped']), 'skip');
  assert.equal(evaluateTriggerRule('all_failed', ['failed', 'upstream_failed']), 'run');
  assert.equal(evaluateTriggerRule('all_skipped', ['skipped']), 'run');
  assert.equal(evaluateTriggerRule('none_skipped', ['success', 'skipped']), 'skip');
  assert.equal(evaluateTriggerRule('always', ['failed', 'running']), 'run');
});
