import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { formatProblems, loadFlowSpecFile } from '../../src/flows/index.js';
import { REPO_ROOT, tempDir } from '../testkit/index.js';
import { startHarness } from './flow-harness.js';

const EXAMPLES = join(REPO_ROOT, 'examples', 'flows');

function specFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) return name === 'jobs' ? [] : specFiles(p);
    return /\.ya?ml$/.test(name) ? [p] : [];
  });
}

/** Submits an example through the harness (its files copied next to the harness's spec.yaml). */
async function submitExample(h: Awaited<ReturnType<typeof startHarness>>, file: string): Promise<string> {
  const { bundle } = loadFlowSpecFile(file);
  return h.submit(bundle.yaml, bundle.files);
}

describe('examples/flows', () => {
  it('every example validates', () => {
    const files = specFiles(EXAMPLES);
    assert.ok(files.length >= 6, `found ${files.length} examples`);
    for (const file of files) {
      const { result } = loadFlowSpecFile(file);
      assert.equal(result.problems.length, 0, formatProblems(file, result.problems));
    }
  });

  it('the ML pipeline runs end to end: collect, clean, split, train, evaluate with an accurate model', async (t) => {
    const data = await tempDir(t);
    process.env.ML_DATA_DIR = data;
    t.after(() => delete process.env.ML_DATA_DIR);
    const h = await startHarness();
    t.after(() => h.close());
    const key = await submitExample(h, join(EXAMPLES, 'ml', 'ml-pipeline.yaml'));
    const run = (await h.service.createRun(key))!;
    const end = await h.waitRun(run.id, 120_000);
    assert.equal(end.state, 'success', end.reason);
    const metrics = JSON.parse(readFileSync(join(data, run.id, 'metrics.json'), 'utf8')) as { accuracy: number; test_rows: number };
    assert.ok(metrics.accuracy >= 0.8 && metrics.test_rows > 50, JSON.stringify(metrics));
    const tasks = new Map((await h.service.store.tasks(run.id)).map((x) => [x.task_key, x]));
    const [a, b] = [tasks.get('collect_a')!, tasks.get('collect_b')!];
    assert.ok(tasks.get('clean')!.started_ms! >= Math.max(a.ended_ms!, b.ended_ms!));
    const lines = (await h.service.store.logs(run.id, { task: 'evaluate' })).map((l) => l.line);
    assert.match(lines.join('\n'), /^test accuracy 0\.\d{3} precision/);
    assert.match((await h.service.store.logs(run.id, { task: 'clean' })).map((l) => l.line).join('\n'), /kept \d+ rows, dropped [1-9]\d*/);
  });

  it('the garbage-collection chore deletes only old files, and skips the delete when there is nothing to do', async (t) => {
    const dir = await tempDir(t);
    const gc = join(dir, 'scratch');
    mkdirSync(join(gc, 'old-dir'), { recursive: true });
    for (const [name, days] of [['old-dir/a.log', 30], ['b.tmp', 10], ['fresh.tmp', 1]] as const) {
      writeFileSync(join(gc, name), 'x');
      const t0 = Date.now() / 1000 - days * 86400;
      utimesSync(join(gc, name), t0, t0);
    }
    process.env.GC_DIR = gc;
    t.after(() => delete process.env.GC_DIR);
    const h = await startHarness();
    t.after(() => h.close());
    const key = await submitExample(h, join(EXAMPLES, 'devops', 'gc-temp-files.yaml'));
    const first = (await h.service.createRun(key))!;
    assert.equal((await h.waitRun(first.id, 60_000)).state, 'success');
    assert.deepEqual(readdirSync(gc), ['fresh.tmp'], 'old files and the emptied directory are gone');
    const deleted = (await h.service.store.logs(first.id, { task: 'delete' })).map((l) => l.line);
    assert.deepEqual(deleted, ['deleted 2 files']);
    const second = (await h.service.createRun(key))!;
    assert.equal((await h.waitRun(second.id, 60_000)).state, 'success');
    const states = new Map((await h.service.store.tasks(second.id)).map((x) => [x.task_key, x.state]));
    assert.deepEqual([states.get('plan'), states.get('delete'), states.get('report')], ['skipped', 'skipped', 'success']);
    assert.ok(existsSync(join(gc, 'fresh.tmp')));
  });
});
