import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';

const bin = join(import.meta.dirname, '..', '..', 'bin', 'flotilla.js');
const pkg = JSON.parse(readFileSync(join(import.meta.dirname, '..', '..', 'package.json'), 'utf8')) as { version: string };

function flotilla(args: string[], env: NodeJS.ProcessEnv = {}) {
  const res = spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8', env: { ...process.env, ...env }, timeout: 20_000 });
  return { code: res.status, stdout: res.stdout, stderr: res.stderr };
}

const dir = mkdtempSync(join(tmpdir(), 'flotilla-cli-'));
after(() => rmSync(dir, { recursive: true, force: true }));

describe('the flotilla command', () => {
  it('lists its commands in --help', () => {
    const r = flotilla(['--help']);
    assert.equal(r.code, 0);
    for (const c of ['up', 'server', 'coord']) assert.match(r.stdout, new RegExp(`^  ${c}\\b`, 'm'), `--help should list ${c}`);
  });

  it('prints its version', () => {
    const r = flotilla(['--version']);
    assert.equal(r.code, 0);
    assert.equal(r.stdout.trim(), pkg.version);
  });

  it('explains each command in its own help', () => {
    const r = flotilla(['coord', 'serve', '--help']);
    assert.equal(r.code, 0);
    assert.match(r.stdout, /--listen <host:port>/);
    assert.match(r.stdout, /--data-dir <dir>/);
  });

  const bad: { name: string; args: string[]; env?: NodeJS.ProcessEnv; message: RegExp }[] = [
    { name: 'an unknown command', args: ['frobnicate'], message: /unknown command 'frobnicate'/ },
    { name: 'an unknown option', args: ['server', '--bogus'], message: /unknown option '--bogus'/ },
    { name: 'a bad listen address', args: ['coord', 'serve', '--listen', 'nowhere'], message: /^flotilla: \[config_invalid\] invalid --listen: expected HOST:PORT/m },
    {
      name: 'a bad address in the environment',
      args: ['server'],
      env: { FLOTILLA_HTTP: '127.0.0.1:99999' },
      message: /^flotilla: \[config_invalid\] invalid FLOTILLA_HTTP: port 99999 is out of range/m,
    },
    { name: 'a missing config file', args: ['server', '--config', '/nonexistent/flotilla.yaml'], message: /cannot read config file \/nonexistent\/flotilla.yaml/ },
  ];
  for (const b of bad) {
    it(`rejects ${b.name} with one line and exit code 2`, () => {
      const r = flotilla(b.args, b.env);
      assert.equal(r.code, 2, r.stderr);
      assert.match(r.stderr, b.message);
      assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
    });
  }

  it('rejects an unknown key in the config file, naming it', () => {
    const file = join(dir, 'server.yaml');
    writeFileSync(file, 'htttp: 127.0.0.1:1\n');
    const r = flotilla(['server', '--config', file]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /unknown key "htttp"/);
  });
});
