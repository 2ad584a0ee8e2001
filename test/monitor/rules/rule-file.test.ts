import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FlotillaError } from '../../../src/core/errors.js';
import { checkRuleCycles, parseRuleFile } from '../../../src/monitor/rules/index.js';

function problems(text: string): { line: number; column: number; message: string }[] {
  try {
    checkRuleCycles(parseRuleFile(text, 'r.yml'));
  } catch (err) {
    assert.ok(err instanceof FlotillaError && err.code === 'CONFIG_INVALID', String(err));
    return (err.details as { problems: { line: number; column: number; message: string }[] }).problems;
  }
  return [];
}

test('a valid file gives groups, intervals and rules', () => {
  const groups = parseRuleFile(
    ['groups:', '  - name: g', '    interval: 30s', '    rules:', '      - record: job:x:rate', '        expr: sum by (job) (rate(x[1m]))', '        labels: {team: a}', '      - alert: High', '        expr: job:x:rate > 1', '        for: 2m', '        annotations: {summary: "high"}', '  - name: h', '    rules: []'].join('\n'),
    'r.yml',
  );
  assert.equal(groups.length, 2);
  assert.equal(groups[0]!.intervalMs, 30_000);
  assert.equal(groups[1]!.intervalMs, 60_000);
  const [rec, alert] = groups[0]!.rules;
  assert.ok(rec?.kind === 'recording' && rec.labels.team === 'a' && rec.position.line === 5);
  assert.ok(alert?.kind === 'alerting' && alert.forMs === 120_000 && alert.annotations.summary === 'high');
});

test('a bad rule file is rejected with file, line and column', () => {
  const cases: [string, number, number, RegExp][] = [
    ['groups:\n  - name: g\n    rules:\n      - record: x\n        expr: rate(x)\n', 5, 20, /could not parse expression: expected type range vector/],
    ['groups:\n  - name: g\n    rules:\n      - record: x\n        expr: "sum(x) +"\n', 5, 24, /could not parse expression: unexpected end of input/],
    ['groups:\n  - name: g\n    rules:\n      - record: x\n        expr: |\n          sum(x)\n            / rate(foo)\n', 7, 20, /could not parse expression: expected type range vector/],
    ['groups:\n  - name: g\n    rules:\n      - expr: x\n', 4, 9, /one of 'record' or 'alert' must be set/],
    ['groups:\n  - name: g\n    rules:\n      - record: "bad name"\n        expr: x\n', 4, 17, /invalid recording rule name/],
    ['groups:\n  - name: g\n    rules:\n      - record: x\n        expr: y\n        for: 1m\n', 6, 9, /invalid field 'for' in recording rule/],
    ['groups:\n  - name: g\n    interval: 1x\n    rules: []\n', 3, 15, /not a valid duration/],
    ['groups:\n  - name: g\n    rules: []\n  - name: g\n    rules: []\n', 4, 11, /repeated in the same file/],
    ['groups:\n  - name: g\n    rulez: []\n', 3, 5, /field "rulez" not allowed/],
    ['groups:\n  - name: g\n    rules:\n      - alert: A\n        expr: x\n        labels: {"1bad": v}\n', 6, 18, /invalid label name/],
    ['groups: [\n', 2, 1, /./],
    ['groups:\n  - name: g\n    rules:\n      - record: x\n', 4, 9, /'expr' must be set/],
  ];
  for (const [text, line, column, re] of cases) {
    const p = problems(text);
    assert.ok(p.length > 0, `no error for ${text}`);
    assert.match(p[0]!.message, re, text);
    assert.deepEqual([p[0]!.line, p[0]!.column], [line, column], `${text}\n${p[0]!.message}`);
  }
});

test('a cycle of recorded series is rejected, naming it', () => {
  const text = [
    'groups:',
    '  - name: g',
    '    rules:',
    '      - record: a',
    '        expr: b + 1',
    '      - record: b',
    '        expr: sum(c)',
    '  - name: h',
    '    rules:',
    '      - record: c',
    '        expr: "{__name__=~\\"a|z\\"} * 2"',
    '      - record: d',
    '        expr: a',
  ].join('\n');
  const p = problems(text);
  assert.equal(p.length, 1);
  assert.match(p[0]!.message, /recording rules form a cycle: (a -> b -> c -> a|b -> c -> a -> b|c -> a -> b -> c)/);
  assert.match(p[0]!.message, /at r\.yml:\d+:\d+/);
  assert.deepEqual(problems(text.replace('expr: b + 1', 'expr: x + 1')), []);
  assert.match(problems('groups:\n  - name: g\n    rules:\n      - record: a\n        expr: rate(a[5m])\n')[0]!.message, /cycle: a -> a/);
});
