// `flotilla server --rules FILE` through the built CLI: recorded series are queryable; after the file
// changes and SIGHUP, the new rule's series appears; a broken file on SIGHUP is logged with its
// file:line:column and the running rules stay. Also: the store's health on /metrics.
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { it } from 'node:test';
import { startFlotilla, tcpReady, tempDir, type ProcessHandle } from '../../testkit/index.js';
import { eventually } from '../server/fixtures.js';

const V1 = `groups:
  - name: first
    interval: 1s
    rules:
      - record: flotilla_test:one
        expr: vector(1)
`;

const V2 = `${V1}  - name: second
    interval: 1s
    rules:
      - record: flotilla_test:two
        expr: flotilla_test:one * 2
        labels: {source: reload}
`;

// Line 8, column 32: the '$'.
const BROKEN = `groups:
  - name: first
    interval: 1s
    rules:
      - record: flotilla_test:one
        expr: vector(1)
      - record: flotilla_test:three
        expr: sum(rate(x[5m])) $ 2
`;

interface PromVector {
  status: string;
  data: { result: { metric: Record<string, string>; value: [number, string] }[] };
}

it('server --rules: SIGHUP reloads a changed file; a broken file is reported at file:line:column and the old rules stay', { timeout: 90_000 }, async (t) => {
  const dir = await tempDir(t);
  const rules = join(dir, 'rules.yml');
  await writeFile(rules, V1);
  const server: ProcessHandle = await startFlotilla(
    ({ port, dataDir }) => [
      'server',
      '--listen', `127.0.0.1:${port('grpc')}`,
      '--http', `127.0.0.1:${port('http')}`,
      '--coord-listen', `127.0.0.1:${port('coord')}`,
      '--data-dir', dataDir,
      '--rules', rules,
    ],
    { name: 'flotilla server', t, ports: ['grpc', 'http', 'coord'], env: { FLOTILLA_LOG_PRETTY: '0' }, ready: async (p) => tcpReady(p.port('http')) },
  );
  const http = `http://127.0.0.1:${server.port('http')}`;
  const query = async (q: string): Promise<PromVector['data']['result']> => {
    const body = (await (await fetch(`${http}/api/v1/query?query=${encodeURIComponent(q)}`)).json()) as PromVector;
    assert.equal(body.status, 'success');
    return body.data.result;
  };

  await eventually('flotilla_test:one recorded', async () => (await query('flotilla_test:one')).length === 1, 20_000);
  assert.deepEqual(await query('flotilla_test:two'), []);

  await writeFile(rules, V2);
  process.kill(server.pid!, 'SIGHUP');
  await eventually('flotilla_test:two recorded after SIGHUP', async () => (await query('flotilla_test:two')).length === 1, 20_000);
  const two = await query('flotilla_test:two');
  assert.deepEqual(two[0]!.metric, { __name__: 'flotilla_test:two', source: 'reload' });
  assert.equal(two[0]!.value[1], '2');

  await writeFile(rules, BROKEN);
  process.kill(server.pid!, 'SIGHUP');
  await eventually('the reload error logged', () => server.output().includes('rule reload failed'), 20_000);
  const line = server.output().split('\n').find((l) => l.includes('rule reload failed'))!;
  assert.ok(line.includes(`${rules}:8:32: could not parse expression: unexpected character: \\"$\\"`), line);
  // The old rules (both groups) keep running: a sample newer than the failed reload appears.
  const afterMs = Date.now();
  await eventually('flotilla_test:two still recorded', async () => {
    const r = await (await fetch(`${http}/api/v1/query_range?query=flotilla_test:two&start=${afterMs / 1000}&end=${(Date.now() + 1000) / 1000}&step=1`)).json() as { data: { result: { values: [number, string][] }[] } };
    return r.data.result[0]?.values.some(([ts]) => ts * 1000 > afterMs + 1500) === true;
  }, 20_000);
  const groups = ((await (await fetch(`${http}/api/v1/rules`)).json()) as { data: { groups: { name: string }[] } }).data.groups.map((g) => g.name);
  assert.deepEqual(groups, ['first', 'second']);
  assert.deepEqual(await query('flotilla_test:three'), []);

  // The store's health and its series guards on /metrics.
  const metrics = await (await fetch(`${http}/metrics`)).text();
  assert.match(metrics, /^flotilla_tsdb_head_series [1-9]/m);
  assert.match(metrics, /^flotilla_tsdb_wal_bytes [1-9]/m);
  assert.match(metrics, /^flotilla_tsdb_series_refused_total\{reason="host"\} 0$/m);
});
