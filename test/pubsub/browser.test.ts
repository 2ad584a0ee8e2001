/**
 * The browser client (src/pubsub/client) in a real browser: Debian's chromium driven by playwright-core
 * loads a page served by this test's in-process server (the broker on a real SQLite store); the page
 * bundles the client module with esbuild, fetches a channel token from the server and subscribes to a
 * non-public channel over /ws. A message published after the page loaded appears in the page, and the
 * page logs no console error.
 */
import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { build } from 'esbuild';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { silentLogger } from '../../src/core/log.js';
import { openSqlStore, type SqlStore } from '../../src/core/sql/index.js';
import { createHttpServer, type HttpServer } from '../../src/http/index.js';
import { createPubsubService, type PubsubService } from '../../src/pubsub/index.js';
import { freePort, REPO_ROOT, tempDir } from '../testkit/index.js';
import { httpJson } from './helpers.js';

const CHROMIUM = '/usr/bin/chromium';
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];
const CHANNEL = 'room:browser';

/** The page's script: the client module plus a few lines that show what arrives. */
const PAGE_SCRIPT = `
import { createPubsubClient } from './src/pubsub/client/index.ts';
const status = document.getElementById('status');
const list = document.getElementById('messages');
const client = createPubsubClient({
  url: location.origin.replace(/^http/, 'ws') + '/ws',
  getToken: async (channel) => {
    const res = await fetch('/api/v1/channel-tokens', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ channel, ttl: '10m' }) });
    if (!res.ok) throw new Error('token: HTTP ' + res.status);
    return (await res.json()).token;
  },
  onState: (s) => { status.dataset.connection = s; },
});
client.subscribe(${JSON.stringify(CHANNEL)}, {
  onSubscribed: (info) => { status.dataset.subscribed = 'yes'; status.textContent = 'subscribed at offset ' + info.offset; },
  onPublication: (p) => {
    const li = document.createElement('li');
    li.dataset.offset = String(p.offset);
    li.textContent = JSON.stringify(p.data);
    list.appendChild(li);
  },
  onError: (e) => { status.dataset.error = e.code; console.error('subscription error', e.code, e.message); },
});
`;

const PAGE_HTML = (script: string): string =>
  `<!doctype html><html><head><meta charset="utf-8"><title>pubsub client</title><link rel="icon" href="data:,"></head><body>` +
  `<p id="status">connecting</p><ul id="messages"></ul><script type="module">${script.replace(/<\/script/gi, '<\\/script')}</script></body></html>`;

describe('the browser client in chromium', () => {
  let dir: string;
  let sql: SqlStore;
  let http: HttpServer;
  let service: PubsubService;
  let context: BrowserContext | undefined;
  let page: Page;
  const consoleErrors: string[] = [];

  before(async () => {
    dir = await tempDir();
    const bundle = await build({
      stdin: { contents: PAGE_SCRIPT, resolveDir: REPO_ROOT, sourcefile: 'page.ts', loader: 'ts' },
      bundle: true,
      format: 'esm',
      target: 'es2022',
      write: false,
      logLevel: 'silent',
    });
    const html = PAGE_HTML(bundle.outputFiles[0]!.text);
    sql = await openSqlStore(`sqlite:${join(dir, 'db.sqlite')}`);
    service = createPubsubService({ sql, logger: silentLogger(), dataDir: dir, tokenSecret: 'browser-test-secret-'.padEnd(40, 'b') });
    http = createHttpServer({ listen: `127.0.0.1:${await freePort()}`, logger: silentLogger(), processName: 'test', version: 'test' });
    service.registerHttp(http.app);
    http.app.get('/', async (_request, reply) => reply.type('text/html; charset=utf-8').send(html));
    await service.start();
    await http.start();
    context = await chromium.launchPersistentContext(join(dir, 'chromium'), { executablePath: CHROMIUM, args: ARGS, headless: true });
    page = context.pages()[0] ?? (await context.newPage());
    page.on('console', (m) => {
      if (m.type() === 'error') consoleErrors.push(m.text());
    });
    page.on('pageerror', (err) => consoleErrors.push(err.message));
  });

  after(async () => {
    await context?.close();
    await service?.stop();
    await http?.stop();
    await sql?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('subscribes with a channel token and shows a message published after the page loaded', async () => {
    await page.goto(http.url);
    await page.locator('#status[data-subscribed=yes]').waitFor({ timeout: 20_000 });
    assert.equal(await page.locator('#messages li').count(), 0);

    const sent = { text: 'hello from the test', n: 42 };
    const res = await httpJson(http.url, 'POST', '/api/v1/publish', { channel: CHANNEL, data: sent });
    assert.equal(res.status, 202, JSON.stringify(res.body));
    const item = page.locator('#messages li').first();
    await item.waitFor({ timeout: 15_000 });
    assert.deepEqual(JSON.parse((await item.textContent()) ?? ''), sent);
    assert.equal(await item.getAttribute('data-offset'), '1');

    // A second one, scheduled a moment ahead, arrives after the first, in order.
    const later = await httpJson(http.url, 'POST', '/api/v1/publish', { channel: CHANNEL, data: { n: 43 }, delay: 300 });
    assert.equal(later.status, 202, JSON.stringify(later.body));
    await page.locator('#messages li').nth(1).waitFor({ timeout: 15_000 });
    assert.deepEqual(await page.locator('#messages li').allTextContents(), [JSON.stringify(sent), JSON.stringify({ n: 43 })]);
    assert.equal(await page.locator('#status').getAttribute('data-connection'), 'connected');
    assert.deepEqual(consoleErrors, []);
  });
});
