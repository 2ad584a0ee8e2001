import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { etcdctl, startEmbeddedCoord } from '../testkit/index.js';

describe('automatic compaction of the embedded store', () => {
  it('drops history older than the retention, like etcd --auto-compaction-mode=periodic', async (t) => {
    const coord = await startEmbeddedCoord({ t, extraArgs: ['--auto-compaction-retention', '2s'] });
    const first = await etcdctl(coord.endpoint, ['put', '/ac/k', 'v1', '-w', 'json']);
    const firstRev = (JSON.parse(first.stdout) as { header: { revision: number } }).header.revision;
    await etcdctl(coord.endpoint, ['put', '/ac/k', 'v2']);
    // The old revision is readable until the retention has passed...
    assert.equal((await etcdctl(coord.endpoint, ['get', '/ac/k', `--rev=${firstRev}`, '--print-value-only'])).stdout.trim(), 'v1');
    // ...and compacted after it (samples every 1 s; compaction within retention + 2 samples).
    let compacted = false;
    for (let i = 0; i < 80 && !compacted; i++) {
      await etcdctl(coord.endpoint, ['put', '/ac/tick', String(i)]);
      const r = await etcdctl(coord.endpoint, ['get', '/ac/k', `--rev=${firstRev}`]);
      compacted = /required revision has been compacted/.test(r.stderr);
      if (!compacted) await new Promise((res) => setTimeout(res, 100));
    }
    assert.ok(compacted, 'history older than the retention was compacted');
    assert.equal((await etcdctl(coord.endpoint, ['get', '/ac/k', '--print-value-only'])).stdout.trim(), 'v2', 'the newest value stays');
    assert.match(coord.output(), /auto-compacted history/);
  });
});
