// Queues that grow with what the network sends are bounded, with the stated behaviour when full
// (docs/security.md, "Bounded queues"): publish requests waiting for their store transaction are refused
// beyond the bound; workflow notifications beyond the deliveries in flight are dropped and counted.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { Code, FlotillaError } from '../../src/core/errors.js';
import { silentLogger } from '../../src/core/log.js';
import { openSqlStore } from '../../src/core/sql/index.js';
import { FlowNotifier } from '../../src/flows/index.js';
import { Broker } from '../../src/pubsub/index.js';
import { tempDir } from '../testkit/index.js';

test('publish requests beyond maxPendingPublishes waiting for the store are refused with RESOURCE_EXHAUSTED', async (t) => {
  const dir = await tempDir(t);
  const sql = await openSqlStore(`sqlite:${join(dir, 'pubsub.sqlite')}`);
  t.after(() => sql.close());
  const broker = new Broker({ sql, logger: silentLogger(), tokenSecret: 's'.repeat(40), maxPendingPublishes: 2 });
  await broker.start();
  t.after(() => broker.stop());
  // All five arrive in one turn of the event loop, before the group's store transaction starts.
  const results = await Promise.allSettled(Array.from({ length: 5 }, (_, i) => broker.publish({ channel: 'public:q', data: { i } })));
  assert.deepEqual(
    results.map((r) => r.status),
    ['fulfilled', 'fulfilled', 'rejected', 'rejected', 'rejected'],
  );
  const refused = FlotillaError.from((results[2] as PromiseRejectedResult).reason);
  assert.equal(refused.code, Code.RESOURCE_EXHAUSTED);
  assert.equal(refused.httpStatus, 429);
  // Once the group is stored there is room again.
  await broker.publish({ channel: 'public:q', data: { again: true } });
});

test('notifications beyond maxInFlight deliveries are dropped and counted, not queued', async () => {
  const never = new Promise<undefined>(() => undefined);
  const notifier = new FlowNotifier({ logger: silentLogger(), specOf: () => never, maxInFlight: 2 });
  for (let i = 0; i < 5; i++) notifier.onRun({ flow: 'f', runId: `r${i}`, state: 'failed', reason: 'x', timeMs: 0 });
  assert.equal(notifier.droppedTotal, 3);
});
