import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { runTaskProcess } from '../../../src/monitor/agent/task-runner.js';
import { tempDir } from '../../testkit/index.js';

describe('the environment of a task', () => {
  it("has the process's variables and its own, but none of Flotilla's settings (join token, database URL, secrets)", async (t) => {
    const saved = { ...process.env };
    t.after(() => {
      for (const k of Object.keys(process.env)) if (!(k in saved)) delete process.env[k];
      Object.assign(process.env, saved);
    });
    process.env.FLOTILLA_JOIN_TOKEN = 'flt_join_secret';
    process.env.FLOTILLA_DB = 'postgres://flotilla:pw@localhost/flotilla';
    process.env.TASK_ENV_TEST_SHARED = 'from-the-agent';
    const lines: string[] = [];
    const res = await runTaskProcess(
      { argv: ['bash', '-c', 'env'], files: {}, env: { TASK_OWN: 'from-the-spec' } },
      { onLine: (_s, line) => lines.push(line), workRoot: await tempDir(t) },
    );
    assert.equal(res.exitCode, 0);
    const env = new Map(lines.map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));
    assert.equal(env.get('TASK_ENV_TEST_SHARED'), 'from-the-agent');
    assert.equal(env.get('TASK_OWN'), 'from-the-spec');
    assert.ok(env.has('PATH'));
    assert.deepEqual([...env.keys()].filter((k) => k.startsWith('FLOTILLA_')), []);
  });
});
