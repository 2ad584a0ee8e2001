import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseFlowSpec } from '../../../src/flows/index.js';

const readFile = (): string | undefined => undefined;
const spec = (runsOn: string): string => `collection: { key: k }
tasks:
  train:
    command: "nvidia-smi"
    runs_on: ${runsOn}
workflow: []
`;

test('runs_on takes an agent name or a label selector {labels: {...}}', () => {
  const byName = parseFlowSpec(spec('node-b'), { readFile });
  assert.deepEqual(byName.problems, []);
  assert.equal(byName.spec!.tasks[0]!.runsOn, 'node-b');
  assert.equal(byName.spec!.tasks[0]!.runsOnLabels, undefined);
  const byLabels = parseFlowSpec(spec('{ labels: { gpu: "true", zone: eu-1, tier: 2 } }'), { readFile });
  assert.deepEqual(byLabels.problems, []);
  assert.equal(byLabels.spec!.tasks[0]!.runsOn, undefined);
  assert.deepEqual(byLabels.spec!.tasks[0]!.runsOnLabels, { gpu: 'true', zone: 'eu-1', tier: '2' });
  const block = parseFlowSpec(spec('\n      labels:\n        gpu: true'), { readFile });
  assert.deepEqual(block.problems, []);
  assert.deepEqual(block.spec!.tasks[0]!.runsOnLabels, { gpu: 'true' });
});

const bad: [string, string, string][] = [
  ['a list', '[gpu, big]', '5:14: task "train": runs_on must be an agent name or a label selector such as {labels: {gpu: "true"}}'],
  ['no labels field', '{ gpu: "true" }', '5:16: unknown field "gpu" in task "train": runs_on (expected one of: labels)'],
  ['an empty selector', '{}', '5:14: task "train": runs_on needs labels: {KEY: VALUE, ...}'],
  ['no label in it', '{ labels: {} }', '5:24: task "train": runs_on.labels must name at least one label'],
  ['labels not a mapping', '{ labels: gpu=true }', '5:24: task "train": runs_on.labels must be a mapping'],
  ['a bad label key', '{ labels: { "-gpu": "true" } }', "5:26: task \"train\": runs_on: label key \"-gpu\": 1-63 letters, digits, '.', '_', '-', '/', starting and ending with a letter or digit"],
  ['a bad label value', '{ labels: { gpu: "yes please" } }', "5:31: task \"train\": runs_on: label gpu: value \"yes please\": at most 63 letters, digits, '.', '_', '-', starting and ending with a letter or digit"],
  ['a nested value', '{ labels: { gpu: [a] } }', '5:31: task "train": runs_on.labels.gpu must be a string, number or boolean'],
  ['a duplicate label', '{ labels: { gpu: a, gpu: b } }', '5:34: duplicate key "gpu" in task "train": runs_on.labels'],
];
for (const [what, runsOn, expected] of bad) {
  test(`malformed runs_on selector with line and column: ${what}`, () => {
    const r = parseFlowSpec(spec(runsOn), { readFile });
    assert.equal(r.spec, undefined);
    const shown = r.problems.map((p) => `${p.line}:${p.col}: ${p.message}`);
    assert.ok(shown.includes(expected), `expected ${expected} among ${JSON.stringify(shown)}`);
  });
}
