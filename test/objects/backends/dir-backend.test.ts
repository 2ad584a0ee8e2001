import assert from 'node:assert/strict';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { test } from 'node:test';
import { createDirBackend } from '../../../src/objects/backends/index.js';
import { tempDir } from '../../testkit/index.js';
import { runBackendSuite } from './backend-suite.js';

runBackendSuite({
  async newBackend(t) {
    const dir = await tempDir(t);
    const b = createDirBackend({ path: join(dir, 'backend') });
    await b.start();
    t.after(() => b.stop());
    return b;
  },
});

test('dir backend: a failed put leaves no temporary file and nothing beside the backend directory', async (t) => {
  const dir = await tempDir(t);
  const b = createDirBackend({ path: join(dir, 'backend') });
  await b.start();
  t.after(() => b.stop());
  const failing = new Readable({ read() {} });
  failing.push(Buffer.alloc(1000));
  setImmediate(() => failing.destroy(new Error('cut')));
  await assert.rejects(b.put('a/b', failing, { finish: () => '' }));
  assert.deepEqual(await readdir(join(dir, 'backend', 'tmp')), []);
  assert.deepEqual(await readdir(dir), ['backend']);
});
