import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { z } from 'zod';
import { envBoolean, envName, flagName, hostPort, loadConfig, stringList } from '../../src/core/config.js';
import { Code, FlotillaError } from '../../src/core/errors.js';

const schema = z.object({
  listen: hostPort.default('127.0.0.1:2379'),
  dataDir: z.string().min(1).default('./data'),
  intervalSeconds: z.coerce.number().int().positive().default(5),
  verbose: envBoolean.default(false),
  etcd: stringList.default([]),
});

const dir = mkdtempSync(join(tmpdir(), 'flotilla-config-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function yamlFile(text: string): string {
  const file = join(dir, `c${Math.random().toString(36).slice(2)}.yaml`);
  writeFileSync(file, text);
  return file;
}

function configError(fn: () => unknown): FlotillaError {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof FlotillaError, `expected a FlotillaError, got ${String(err)}`);
    assert.equal(err.code, Code.CONFIG_INVALID);
    return err;
  }
  assert.fail('expected a configuration error');
}

describe('config loading', () => {
  it('names keys as flags and FLOTILLA_ variables', () => {
    assert.equal(flagName('dataDir'), '--data-dir');
    assert.equal(envName('dataDir'), 'FLOTILLA_DATA_DIR');
    assert.equal(envName('coordListen'), 'FLOTILLA_COORD_LISTEN');
  });

  it('uses the defaults when nothing is given', () => {
    const c = loadConfig({ schema, env: {} });
    assert.deepEqual(c, { listen: '127.0.0.1:2379', dataDir: './data', intervalSeconds: 5, verbose: false, etcd: [] });
  });

  it('takes flags over environment over file', () => {
    const file = yamlFile('listen: 10.0.0.1:1\ndataDir: /from-file\nintervalSeconds: 9\n');
    const env = { FLOTILLA_LISTEN: '127.0.0.1:2', FLOTILLA_DATA_DIR: '/from-env', FLOTILLA_VERBOSE: 'yes' };
    const c = loadConfig({ schema, env, file, flags: { listen: '127.0.0.1:3' } });
    assert.equal(c.listen, '127.0.0.1:3');
    assert.equal(c.dataDir, '/from-env');
    assert.equal(c.intervalSeconds, 9);
    assert.equal(c.verbose, true);
  });

  it('parses lists from a comma-separated variable and from a YAML list', () => {
    assert.deepEqual(loadConfig({ schema, env: { FLOTILLA_ETCD: 'a:1, b:2' } }).etcd, ['a:1', 'b:2']);
    assert.deepEqual(loadConfig({ schema, env: {}, file: yamlFile('etcd:\n  - x:1\n  - y:2\n') }).etcd, ['x:1', 'y:2']);
  });

  it('accepts an IPv6 host and a bare :port', () => {
    assert.equal(loadConfig({ schema, env: {}, flags: { listen: '[::1]:2379' } }).listen, '[::1]:2379');
    assert.equal(loadConfig({ schema, env: {}, flags: { listen: ':2379' } }).listen, '0.0.0.0:2379');
  });

  const bad: { name: string; flags?: Record<string, unknown>; env?: Record<string, string>; file?: string; mentions: string[] }[] = [
    { name: 'a flag that is not host:port', flags: { listen: 'nonsense' }, mentions: ['--listen', 'HOST:PORT', 'nonsense'] },
    { name: 'a port out of range', flags: { listen: '127.0.0.1:70000' }, mentions: ['--listen', 'out of range'] },
    { name: 'a variable that is not a number', env: { FLOTILLA_INTERVAL_SECONDS: 'often' }, mentions: ['FLOTILLA_INTERVAL_SECONDS', 'often'] },
    { name: 'a negative number in the file', file: 'intervalSeconds: -1\n', mentions: ['intervalSeconds in', '-1'] },
    { name: 'an unknown key in the file', file: 'listn: 1.2.3.4:5\n', mentions: ['unknown key "listn"', 'listen'] },
    { name: 'a file that is not YAML', file: 'listen: [unclosed\n', mentions: ['not valid YAML', 'line'] },
    { name: 'a file that is a list', file: '- a\n- b\n', mentions: ['must be a mapping'] },
    { name: 'an empty data dir', flags: { dataDir: '' }, mentions: ['--data-dir'] },
    { name: 'a bad boolean', env: { FLOTILLA_VERBOSE: 'maybe' }, mentions: ['FLOTILLA_VERBOSE'] },
  ];
  for (const b of bad) {
    it(`rejects ${b.name} with a message naming the key`, () => {
      const err = configError(() => loadConfig({ schema, env: b.env ?? {}, flags: b.flags, file: b.file === undefined ? undefined : yamlFile(b.file) }));
      for (const m of b.mentions) assert.ok(err.message.includes(m), `"${err.message}" should mention ${m}`);
    });
  }

  it('rejects a missing config file clearly', () => {
    const err = configError(() => loadConfig({ schema, env: {}, file: join(dir, 'missing.yaml') }));
    assert.match(err.message, /cannot read config file .*missing\.yaml/);
  });
});
