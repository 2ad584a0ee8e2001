/**
 * Acceptance: the same rule file evaluated by Flotilla's rule manager and by a real Prometheus 2.42 over
 * the same samples gives the same values (1e-9 relative) for every rule at the same evaluation times.
 * Prometheus gets the samples by remote write; its recording-rule results are written back the same way
 * at each evaluation time, so chained rules read the same recorded series on both sides.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { silentLogger } from '../../../src/core/log.js';
import { createPromqlEngine, labelsKey, parseFloatValue, formatLabels } from '../../../src/monitor/promql/index.js';
import { createRuleManager } from '../../../src/monitor/rules/index.js';
import type { Labels } from '../../../src/monitor/tsdb/types.js';
import { MemoryStore } from './memory-store.js';
import { PROMETHEUS_BIN, startPrometheus } from './prometheus-process.js';

const here = dirname(fileURLToPath(import.meta.url));
const rulesFile = join(here, 'fixtures', 'comparison-rules.yml');

/** A small deterministic PRNG (mulberry32). */
function prng(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function syntheticSeries(t0: number): { labels: Labels; samples: [number, number][] }[] {
  const rnd = prng(42);
  const out: { labels: Labels; samples: [number, number][] }[] = [];
  for (const job of ['api', 'web']) {
    for (const instance of ['a', 'b']) {
      for (const code of ['200', '404', '500']) {
        const samples: [number, number][] = [];
        let v = Math.floor(rnd() * 1000);
        const start = t0 + (instance === 'b' && code === '404' ? 7 * 60_000 : 0);
        for (let t = start; t < t0 + 30 * 60_000; t += 15_000) {
          const ts = t + Math.floor(rnd() * 6000) - 3000;
          v += Math.floor(rnd() * (code === '200' ? 50 : 8));
          if (job === 'web' && instance === 'a' && code === '200' && samples.length === 40) v = Math.floor(rnd() * 10);
          samples.push([Math.max(ts, start), v]);
        }
        out.push({ labels: { __name__: 'http_requests_total', job, instance, code }, samples });
      }
    }
  }
  for (const instance of ['a', 'b', 'c']) {
    for (const zone of ['z1', 'z2']) {
      const samples: [number, number][] = [];
      let v = 15 + rnd() * 10;
      const end = instance === 'c' && zone === 'z2' ? t0 + 17 * 60_000 : t0 + 30 * 60_000;
      for (let t = t0; t < end; t += 10_000) {
        v += (rnd() - 0.5) * 2;
        samples.push([t + Math.floor(rnd() * 2000), Number(v.toFixed(6))]);
      }
      out.push({ labels: { __name__: 'node_temp_celsius', instance, zone }, samples });
    }
  }
  return out;
}

interface PromVectorItem {
  metric: Record<string, string>;
  value: [number, string];
}

function close(a: number, b: number): boolean {
  if (Number.isNaN(a) || Number.isNaN(b)) return Number.isNaN(a) && Number.isNaN(b);
  if (a === b) return true;
  return Math.abs(a - b) <= 1e-9 * Math.max(Math.abs(a), Math.abs(b));
}

test('rule results equal a real Prometheus 2.42 over the same samples', { timeout: 120_000 }, async (t) => {
  assert.ok(existsSync(PROMETHEUS_BIN), `${PROMETHEUS_BIN} is not installed: run scripts/test-deps.sh (npm test does)`);
  const prom = await startPrometheus(t);
  const t0 = Math.floor((Date.now() - 2 * 3600_000) / 60_000) * 60_000;
  const data = syntheticSeries(t0);
  const store = new MemoryStore();
  for (const s of data) for (const [ts, v] of s.samples) store.add(s.labels, ts, v);
  await prom.write(data);

  const manager = createRuleManager({ files: [rulesFile], querier: store, appender: store, logger: silentLogger() });
  await manager.reload();
  const engine = createPromqlEngine({ querier: store });
  const compared = new Map<string, number>();
  const mismatches: string[] = [];

  for (let ts = t0; ts <= t0 + 36 * 60_000; ts += 60_000) {
    for (const group of manager.groups()) {
      await manager.evaluateGroup(group, ts);
      for (const rule of group.rules) {
        const spec = rule.spec;
        assert.equal(rule.health, 'ok', `${spec.name} at ${ts}: ${rule.lastError}`);
        const data = await prom.query(spec.exprText, ts);
        const theirs: { labels: Labels; value: number }[] =
          data.resultType === 'scalar'
            ? [{ labels: {}, value: parseFloatValue((data.result as [number, string])[1]) }]
            : (data.result as PromVectorItem[]).map((r) => ({ labels: r.metric, value: parseFloatValue(r.value[1]) }));
        let ours: { labels: Labels; value: number }[];
        if (spec.kind === 'recording') {
          const recorded = theirs.map((s) => ({ labels: { ...s.labels, ...spec.labels, __name__: spec.name }, value: s.value }));
          if (recorded.length > 0) await prom.write(recorded.map((s) => ({ labels: s.labels, samples: [[ts, s.value]] })));
          theirs.splice(0, theirs.length, ...recorded);
          const sel = await store.select([{ name: '__name__', type: '=', value: spec.name }], ts, ts);
          ours = sel.map((s) => ({ labels: s.labels, value: s.values[0]! }));
        } else {
          const v = await engine.instantQuery(spec.expr, ts);
          assert.equal(v.type, 'vector');
          ours = v.type === 'vector' ? v.samples.map((s) => ({ labels: s.labels, value: s.value })) : [];
        }
        const theirsByKey = new Map(theirs.map((s) => [labelsKey(s.labels), s]));
        const oursKeys = new Set(ours.map((s) => labelsKey(s.labels)));
        for (const s of ours) {
          const other = theirsByKey.get(labelsKey(s.labels));
          if (other === undefined) mismatches.push(`${spec.name} @${ts}: only Flotilla has ${formatLabels(s.labels)} = ${s.value}`);
          else if (!close(s.value, other.value)) mismatches.push(`${spec.name} @${ts}: ${formatLabels(s.labels)} Flotilla ${s.value} Prometheus ${other.value}`);
          else compared.set(spec.name, (compared.get(spec.name) ?? 0) + 1);
        }
        for (const s of theirs) if (!oursKeys.has(labelsKey(s.labels))) mismatches.push(`${spec.name} @${ts}: only Prometheus has ${formatLabels(s.labels)} = ${s.value}`);
      }
    }
  }
  assert.deepEqual(mismatches.slice(0, 20), []);
  const rules = manager.groups().flatMap((g) => g.rules.map((r) => r.spec.name));
  for (const name of rules) assert.ok((compared.get(name) ?? 0) > 0, `rule ${name} never produced a value to compare`);
});
