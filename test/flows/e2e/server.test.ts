import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { type Cleanup, startEtcd, startFlotilla, startPostgres, tempDir, type ProcessHandle } from '../../testkit/index.js';
import { api, cli, until, type RunView } from './e2e-helpers.js';

function startServer(t: Cleanup, extra: (p: (n: string) => number) => string[], dataDir?: string): Promise<ProcessHandle> {
  return startFlotilla(
    ({ port, dataDir: d }) => ['server', '--http', `127.0.0.1:${port('http')}`, '--listen', `127.0.0.1:${port('grpc')}`, '--data-dir', d, ...extra(port)],
    { t, ports: ['http', 'grpc', 'coord'], ...(dataDir !== undefined ? { dataDir } : {}), ready: async (h) => h.output().includes('ready') },
  );
}

// The cases share nothing (each its own server, store and data dir) and mostly wait (for a lease to
// expire, for tasks): they run at the same time.
describe('flotilla flow against a real server', { concurrency: true }, () => {
  it('validate prints FILE:LINE:COL for a bad spec and exits 2', async (t) => {
    const dir = await tempDir(t);
    const file = join(dir, 'bad.yaml');
    writeFileSync(file, 'collection: { key: k }\ntasks:\n  a: { command: "true" }\nworkflow:\n  - a -> nope\n');
    const r = cli(['flow', 'validate', file]);
    assert.equal(r.code, 2);
    assert.equal(r.stderr.trim(), `${file}:5:10: workflow: unknown task "nope" in edge "a -> nope"`);
    writeFileSync(file, 'collection: { key: k }\ntasks:\n  a: { command: "true" }\nworkflow: []\n');
    assert.equal(cli(['flow', 'validate', file]).code, 0);
  });

  const killMidRun = async (t: Cleanup, db: string[]): Promise<void> => {
    const server = await startServer(t, (port) => ['--coord-listen', `127.0.0.1:${port('coord')}`, ...db]);
    const base = `http://127.0.0.1:${server.port('http')}`;
    const dir = await tempDir(t);
    const counter = join(dir, 'a-runs.txt');
    mkdirSync(join(dir, 'jobs'));
    writeFileSync(join(dir, 'jobs', 'a.sh'), `echo ran >> ${counter}\necho a on $(hostname)\n`);
    writeFileSync(join(dir, 'flow.yaml'), `collection: { key: crash }
tasks:
  a: { executor: jobs/a.sh }
  b: { command: "sleep 2; echo b done" }
  c: { command: "echo c" }
workflow:
  - a -> b -> c
`);
    const submit = cli(['flow', 'submit', join(dir, 'flow.yaml'), '--http', `127.0.0.1:${server.port('http')}`]);
    assert.equal(submit.code, 0, submit.stderr);
    const run = await api<{ id: string }>(base, 'POST', '/api/v1/flows/crash/runs');
    await until('b running', async () => ((await api<RunView>(base, 'GET', `/api/v1/flows/runs/${run.id}`)).tasks.find((x) => x.task_key === 'b')?.state === 'running' ? true : undefined));
    await server.kill();
    await server.restart();
    const done = await until('the run to end', async () => {
      const v = await api<RunView>(base, 'GET', `/api/v1/flows/runs/${run.id}`);
      return v.run.state === 'success' || v.run.state === 'failed' ? v : undefined;
    });
    assert.equal(done.run.state, 'success');
    assert.equal(readFileSync(counter, 'utf8'), 'ran\n', 'a ran exactly once');
    assert.deepEqual(done.attempts.filter((x) => x.task_key === 'b').map((x) => x.outcome), ['lost', 'success']);
    const events = await api<{ events: { task_key: string; state: string }[] }>(base, 'GET', `/api/v1/flows/runs/${run.id}/events`);
    assert.ok(events.events.some((e) => e.task_key === 'b' && e.state === 'restarting'));
    const logs = cli(['flow', 'logs', run.id, 'b', '--http', `127.0.0.1:${server.port('http')}`]);
    assert.equal(logs.stdout, 'b done\n');
    const wait = cli(['flow', 'run', 'crash', '--wait', '--http', `127.0.0.1:${server.port('http')}`]);
    assert.equal(wait.code, 0, wait.stderr);
    assert.match(wait.stdout, /: success\n/);
  };

  it('kill -9 the server mid-run: after a restart the run continues and no succeeded task runs again', async (t) => killMidRun(t, []));

  it('the same with --db on a real PostgreSQL', async (t) => {
    const pg = await startPostgres({ t });
    await killMidRun(t, ['--db', pg.url]);
  });

  it('two servers on one real etcd: only one schedules; when it dies the other takes over and no run starts twice', async (t) => {
    const etcd = await startEtcd({ t });
    const dir = await tempDir(t);
    const db = `sqlite:${join(dir, 'shared.db')}`;
    const s1 = await startServer(t, () => ['--etcd', etcd.endpoint, '--db', db]);
    const s2 = await startServer(t, () => ['--etcd', etcd.endpoint, '--db', db]);
    const b1 = `http://127.0.0.1:${s1.port('http')}`;
    const b2 = `http://127.0.0.1:${s2.port('http')}`;
    writeFileSync(join(dir, 'tick.yaml'), `collection: { key: tick, triggertime: "* * * * * *", max_active_runs: 5 }
tasks:
  t: { command: "echo tick" }
workflow: []
`);
    assert.equal(cli(['flow', 'submit', join(dir, 'tick.yaml'), '--http', `127.0.0.1:${s2.port('http')}`]).code, 0);
    const leaderOf = async (): Promise<string> => (await api<{ leader: string }>(b2, 'GET', '/api/v1/flows')).leader;
    const first = await until('a leader', async () => (await leaderOf()) ?? undefined);
    assert.ok(first === `127.0.0.1:${s1.port('http')}` || first === `127.0.0.1:${s2.port('http')}`);
    await until('some runs', async () => ((await api<{ runs: unknown[] }>(b1, 'GET', '/api/v1/flows/tick')).runs.length >= 2 ? true : undefined));
    const [dead, alive] = first.endsWith(`:${s1.port('http')}`) ? [s1, s2] : [s2, s1];
    const aliveBase = alive === s1 ? b1 : b2;
    await dead.kill();
    await until('the other server to take over', async () => ((await api<{ leader: string }>(aliveBase, 'GET', '/api/v1/flows')).leader === `127.0.0.1:${alive.port('http')}` ? true : undefined), 20_000);
    const before = (await api<{ runs: unknown[] }>(aliveBase, 'GET', '/api/v1/flows/tick')).runs.length;
    await until('new runs from the new leader', async () => ((await api<{ runs: unknown[] }>(aliveBase, 'GET', '/api/v1/flows/tick')).runs.length > before + 1 ? true : undefined));
    const r = spawnSync('python3', ['-c', `import sqlite3;print(sqlite3.connect("${join(dir, 'shared.db')}").execute("select count(*), count(distinct run_key) from flow_runs").fetchone())`], { encoding: 'utf8' });
    const [total, distinct] = r.stdout.replace(/[()\s]/g, '').split(',').map(Number);
    assert.equal(total, distinct, 'no tick ran twice');
    assert.ok(existsSync(join(dir, 'shared.db')));
  });
});
