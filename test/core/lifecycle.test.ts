import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Lifecycle } from '../../src/core/lifecycle.js';
import { silentLogger } from '../../src/core/log.js';

function recorder(log: string[], name: string, failStart = false) {
  return {
    name,
    async start() {
      if (failStart) throw new Error(`${name} cannot start`);
      log.push(`start ${name}`);
    },
    async stop() {
      log.push(`stop ${name}`);
    },
  };
}

describe('lifecycle', () => {
  it('starts in order and stops in reverse order, once', async () => {
    const log: string[] = [];
    const lc = new Lifecycle({ logger: silentLogger() });
    lc.add(recorder(log, 'a'));
    lc.add(recorder(log, 'b'));
    await lc.start();
    await Promise.all([lc.stop(), lc.stop()]);
    await lc.whenStopped();
    assert.deepEqual(log, ['start a', 'start b', 'stop b', 'stop a']);
  });

  it('stops what started when a later component fails to start', async () => {
    const log: string[] = [];
    const lc = new Lifecycle({ logger: silentLogger() });
    lc.add(recorder(log, 'a'));
    lc.add(recorder(log, 'b', true));
    lc.add(recorder(log, 'c'));
    await assert.rejects(lc.start(), /b cannot start/);
    assert.deepEqual(log, ['start a', 'stop a']);
  });

  it('keeps stopping the others when one fails to stop', async () => {
    const log: string[] = [];
    const lc = new Lifecycle({ logger: silentLogger() });
    lc.add(recorder(log, 'a'));
    lc.add({ name: 'bad', start: async () => undefined, stop: async () => Promise.reject(new Error('stuck')) });
    await lc.start();
    await lc.stop();
    assert.deepEqual(log, ['start a', 'stop a']);
  });
});
