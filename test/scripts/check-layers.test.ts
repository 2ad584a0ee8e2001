import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { describe, it } from 'node:test';
import { tempDir } from '../testkit/index.js';

const script = join(import.meta.dirname, '..', '..', 'scripts', 'check-layers.mjs');

async function tree(t: { after(fn: () => unknown): void }, files: Record<string, string>): Promise<string> {
  const root = await tempDir(t);
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(dirname(join(root, path)), { recursive: true });
    writeFileSync(join(root, path), text);
  }
  return root;
}

function check(root: string) {
  const r = spawnSync(process.execPath, [script, root], { encoding: 'utf8' });
  return { code: r.status, stderr: r.stderr };
}

describe('the layering check', () => {
  it('accepts imports that go down the layers and through a capability door', async (t) => {
    const root = await tree(t, {
      'src/core/errors.ts': 'export const x = 1;\n',
      'src/coord/coord.ts': "import { x } from '../core/errors.js';\nexport const y = x;\n",
      'src/kv/index.ts': "export * from './engine/engine.js';\n",
      'src/kv/engine/engine.ts': "import { y } from '../../coord/coord.js';\nexport const z = y;\n",
      'src/monitor/server/view.ts': "import { z } from '../../kv/index.js';\nimport { x } from '../../core/errors.js';\nexport const v = z + x;\n",
      'src/monitor/index.ts': "export * from './server/view.js';\n",
      'src/server/server.ts': "import { v } from '../monitor/index.js';\nimport type { Msg } from '../gen/flotilla/v1/m_pb.js';\nexport const s = v;\n",
      'src/cli/main.ts': "import { s } from '../server/server.js';\nexport { s };\n",
    });
    assert.deepEqual(check(root), { code: 0, stderr: '' });
  });

  const bad: { name: string; files: Record<string, string>; message: RegExp }[] = [
    { name: 'core importing coord', files: { 'src/core/a.ts': "import { y } from '../coord/coord.js';\n", 'src/coord/coord.ts': '' }, message: /src\/core must not import from src\/coord/ },
    {
      name: 'a capability reaching into another',
      files: { 'src/kv/a.ts': "import { v } from '../monitor/server/view.js';\n", 'src/monitor/server/view.ts': '' },
      message: /use src\/monitor only through src\/monitor\/index.ts/,
    },
    {
      name: 'a capability importing a composition root',
      files: { 'src/kv/engine/a.ts': "export { s } from '../../server/server.js';\n", 'src/server/server.ts': '' },
      message: /src\/kv must not import from src\/server/,
    },
    { name: 'node importing server', files: { 'src/node/a.ts': "import '../server/server.js';\n", 'src/server/server.ts': '' }, message: /src\/node must not import from src\/server/ },
    {
      name: 'the CLI reaching into a capability',
      files: { 'src/cli/a.ts': "const m = await import('../monitor/agent/index.js');\n", 'src/monitor/agent/index.ts': '' },
      message: /use src\/monitor only through src\/monitor\/index.ts/,
    },
  ];
  for (const b of bad) {
    it(`rejects ${b.name}`, async (t) => {
      const r = check(await tree(t, b.files));
      assert.equal(r.code, 1);
      assert.match(r.stderr, b.message);
    });
  }
});
