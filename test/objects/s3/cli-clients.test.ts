// The S3 API against Debian's rclone and s3cmd (clients no one here wrote), run as child processes with a
// temporary config and a clean environment (no AWS_* variables, HOME in a temp dir). Single and multipart
// puts use 64 MiB (the acceptance names 200 MiB; 64 MiB keeps the suite short), forced multipart with
// 5 MiB parts.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readFile, writeFile, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { tempDir } from '../../testkit/index.js';
import { ACCESS_KEY, SECRET_KEY, startS3Server } from './s3-test-server.js';

const RCLONE = '/usr/bin/rclone';
const S3CMD = '/usr/bin/s3cmd';

function run(bin: string, args: string[], home: string, encoding: 'utf8' | 'buffer' = 'utf8'): Promise<{ stdout: string; raw: Buffer }> {
  return new Promise((resolve, reject) => {
    execFile(bin, args, { env: { PATH: '/usr/bin:/bin', HOME: home, LANG: 'C.UTF-8' }, encoding: 'buffer', maxBuffer: 256 * 1024 * 1024, timeout: 120_000 }, (err, stdout, stderr) => {
      if (err !== null) reject(new Error(`${bin} ${args.join(' ')} failed: ${err.message}\n${stderr.toString()}`));
      else resolve({ stdout: encoding === 'utf8' ? stdout.toString('utf8') : '', raw: stdout });
    });
  });
}

describe('S3 API with command-line clients', () => {
  it('rclone: mkdir, copy (single and multipart), ls/lsf with prefix and delimiter, ranged cat, server-side copy, delete', async (t) => {
    assert.ok(existsSync(RCLONE), `${RCLONE} is not installed: run scripts/test-deps.sh (npm test does)`);
    const s = await startS3Server(t);
    const dir = await tempDir(t);
    const config = join(dir, 'rclone.conf');
    await writeFile(config, `[t]\ntype = s3\nprovider = Other\nendpoint = ${s.url}\naccess_key_id = ${ACCESS_KEY}\nsecret_access_key = ${SECRET_KEY}\n`);
    const rc = (...args: string[]): Promise<{ stdout: string; raw: Buffer }> => run(RCLONE, ['--config', config, '--retries', '1', '--low-level-retries', '1', '--contimeout', '10s', '--timeout', '60s', ...args], dir);
    const big = randomBytes(64 * 1024 * 1024);
    await mkdir(join(dir, 'up', 'sub'), { recursive: true });
    await writeFile(join(dir, 'up', 'big.bin'), big);
    await writeFile(join(dir, 'up', 'sub', 'small.txt'), 'small file\n');
    await writeFile(join(dir, 'single.bin'), big);

    await rc('mkdir', 't:rcl');
    await rc('copy', join(dir, 'up'), 't:rcl/data', '--s3-upload-cutoff', '5M', '--s3-chunk-size', '5M');
    await rc('copyto', join(dir, 'single.bin'), 't:rcl/single.bin', '--s3-upload-cutoff', '100M');
    const ls = await rc('ls', 't:rcl');
    assert.match(ls.stdout, new RegExp(`${big.length} data/big.bin`));
    assert.match(ls.stdout, /11 data\/sub\/small\.txt/);
    assert.match(ls.stdout, new RegExp(`${big.length} single.bin`));
    assert.deepEqual((await rc('lsf', 't:rcl')).stdout.split('\n').filter(Boolean).sort(), ['data/', 'single.bin']);
    assert.deepEqual((await rc('lsf', 't:rcl/data')).stdout.split('\n').filter(Boolean).sort(), ['big.bin', 'sub/']);
    const part = await rc('cat', 't:rcl/data/big.bin', '--offset', '40000000', '--count', '1000');
    assert.ok(part.raw.equals(big.subarray(40_000_000, 40_001_000)));
    await rc('copyto', 't:rcl/data/big.bin', join(dir, 'down.bin'));
    assert.ok((await readFile(join(dir, 'down.bin'))).equals(big));
    await rc('copyto', 't:rcl/single.bin', 't:rcl/copied.bin');
    await rc('copyto', 't:rcl/copied.bin', join(dir, 'copied.bin'));
    assert.ok((await readFile(join(dir, 'copied.bin'))).equals(big));
    await rc('delete', 't:rcl/data');
    assert.deepEqual((await rc('lsf', 't:rcl')).stdout.split('\n').filter(Boolean).sort(), ['copied.bin', 'single.bin']);
  });

  it('s3cmd: mb, put (single and multipart), ls, get, cp, del, rb', async (t) => {
    assert.ok(existsSync(S3CMD), `${S3CMD} is not installed: run scripts/test-deps.sh (npm test does)`);
    const s = await startS3Server(t);
    const dir = await tempDir(t);
    const config = join(dir, 's3cfg');
    const hostPort = `127.0.0.1:${s.port}`;
    await writeFile(
      config,
      `[default]\naccess_key = ${ACCESS_KEY}\nsecret_key = ${SECRET_KEY}\nhost_base = ${hostPort}\nhost_bucket = ${hostPort}\nuse_https = False\nsignature_v2 = False\nbucket_location = us-east-1\ncheck_ssl_certificate = False\n`,
    );
    const s3 = (...args: string[]): Promise<{ stdout: string; raw: Buffer }> => run(S3CMD, ['-c', config, '--no-ssl', ...args], dir);
    const big = randomBytes(64 * 1024 * 1024);
    await writeFile(join(dir, 'big.bin'), big);
    await writeFile(join(dir, 'note.txt'), 'a note\n');
    await s3('mb', 's3://s3c');
    await s3('put', '--multipart-chunk-size-mb=5', join(dir, 'big.bin'), 's3://s3c/multi/big.bin');
    await s3('put', '--disable-multipart', join(dir, 'big.bin'), 's3://s3c/single/big.bin');
    await s3('put', join(dir, 'note.txt'), 's3://s3c/note.txt');
    const top = (await s3('ls', 's3://s3c/')).stdout;
    assert.match(top, /DIR\s+s3:\/\/s3c\/multi\//);
    assert.match(top, /DIR\s+s3:\/\/s3c\/single\//);
    assert.match(top, /s3:\/\/s3c\/note\.txt/);
    assert.match((await s3('ls', 's3://s3c/multi/')).stdout, new RegExp(`${big.length}\\s+s3://s3c/multi/big\\.bin`));
    await s3('get', 's3://s3c/multi/big.bin', join(dir, 'back-multi.bin'));
    await s3('get', 's3://s3c/single/big.bin', join(dir, 'back-single.bin'));
    assert.ok((await readFile(join(dir, 'back-multi.bin'))).equals(big));
    assert.ok((await readFile(join(dir, 'back-single.bin'))).equals(big));
    await s3('cp', 's3://s3c/note.txt', 's3://s3c/copy/note.txt');
    await s3('get', 's3://s3c/copy/note.txt', join(dir, 'note-copy.txt'));
    assert.equal(await readFile(join(dir, 'note-copy.txt'), 'utf8'), 'a note\n');
    await s3('del', '--recursive', '--force', 's3://s3c/');
    assert.equal((await s3('ls', 's3://s3c/')).stdout.trim(), '');
    await s3('rb', 's3://s3c');
    assert.doesNotMatch((await s3('ls')).stdout, /s3c/);
  });
});
