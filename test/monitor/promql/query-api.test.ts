import assert from 'node:assert/strict';
import { test } from 'node:test';
import Fastify from 'fastify';
import { registerQueryRoutes } from '../../../src/monitor/server/query-routes.js';
import { MemoryStore } from './memory-store.js';

async function app(t: { after: (fn: () => Promise<void>) => void }) {
  const store = new MemoryStore();
  for (let i = 0; i <= 10; i++) {
    store.add({ __name__: 'up', job: 'a' }, i * 15_000, i);
    store.add({ __name__: 'up', job: 'b' }, i * 15_000, 2 * i);
  }
  const a = Fastify();
  registerQueryRoutes(a, { querier: store, now: () => 150_000 });
  await a.ready();
  t.after(() => a.close());
  return a;
}

test('query and query_range answer in Prometheus JSON', async (t) => {
  const a = await app(t);
  const r1 = await a.inject({ url: '/api/v1/query?query=sum(up)&time=150' });
  assert.equal(r1.statusCode, 200);
  assert.deepEqual(r1.json(), { status: 'success', data: { resultType: 'vector', result: [{ metric: {}, value: [150, '30'] }] } });
  const r2 = await a.inject({ method: 'POST', url: '/api/v1/query', payload: 'query=up%7Bjob%3D%22a%22%7D&time=1970-01-01T00:00:30Z', headers: { 'content-type': 'application/x-www-form-urlencoded' } });
  assert.deepEqual(r2.json().data.result, [{ metric: { __name__: 'up', job: 'a' }, value: [30, '2'] }]);
  const r3 = await a.inject({ url: '/api/v1/query?query=1%2F0' });
  assert.deepEqual(r3.json().data, { resultType: 'scalar', result: [150, '+Inf'] });
  const r4 = await a.inject({ url: '/api/v1/query_range?query=up%7Bjob%3D%22b%22%7D&start=0&end=30&step=15s' });
  assert.deepEqual(r4.json().data, { resultType: 'matrix', result: [{ metric: { __name__: 'up', job: 'b' }, values: [[0, '0'], [15, '2'], [30, '4']] }] });
  const r5 = await a.inject({ url: '/api/v1/query?query=up%5B30s%5D&time=30' });
  assert.equal(r5.json().data.resultType, 'matrix');
});

test('series, labels and label values', async (t) => {
  const a = await app(t);
  assert.deepEqual((await a.inject({ url: '/api/v1/labels' })).json(), { status: 'success', data: ['__name__', 'job'] });
  assert.deepEqual((await a.inject({ url: '/api/v1/label/job/values' })).json().data, ['a', 'b']);
  const s = (await a.inject({ url: '/api/v1/series?match[]=up%7Bjob%3D%22a%22%7D&start=0&end=200' })).json();
  assert.deepEqual(s.data, [{ __name__: 'up', job: 'a' }]);
  assert.deepEqual((await a.inject({ url: '/api/v1/rules' })).json(), { status: 'success', data: { groups: [] } });
  assert.deepEqual((await a.inject({ url: '/api/v1/alerts' })).json(), { status: 'success', data: { alerts: [] } });
});

test('bad input is answered with Prometheus error types', async (t) => {
  const a = await app(t);
  const cases: [string, number, string, RegExp][] = [
    ['/api/v1/query?query=sum(', 400, 'bad_data', /1:5: parse error/],
    ['/api/v1/query?query=', 400, 'bad_data', /no expression found/],
    ['/api/v1/query?query=up&time=yesterday', 400, 'bad_data', /invalid parameter "time"/],
    ['/api/v1/query_range?query=up&start=10&end=0&step=1', 400, 'bad_data', /end timestamp must not be before start time/],
    ['/api/v1/query_range?query=up&start=0&end=10&step=0', 400, 'bad_data', /zero or negative/],
    ['/api/v1/query_range?query=up&start=0&end=100000&step=1', 400, 'bad_data', /11,000 points/],
    ['/api/v1/query_range?query=up&start=0&end=10', 400, 'bad_data', /invalid parameter "step"/],
    ['/api/v1/query?query=up%20%2F%20on(x)%20%7B__name__%3D~%22up%22%7D%20*%200', 422, 'execution', /many-to-many|duplicate/],
    ['/api/v1/series', 400, 'bad_data', /no match\[\] parameter/],
    ['/api/v1/series?match[]=rate(up%5B1m%5D)', 400, 'bad_data', /not a series selector/],
    ['/api/v1/label/1bad/values', 400, 'bad_data', /invalid label name/],
  ];
  for (const [url, status, errorType, re] of cases) {
    const r = await a.inject({ url });
    assert.equal(r.statusCode, status, `${url}: ${r.body}`);
    const body = r.json<{ status: string; errorType: string; error: string }>();
    assert.equal(body.status, 'error');
    assert.equal(body.errorType, errorType, url);
    assert.match(body.error, re, url);
  }
});
