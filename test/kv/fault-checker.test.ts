import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { checkHistory, type Op } from './fault-checker.js';

const put = (key: string, value: string, outcome: 'ok' | 'failed' = 'ok'): Op => ({ kind: 'put', key, value, startMs: 0, endMs: 0, outcome, node: 'n' });
const del = (key: string, outcome: 'ok' | 'failed' = 'ok'): Op => ({ kind: 'del', key, startMs: 0, endMs: 0, outcome, node: 'n' });
const get = (key: string, value: string | null): Op => ({ kind: 'get', key, startMs: 0, endMs: 0, outcome: 'ok', found: value !== null, ...(value !== null ? { value } : {}), node: 'n' });
const all = (state: Record<string, string | null>): Record<string, Record<string, string | null>> => ({ a: state, b: state, c: state });

describe('KV fault history checker', () => {
  it('accepts a correct history', () => {
    const r = checkHistory([put('k', '1'), get('k', '1'), put('k', '2', 'failed'), get('k', '2'), del('k'), get('k', null)], all({ k: null }));
    assert.deepEqual(r.problems, []);
  });
  it('finds a stale read', () => {
    const r = checkHistory([put('k', '1'), put('k', '2'), get('k', '1')], all({ k: '2' }));
    assert.equal(r.ok, false);
    assert.match(r.problems[0]!, /stale or lost read/);
  });
  it('finds a lost acknowledged write and a resurrected delete', () => {
    assert.match(checkHistory([put('k', '1'), put('k', '2')], all({ k: '1' })).problems[0]!, /acknowledged write lost/);
    assert.match(checkHistory([put('k', '1'), del('k')], all({ k: '1' })).problems[0]!, /acknowledged write lost/);
  });
  it('finds replicas that differ', () => {
    const r = checkHistory([put('k', '1'), put('k', '2', 'failed')], { a: { k: '1' }, b: { k: '2' }, c: { k: '1' } });
    assert.match(r.problems.join('\n'), /replicas differ/);
  });
});
