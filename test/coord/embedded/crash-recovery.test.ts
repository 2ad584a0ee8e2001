/**
 * kill -9 of the store mid-write-load loses no acknowledged put, and revisions continue above the highest
 * stored one with no duplicate.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { Etcd3 } from 'etcd3';
import { CoordEngine } from '../../../src/coord/embedded/coord-engine.js';
import { silentLogger } from '../../../src/core/log.js';

const fixture = fileURLToPath(new URL('./fixtures/serve-coord.ts', import.meta.url));

void it('kill -9 mid-write-load loses no acknowledged put; revisions continue without duplicates', async (t) => {
  const dataDir = await mkdtemp(join(tmpdir(), 'flotilla-coord-crash-'));
  t.after(() => rm(dataDir, { recursive: true, force: true }));
  const child = spawn(process.execPath, ['--import', 'tsx', fixture, dataDir], { stdio: ['ignore', 'pipe', 'inherit'] });
  t.after(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  const address = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('server did not start')), 20_000);
    let out = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /ADDRESS (\S+)/.exec(out);
      if (m !== null) {
        clearTimeout(timer);
        resolve(m[1]!);
      }
    });
    child.on('exit', () => reject(new Error('server exited early')));
  });

  const client = new Etcd3({ hosts: `http://${address}` });
  t.after(() => client.close());
  const acked = new Map<string, { value: string; revision: number }>();
  let stop = false;
  let sent = 0;
  const workers = Array.from({ length: 16 }, async (_, w) => {
    for (let i = 0; !stop && i < 5000; i++) {
      const key = `crash/${w}/${i}`;
      sent++;
      try {
        const res = await client.put(key).value(`v${i}`).exec();
        acked.set(key, { value: `v${i}`, revision: Number(res.header.revision) });
      } catch {
        return; // the server is gone
      }
    }
  });
  // Kill once a good number of writes were acknowledged (bounded wait).
  for (let i = 0; i < 200 && acked.size < 500; i++) await new Promise((r) => setTimeout(r, 25));
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGKILL');
  stop = true;
  await Promise.all(workers);
  // The kernel releases the store's lock only once the killed process is gone.
  await exited;
  assert.ok(acked.size > 0, `no put was acknowledged (sent ${sent})`);

  const engine = new CoordEngine({ dataDir, logger: silentLogger() });
  await engine.open();
  t.after(() => engine.close());
  const missing: string[] = [];
  const revisions = new Set<number>();
  for (const [key, want] of acked) {
    const kv = (await engine.range({ key })).value.kvs[0];
    if (kv === undefined || Buffer.from(kv.value).toString() !== want.value || kv.modRevision !== want.revision) missing.push(key);
    revisions.add(want.revision);
  }
  assert.deepEqual(missing, [], 'every acknowledged put is present with its revision');
  assert.equal(revisions.size, acked.size, 'no two acknowledged puts share a revision');
  const highest = engine.committedRev;
  assert.ok(highest >= Math.max(...revisions));
  const next = await engine.put({ key: 'after/crash', value: Buffer.from('x') });
  assert.equal(next.revision, highest + 1);
  const all = await engine.range({ key: 'crash/', end: 'crash0' });
  assert.ok(all.value.count >= acked.size);
});
