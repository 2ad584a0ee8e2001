/**
 * Workflow notifications on a message channel (`notify.channel`): the notification JSON is published
 * through a real pubsub broker (its own SQLite store) and reaches a subscriber of the channel; bad channel
 * names are spec problems; without a broker the delivery is counted as failed, never thrown.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { silentLogger } from '../../../src/core/log.js';
import { openSqlStore } from '../../../src/core/sql/index.js';
import { parseFlowSpec } from '../../../src/flows/spec/index.js';
import { Broker } from '../../../src/pubsub/index.js';
import { Subscription } from '../../../src/pubsub/hub.js';
import { tempDir } from '../../testkit/index.js';
import { startHarness } from '../flow-harness.js';

const fast = { baseMs: 10, maxMs: 50, retries: 3 };

async function until(what: string, cond: () => boolean): Promise<void> {
  for (let i = 0; i < 500; i++) {
    if (cond()) return;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`timed out waiting for ${what}`);
}

describe('notifications on a message channel', () => {
  it('a failed task and the failed run are published on each notify.channel and reach its subscribers', async (t) => {
    const dir = await tempDir(t);
    const sql = await openSqlStore(`sqlite:${join(dir, 'pubsub.sqlite')}`);
    t.after(() => sql.close());
    const broker = new Broker({ sql, logger: silentLogger(), tokenSecret: 's'.repeat(40) });
    await broker.start();
    t.after(() => broker.stop());
    const got: Record<string, Record<string, unknown>[]> = { 'ops:flows': [], 'public:alerts': [] };
    for (const channel of Object.keys(got)) {
      const sub = new Subscription(
        channel,
        {
          sendPublication: (json) => {
            got[channel]!.push(JSON.parse(json) as Record<string, unknown>);
            return true;
          },
          fail: (err) => assert.fail(err.message),
        },
        false,
      );
      await broker.hub.subscribe(sub);
    }

    const h = await startHarness({ service: { notifyDelivery: fast, notifyPublish: async (channel, payload) => void (await broker.publish({ channel, data: payload })) } });
    t.after(() => h.close());
    await h.submit(`collection:
  key: chan
  notify:
    channel: ["ops:flows", "public:alerts"]
tasks:
  bad: { command: "exit 4" }
workflow: []
`);
    const run = await h.service.createRun('chan');
    assert.equal((await h.waitRun(run!.id)).state, 'failed');
    await until('two notifications on each channel', () => got['ops:flows']!.length === 2 && got['public:alerts']!.length === 2);
    for (const channel of Object.keys(got)) {
      const datas = got[channel]!.map((p) => p.data as Record<string, unknown>);
      assert.deepEqual(datas.map((d) => d.event).sort(), ['run_failed', 'task_failed'], channel);
      const task = datas.find((d) => d.event === 'task_failed')!;
      assert.deepEqual([task.flow, task.run_id, task.task, task.state, task.reason], ['chan', run!.id, 'bad', 'failed', 'exit code 4']);
      assert.deepEqual(got[channel]!.map((p) => p.channel), [channel, channel]);
    }
    assert.equal(h.service.metrics.families().find((f) => f.name === 'flotilla_flow_notifications_total')!.samples[0]!.value, 4);
  });

  it('channel names are checked in the spec: bad characters and the reserved $flotilla. prefix are problems', () => {
    for (const bad of ['has space', '$flotilla.members', '']) {
      const res = parseFlowSpec(`collection: { key: k, notify: { channel: ${JSON.stringify(bad)} } }\ntasks:\n  a: { command: "true" }\nworkflow: []\n`, { readFile: () => undefined });
      assert.ok(res.problems.some((p) => /notify\.channel/.test(p.message)), `${bad}: ${JSON.stringify(res.problems)}`);
    }
    const ok = parseFlowSpec(`collection: { key: k, notify: { channel: "room:ops" } }\ntasks:\n  a: { command: "true" }\nworkflow: []\n`, { readFile: () => undefined });
    assert.deepEqual(ok.spec?.notify.channels, ['room:ops']);
  });

  it('without a message broker a channel target fails (counted and logged) and the run is unaffected', async (t) => {
    const h = await startHarness({ service: { notifyDelivery: fast } });
    t.after(() => h.close());
    await h.submit(`collection: { key: lonely, notify: { channel: "ops:x", on: [run_success] } }
tasks:
  ok: { command: "true" }
workflow: []
`);
    const run = await h.service.createRun('lonely');
    assert.equal((await h.waitRun(run!.id)).state, 'success');
    const failed = (): number => h.service.metrics.families().find((f) => f.name === 'flotilla_flow_notifications_total')!.samples.find((s) => s.labels.result === 'failed')?.value ?? 0;
    await until('the failed delivery counted', () => failed() === 1);
  });
});
