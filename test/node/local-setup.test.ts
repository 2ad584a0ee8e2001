/** OBJ-8 local_setup: the first node runs its own embedded coordination store; the next joins through it. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { freePort } from '../testkit/index.js';
import { allSee, peerClients, runFlotilla, startNode, suiteOwner } from '../testkit/cluster.js';

describe('local_setup', () => {
  const owner = suiteOwner();

  it('a node without --join starts its own store; another joins through it; both see both', async () => {
    const coordPort = await freePort();
    const a = await startNode(owner, 'node-a', ['--coord-listen', `127.0.0.1:${coordPort}`]);
    // Ready means registered; the banner follows once every component has started.
    await a.waitForOutput((o) => /local_setup \(own coordination store at 127\.0\.0\.1:\d+\)/.test(o));
    const b = await startNode(owner, 'node-b', ['--join', a.peer]);
    await b.waitForOutput((o) => new RegExp(`coordination\\s+127\\.0\\.0\\.1:${coordPort}`).test(o));
    await allSee(peerClients(owner), [a.peer, b.peer], { 'node-a': 'ACTIVE', 'node-b': 'ACTIVE' }, 5000);
    const r = await runFlotilla(['status', '--server', a.peer]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^node-b\s/m);
  });
});
