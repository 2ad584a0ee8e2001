/**
 * `flotilla obj` against a real cluster (server + three nodes): buckets, streamed put/get of a large file
 * with progress lines, paging listings, stat with replica states, delete, and one-line errors with a
 * non-zero exit for every failure.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { runFlotilla, suiteOwner } from '../../testkit/cluster.js';
import { freePort, tempDir } from '../../testkit/index.js';
import { renderProgress } from '../../../src/cli/obj.js';
import { startObjectCluster, type ObjectCluster } from './object-cluster.js';

async function sha256File(path: string): Promise<string> {
  const h = createHash('sha256');
  for await (const c of createReadStream(path)) h.update(c as Buffer);
  return h.digest('hex');
}

/** A file of `mib` MiB of random bytes, written chunk by chunk. */
async function randomFile(path: string, mib: number): Promise<void> {
  const out = createWriteStream(path);
  for (let i = 0; i < mib; i++) if (!out.write(randomBytes(1024 * 1024))) await new Promise<void>((r) => out.once('drain', () => r()));
  await new Promise<void>((res, rej) => out.end((err?: Error | null) => (err ? rej(err) : res())));
}

/** A failure: non-zero exit and exactly one line on stderr, matching `pattern`. */
function assertOneLineError(r: { code: number | null; stderr: string }, pattern: RegExp): void {
  assert.notEqual(r.code, 0, `expected a failure, got exit 0 (${r.stderr})`);
  const lines = r.stderr.trimEnd().split('\n');
  assert.equal(lines.length, 1, `one line expected: ${r.stderr}`);
  assert.match(lines[0]!, /^flotilla: /);
  assert.match(lines[0]!, pattern);
}

