// Serving the built dashboard: files, the index.html fallback for client routes, API paths left to the
// API (404 problem+json), hostile paths refused, and a 503 page naming the fix when the app is not built.
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { silentLogger } from '../../src/core/log.js';
import { createHttpServer } from '../../src/http/index.js';
import { registerWebApp } from '../../src/http/web-app.js';
import { tempDir } from '../testkit/index.js';

async function appWith(t: { after: (fn: () => unknown) => void }, root: string) {
  const http = createHttpServer({ listen: '127.0.0.1:0', logger: silentLogger(), processName: 'test', version: '0' });
  http.app.get('/api/v1/thing', async () => ({ ok: true }));
  registerWebApp(http.app, { root });
  await http.app.ready();
  t.after(() => http.app.close());
  return http.app;
}

describe('web app serving', () => {
  it('serves files, index.html for client routes, and leaves API paths alone', async (t) => {
    const root = await tempDir(t);
    mkdirSync(join(root, 'assets'));
    writeFileSync(join(root, 'index.html'), '<!doctype html><div id="app"></div>');
    writeFileSync(join(root, 'assets', 'app-1234.js'), 'console.log(1)');
    const app = await appWith(t, root);
    for (const url of ['/', '/cluster', '/monitoring', '/deep/client/route?x=1']) {
      const res = await app.inject({ url });
      assert.equal(res.statusCode, 200, url);
      assert.match(res.headers['content-type'] as string, /text\/html/);
      assert.match(res.body, /id="app"/);
    }
    const js = await app.inject({ url: '/assets/app-1234.js' });
    assert.equal(js.statusCode, 200);
    assert.match(js.headers['cache-control'] as string, /immutable/);
    assert.equal((await app.inject({ url: '/api/v1/thing' })).json<{ ok: boolean }>().ok, true);
    for (const url of ['/api/v1/nothing', '/assets/missing.js', '/healthz/x']) {
      const res = await app.inject({ url });
      assert.equal(res.statusCode, 404, url);
      assert.match(res.headers['content-type'] as string, /problem\+json/, url);
    }
    for (const url of ['/assets/..%2f..%2fetc%2fpasswd', '/%2e%2e/%2e%2e/etc/passwd', '/assets/%E0%A4%A.js']) {
      const res = await app.inject({ url });
      // Refused, or (no file name in the path) answered with the app itself: never a file outside root.
      assert.ok(res.statusCode < 500 && (res.statusCode >= 400 || /id="app"/.test(res.body)), `${url}: ${res.statusCode}`);
      assert.doesNotMatch(res.body, /root:/);
    }
  });

  it('answers 503 with the command that builds the app when dist/web is missing', async (t) => {
    const app = await appWith(t, join(await tempDir(t), 'no-such-dir'));
    const res = await app.inject({ url: '/cluster' });
    assert.equal(res.statusCode, 503);
    assert.match(res.body, /npm run build/);
    assert.equal((await app.inject({ url: '/api/v1/thing' })).statusCode, 200);
    assert.equal((await app.inject({ url: '/api/v1/nothing' })).statusCode, 404);
  });
});
