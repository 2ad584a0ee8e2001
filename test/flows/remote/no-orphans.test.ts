import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { runTaskProcess } from '../../../src/monitor/agent/task-runner.js';
import { tempDir, trackChild } from '../../testkit/index.js';

const HOST = fileURLToPath(new URL('./fixtures/task-host.ts', import.meta.url));

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function until(what: string, cond: () => boolean, timeoutMs = 10_000): Promise<void> {
  for (let i = 0; i < timeoutMs / 50; i++) {
    if (cond()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out waiting for ${what}`);
}

describe('a task does not outlive its agent', () => {
  it('kill -9 of the agent mid-task: no process of the task survives (the task, a child, a grandchild)', async (t) => {
    const dir = await tempDir(t);
    const pids = join(dir, 'pids');
    // The task itself, a background child, and a grandchild of a subshell: every one records its pid.
    const command = `echo $$ >> ${pids}; sleep 300 & echo $! >> ${pids}; ( sleep 301 & echo $! >> ${pids}; wait ) & echo started; wait`;
    const host = spawn(process.execPath, ['--import', 'tsx', HOST, command], { stdio: ['ignore', 'pipe', 'pipe'] });
    trackChild(host);
    let out = '';
    host.stdout.on('data', (c: Buffer) => (out += c.toString()));
    host.stderr.on('data', (c: Buffer) => (out += c.toString()));
    const recorded = (): number[] => {
      try {
        return readFileSync(pids, 'utf8').trim().split('\n').filter(Boolean).map(Number);
      } catch {
        return [];
      }
    };
    t.after(() => {
      for (const pid of recorded()) if (alive(pid)) process.kill(pid, 'SIGKILL');
    });
    await until(`the task to start (output: ${out})`, () => out.includes('started') && recorded().length === 3, 20_000);
    const taskPids = recorded();
    assert.ok(taskPids.every(alive), 'the task and its children run');
    host.kill('SIGKILL');
    await new Promise((r) => host.once('exit', r));
    await until(`every process of the task to be gone (alive: ${taskPids.filter(alive).join(', ')})`, () => !taskPids.some(alive));
  });

  it('the wrapper passes the task through: exit code, death by signal, output lines, timeout of the whole group', async () => {
    const lines: string[] = [];
    const onLine = (_s: 'stdout' | 'stderr', l: string): void => void lines.push(l);
    const code = await runTaskProcess({ argv: ['bash', '-c', 'echo out; echo err >&2; exit 3'], files: {}, env: {} }, { onLine });
    assert.equal(code.exitCode, 3);
    assert.deepEqual(lines.sort(), ['err', 'out']);
    assert.equal(code.lastStdoutLine, 'out');
    const killed = await runTaskProcess({ argv: ['bash', '-c', 'kill -TERM $$'], files: {}, env: {} }, { onLine });
    assert.equal(killed.exitCode, null);
    assert.equal(killed.signal, 'SIGTERM');
    const stdin = await runTaskProcess({ argv: ['bash', '-c', 'cat; echo read-done'], files: {}, env: {} }, { onLine: (_s, l) => void lines.push(l) });
    assert.equal(stdin.exitCode, 0, 'the task reads an empty stdin, not the watcher pipe');
    assert.equal(stdin.lastStdoutLine, 'read-done');
    const timed = await runTaskProcess({ argv: ['bash', '-c', 'sleep 30 & sleep 30'], files: {}, env: {}, timeoutMs: 300 }, { onLine, killGraceMs: 200 });
    assert.equal(timed.timedOut, true);
  });
});