describe('flotilla obj against a three-node cluster', () => {
  const owner = suiteOwner();
  let c: ObjectCluster;
  let dir: string;
  const obj = (args: string[], node?: string, env?: Record<string, string>) => runFlotilla(['obj', ...args, ...(node !== undefined ? ['--node', node] : [])], { timeoutMs: 60_000, ...(env ? { env } : {}) });

  it('starts a cluster; policies; mb with and without a policy; ls lists the buckets', async () => {
    c = await startObjectCluster(owner);
    dir = await tempDir(owner);
    const p = await obj(['policies'], c.http[0]);
    assert.equal(p.code, 0, p.stderr);
    for (const name of ['replicated-3', 'replicated-2', 'single']) assert.match(p.stdout, new RegExp(`^${name}\\s+\\d`, 'm'));
    const mb = await obj(['mb', 'photos'], c.http[0]);
    assert.equal(mb.code, 0, mb.stderr);
    assert.match(mb.stdout, /created bucket photos \(policy replicated-3\)/);
    const mb2 = await obj(['mb', 'scratch', '--policy', 'single'], c.http[1]);
    assert.equal(mb2.code, 0, mb2.stderr);
    // FLOTILLA_NODE picks the node when --node is not given.
    const ls = await obj(['ls'], undefined, { FLOTILLA_NODE: c.http[2]! });
    assert.equal(ls.code, 0, ls.stderr);
    assert.match(ls.stdout, /^photos\s+replicated-3\s/m);
    assert.match(ls.stdout, /^scratch\s+single\s/m);
    const json = JSON.parse((await obj(['ls', '--json'], c.http[1])).stdout) as { name: string; policy: string }[];
    assert.deepEqual(json.map((b) => `${b.name}:${b.policy}`).sort(), ['photos:replicated-3', 'scratch:single']);
  });

  it('put streams a 24 MiB file with progress lines; get returns the same bytes from another node, to a file and to stdout', async () => {
    const big = join(dir, 'big.bin');
    await randomFile(big, 24);
    const put = await obj(['put', big, 'photos/raw/big.bin'], c.http[0]);
    assert.equal(put.code, 0, put.stderr);
    const sum = await sha256File(big);
    assert.match(put.stdout, new RegExp(`uploaded photos/raw/big.bin ${24 * 1024 * 1024} bytes sha256 ${sum}`));
    // Not a terminal: plain progress lines, no carriage returns.
    assert.match(put.stderr, /put photos\/raw\/big\.bin \[#+-*\]\s+100%/);
    assert.doesNotMatch(put.stderr, /\r/);
    const out = join(dir, 'big.copy');
    const get = await obj(['get', 'photos/raw/big.bin', out], c.http[2]);
    assert.equal(get.code, 0, get.stderr);
    assert.equal(await sha256File(out), sum);
    // BUCKET/DIR/ keeps the file name; "-" writes to stdout.
    const small = join(dir, 'note.txt');
    await writeFile(small, 'hello objects\n'.repeat(100));
    assert.equal((await obj(['put', small, 'photos/docs/'], c.http[1])).code, 0);
    const cat = await obj(['get', 'photos/docs/note.txt', '-'], c.http[0]);
    assert.equal(cat.code, 0, cat.stderr);
    assert.equal(cat.stdout, await readFile(small, 'utf8'));
  });

  it('stat shows size, checksum, version and the three replicas in state ok', async () => {
    const s = await obj(['stat', 'photos/raw/big.bin'], c.http[1]);
    assert.equal(s.code, 0, s.stderr);
    assert.match(s.stdout, new RegExp(`^size\\s+${24 * 1024 * 1024} `, 'm'));
    assert.match(s.stdout, /^sha256\s+[0-9a-f]{64}$/m);
    assert.match(s.stdout, /^version\s+\S+/m);
    const rows = s.stdout.split('\n').filter((l) => /^node-[abc]\s/.test(l));
    assert.equal(rows.filter((l) => /\sprimary\s+ok\s/.test(l)).length, 3, s.stdout);
    const j = JSON.parse((await obj(['stat', 'photos/raw/big.bin', '--json'], c.http[0])).stdout) as { placement: { replicas: { node: string; state: string; primary: boolean }[] } };
    assert.deepEqual(j.placement.replicas.filter((r) => r.primary).map((r) => r.node).sort(), ['node-a', 'node-b', 'node-c']);
  });

  it('ls pages through more keys than one page, in order; prefix and delimiter', async () => {
    // 130 keys listed 50 per request: three pages, the last partial (the default page is the server's 1000).
    const keys = Array.from({ length: 130 }, (_, i) => `many/k${String(i).padStart(5, '0')}`);
    for (let i = 0; i < keys.length; i += 32) {
      await Promise.all(
        keys.slice(i, i + 32).map(async (k, j) => {
          const r = await fetch(`http://${c.http[j % 3]}/api/v1/objects/buckets/photos/objects/${encodeURIComponent(k)}`, { method: 'PUT', body: k });
          assert.equal(r.status, 200, await r.text());
        }),
      );
    }
    const ls = await obj(['ls', 'photos/many/', '--page-size', '50'], c.http[1]);
    assert.equal(ls.code, 0, ls.stderr);
    const listed = ls.stdout.trimEnd().split('\n').map((l) => l.trim().split(/\s+/)[2]);
    assert.deepEqual(listed, keys);
    const d = await obj(['ls', 'photos', '--delimiter', '/'], c.http[2]);
    assert.equal(d.code, 0, d.stderr);
    assert.deepEqual(d.stdout.trimEnd().split('\n').map((l) => l.trim().replace(/\s+/g, ' ')), ['PRE docs/', 'PRE many/', 'PRE raw/']);
    const j = JSON.parse((await obj(['ls', 'photos/raw/', '--json'], c.http[0])).stdout) as { objects: { key: string; size: number }[] };
    assert.deepEqual(j.objects.map((o) => [o.key, o.size]), [['raw/big.bin', 24 * 1024 * 1024]]);
  });

  it('rm deletes; the key is gone from every node', async () => {
    const rm = await obj(['rm', 'photos/docs/note.txt'], c.http[2]);
    assert.equal(rm.code, 0, rm.stderr);
    for (const n of c.http) assertOneLineError(await obj(['get', 'photos/docs/note.txt', join(dir, 'gone')], n), /not found/i);
    await assert.rejects(stat(join(dir, 'gone')));
    await assert.rejects(stat(join(dir, 'gone.flotilla-part')));
  });

  it('every failure is one line on stderr and a non-zero exit', async () => {
    const n = c.http[0]!;
    const cases: [string[], RegExp][] = [
      [['mb', 'photos'], /already exists/i],
      [['mb', 'Bad_Name'], /bad bucket name/],
      [['mb', 'ok-name', '--policy', 'triple'], /unknown storage policy/],
      [['ls', 'nosuch'], /nosuch/],
      [['ls', 'photos', '--page-size', '0'], /invalid --page-size: expected a whole number from 1 to 1000/],
      [['ls', 'photos', '--page-size', '10x'], /invalid --page-size/],
      [['put', join(dir, 'big.bin'), 'nosuch/x'], /nosuch/],
      [['put', join(dir, 'no-such-file'), 'photos/x'], /cannot read/],
      [['put', dir, 'photos/x'], /not a regular file/],
      [['get', 'photos/missing', join(dir, 'm')], /not found/i],
      [['get', 'photos'], /expected BUCKET\/KEY/],
      [['get', 'nosuch/key', join(dir, 'm')], /nosuch/],
      [['stat', 'photos/missing'], /not found/i],
      [['rm', 'NOPE/x'], /bad bucket name/],
      [['stat', `photos/${'k'.repeat(1100)}`], /at most 1024 bytes/],
    ];
    const down = `127.0.0.1:${await freePort()}`;
    const all: [string[], string, RegExp][] = [
      ...cases.map(([args, pattern]): [string[], string, RegExp] => [args, n, pattern]),
      [['ls'], down, /cannot reach node .*connection refused/],
      [['put', join(dir, 'big.bin'), 'photos/y'], down, /cannot reach node/],
      [['ls'], 'not-an-address', /invalid --node/],
    ];
    // Each fails without changing anything, so they run at once.
    const results = await Promise.all(all.map(([args, node]) => obj(args, node)));
    results.forEach((r, i) => assertOneLineError(r, all[i]![2]));
  });
});

describe('progress bar rendering', () => {
  it('draws the bar, the percentage, the bytes and the rate', () => {
    const line = renderProgress('put b/k', 5 * 1024 * 1024, 10 * 1024 * 1024, 2000, 10);
    assert.equal(line, 'put b/k [#####-----]  50%  5.0 MiB/10.0 MiB  2.5 MiB/s');
    assert.match(renderProgress('x', 0, 0, 0, 4), /\[####\] 100%/);
  });
});
