import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { describe, it } from 'node:test';
import { completeCommand, splitWords } from '../../src/cli/kv-shell.js';
import { FLOTILLA_BIN, REPO_ROOT, trackChild } from '../testkit/index.js';
import { startHarness } from './kv-harness.js';

describe('flotilla kv shell', () => {
  it('splits words with quotes and completes command names', () => {
    assert.deepEqual(splitWords(`put "my key" 'hello world' x`), { value: ['put', 'my key', 'hello world', 'x'] });
    assert.deepEqual(splitWords('get "a\\"b"'), { value: ['get', 'a"b'] });
    assert.deepEqual(splitWords('put "open'), { error: 'unclosed "' });
    assert.deepEqual(completeCommand('he'), [['health', 'help'], 'he']);
    assert.deepEqual(completeCommand('sc'), [['scan'], 'sc']);
    assert.deepEqual(completeCommand('get x'), [[], 'get x']);
  });

  it('runs commands read from stdin against a node, and keeps going after an error', async (t) => {
    const h = await startHarness(t);
    const child = spawn(process.execPath, [FLOTILLA_BIN, 'kv', 'shell', '--node', h.address('node-b')], { cwd: REPO_ROOT, stdio: ['pipe', 'pipe', 'pipe'] });
    trackChild(child);
    t.after(() => void child.kill('SIGKILL'));
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    child.stdin.end(['put "a key" "a value"', 'get "a key"', 'get missing', 'bogus', 'scan a', 'consistency all', 'get "a key"', 'history', 'exit', ''].join('\n'));
    const code = await new Promise<number | null>((resolve) => child.once('close', resolve));
    assert.equal(code, 0, out);
    assert.match(out, /OK \(version .*, 2 replicas\)/);
    assert.match(out, /^a value$/m);
    assert.match(out, /error: .*not found/);
    assert.match(out, /unknown command "bogus"/);
    assert.match(out, /^a key\s+a value$/m);
    assert.match(out, /consistency: all/);
    assert.match(out, /\s+1 {2}put "a key" "a value"/);
  });
});
