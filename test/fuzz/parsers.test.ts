/**
 * Bounded fuzz runs of the parsers users feed text to: the PromQL subset (parse and evaluate), rule files
 * and workflow specs. Each input either parses or is refused with a FlotillaError (a clear message with a
 * position); nothing else may escape — no TypeError, RangeError or stack overflow — and evaluation of
 * whatever parses answers or refuses the same way.
 */
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import fc from 'fast-check';
import { parse as parseYaml } from 'yaml';
import { FlotillaError } from '../../src/core/errors.js';
import { createPromqlEngine, parsePromql } from '../../src/monitor/promql/index.js';
import { parseRuleFile } from '../../src/monitor/rules/index.js';
import { parseFlowSpec } from '../../src/flows/spec/index.js';
import { MemoryStore } from '../monitor/promql/memory-store.js';
import { fuzzRuns, mutated, tokenSoup } from './mutate.js';

const root = join(import.meta.dirname, '..', '..');

/** A refusal must be a FlotillaError with a non-empty message; anything else is a crash. */
function expectRefusal(err: unknown, input: string): void {
  if (!(err instanceof FlotillaError) || err.message === '') {
    assert.fail(`input ${JSON.stringify(input)} escaped as ${err instanceof Error ? `${err.name}: ${err.message}\n${err.stack}` : String(err)}`);
  }
}

const ruleFixture = readFileSync(join(root, 'test/monitor/promql/fixtures/comparison-rules.yml'), 'utf8');
const promqlCorpus: string[] = [
  ...(parseYaml(ruleFixture) as { groups: { rules: { expr: string }[] }[] }).groups.flatMap((g) => g.rules.map((r) => r.expr)),
  'up', 'node_cpu_seconds_total{mode!="idle"}[5m] offset 1h', 'topk(3, sum by (host) (rate(x[1m])))',
  'clamp_min(abs(-1 * m), 0.5) > bool 2', 'count without (a, b) (m == on (c) group_left m2)', '1 + 2 * 3 ^ 2 % 5',
  'max_over_time(m[10m:1m])', 'round(m, 0.1) unless ignoring (z) n', '-m or vector(1)', '"str"',
];
const promqlPieces = [
  'sum', 'avg', 'min', 'max', 'count', 'topk', 'by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'offset', 'bool',
  'rate(', 'irate(', 'increase(', 'delta(', 'avg_over_time(', 'abs(', 'clamp_max(', 'round(', '(', ')', '{', '}', '[', ']', ',',
  '=', '!=', '=~', '!~', '"', "'", '`', '+', '-', '*', '/', '%', '^', '==', '>', '<=', 'and', 'or', 'unless', ' ', '\n', '#',
  'm', 'x_total', 'job', '"a.*"', '5m', '1h', '0s', '1e308', 'NaN', 'Inf', '0x1F', '.5', ':', '[5m:1m]', '999999999999999999y', '\\',
];

const store = new MemoryStore();
for (let i = 0; i < 20; i++) {
  store.add({ __name__: 'm', job: 'a', host: `h${i % 3}` }, i * 15_000, i);
  store.add({ __name__: 'x_total', job: 'b', code: i % 2 === 0 ? '200' : '500' }, i * 15_000, i * 3);
  store.add({ __name__: 'http_requests_total', job: 'api', code: '200', instance: 'a' }, i * 15_000, i * 10);
}
const engine = createPromqlEngine({ querier: store });

test('PromQL: random and mutated expressions parse or are refused with a position, never crash; what parses evaluates or is refused', async () => {
  let parsed = 0;
  await fc.assert(
    fc.asyncProperty(fc.oneof(mutated(promqlCorpus, promqlPieces), tokenSoup(promqlPieces)), async (text) => {
      let expr;
      try {
        expr = parsePromql(text);
      } catch (err) {
        expectRefusal(err, text);
        return;
      }
      parsed++;
      for (const run of [() => engine.instantQuery(expr, 300_000), () => engine.rangeQuery(expr, 0, 300_000, 30_000)]) {
        try {
          await run();
        } catch (err) {
          expectRefusal(err, text);
        }
      }
    }),
    { numRuns: fuzzRuns },
  );
  assert.ok(parsed > fuzzRuns / 20, `too few inputs parsed (${parsed}) for the evaluation to be exercised`);
});

test('rule files: mutated files are accepted or refused with file, line and column', () => {
  const corpus = [ruleFixture, 'groups:\n  - name: g\n    rules:\n      - alert: A\n        expr: m > 1\n        for: 1m\n        labels: {s: x}\n        annotations: {d: "{{ $value }}"}\n'];
  const pieces = ['groups:', '- name:', 'rules:', 'record:', 'alert:', 'expr:', 'for:', 'interval:', 'labels:', '  ', '\n', ':', '-', '{', '}', '"', '|', '>', '&a', '*a', '!!binary', '5m', 'sum(', ')'];
  fc.assert(
    fc.property(fc.oneof(mutated(corpus, pieces, 6), tokenSoup(pieces, 40)), (text) => {
      try {
        parseRuleFile(text, 'fuzz.yml');
      } catch (err) {
        expectRefusal(err, text);
        assert.match((err as Error).message, /fuzz\.yml/, 'a refusal names the file');
      }
    }),
    { numRuns: fuzzRuns },
  );
});

test('workflow specs: mutated specs give problems with line and column, never a crash', () => {
  const specs: string[] = [];
  for (const dir of readdirSync(join(root, 'examples/flows'))) {
    for (const f of readdirSync(join(root, 'examples/flows', dir))) {
      if (f.endsWith('.yaml') || f.endsWith('.yml')) specs.push(readFileSync(join(root, 'examples/flows', dir, f), 'utf8'));
    }
  }
  assert.ok(specs.length >= 3, 'the examples are the corpus');
  const pieces = ['collection:', 'tasks:', 'workflow:', 'key:', 'executor:', 'command:', 'runs_on:', 'trigger_rule:', 'retries:', 'timeout:', 'triggertime:', '->', '[', ']', ', ', '"', '\n', '  ', ':', '-', '{', '}', '*/5 * * * *', '2026-13-40T99:00:00Z', 'x.sh', '../../etc/passwd', '&a', '*a', '<<: *a', '!!str', '1e309', '-1'];
  fc.assert(
    fc.property(fc.oneof(mutated(specs, pieces, 6), tokenSoup(pieces, 40)), (text) => {
      let result;
      try {
        result = parseFlowSpec(text, { readFile: (p) => (p.includes('..') ? undefined : '#!/bin/sh\ntrue\n') });
      } catch (err) {
        expectRefusal(err, text);
        return;
      }
      for (const p of result.problems) {
        assert.ok(p.message.length > 0 && Number.isInteger(p.line) && p.line >= 1 && Number.isInteger(p.col) && p.col >= 1, `a problem without a position: ${JSON.stringify(p)} for ${JSON.stringify(text)}`);
      }
    }),
    { numRuns: fuzzRuns },
  );
});
