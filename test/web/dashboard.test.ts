// The dashboard end to end in Debian's chromium (playwright-core): a server, three nodes and an agent
// started here; every page loads without a console error at 1280x800 and 390x844 (screenshots under
// test-output/web/); the cluster page shows three ACTIVE nodes and, after kill -9 of one, shows it
// DISCONNECTED without a reload; the command form changes the agent's interval and shows the ack; the
// live chart gains points as samples arrive.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Page } from 'playwright-core';
import { startNode, startServer, suiteOwner, type NodeHandle, type ServerHandle } from '../testkit/cluster.js';
import { startFlotilla } from '../testkit/index.js';
import { openBrowser, SHOTS, SIZES } from './browser.js';
const PAGES = [
  { name: 'overview', path: '/', ready: '[data-testid=count-active]' },
  { name: 'cluster', path: '/cluster', ready: '[data-testid=members]' },
  { name: 'metrics', path: '/monitoring', ready: '[data-testid=agents]' },
] as const;

describe('dashboard in a browser', () => {
  const owner = suiteOwner();
  let server: ServerHandle;
  let nodes: NodeHandle[];
  let base: string;
  let page: Page;
  let consoleErrors: string[];

  before(async () => {
    server = await startServer(owner);
    base = `http://127.0.0.1:${server.port('http')}`;
    nodes = await Promise.all(['node-a', 'node-b', 'node-c'].map((n, i) => startNode(owner, n, ['--join', server.grpc, '--zone', `zone-${i + 1}`])));
    await startFlotilla(['agent', '--hostname', 'agent-1', '--server', server.grpc, '--etcd', server.coordEndpoint], {
      name: 'flotilla agent agent-1',
      t: owner,
      env: { FLOTILLA_LOG_PRETTY: '0' },
      // Ready once the server holds its stream.
      ready: async () => {
        const res = await fetch(`${base}/api/v1/agents/agent-1`).catch(() => undefined);
        return res?.ok === true && ((await res.json()) as { connected: boolean }).connected;
      },
    });
    ({ page, consoleErrors } = await openBrowser(owner));
  });

  it('serves the app for client routes and keeps API errors as problem+json', async () => {
    for (const path of ['/', '/cluster', '/monitoring', '/no/such/page']) {
      const res = await fetch(base + path);
      assert.equal(res.status, 200, path);
      assert.match(await res.text(), /<div id="app">/);
    }
    const api = await fetch(`${base}/api/v1/no-such-route`);
    assert.equal(api.status, 404);
    assert.match(api.headers.get('content-type') ?? '', /problem\+json/);
    await api.body?.cancel();
    const members = (await (await fetch(`${base}/api/v1/members`)).json()) as { observer: string; members: unknown[] };
    assert.equal(members.observer, 'server');
  });

  it('every page loads without a console error at both sizes (screenshots saved)', async () => {
    // Wait for the cluster to settle so the screenshots show it whole.
    await page.goto(`${base}/cluster`);
    await page.locator('tr[data-node] [data-testid=status]:text-is("ACTIVE")').nth(2).waitFor({ timeout: 20_000 });
    for (const [size, viewport] of Object.entries(SIZES)) {
      await page.setViewportSize(viewport);
      for (const p of PAGES) {
        await page.goto(base + p.path);
        await page.locator(p.ready).first().waitFor({ timeout: 15_000 });
        await page.screenshot({ path: join(SHOTS, `${p.name}-${size}.png`), fullPage: true });
      }
    }
    await page.setViewportSize(SIZES.desktop);
    assert.deepEqual(consoleErrors, []);
  });

  it('the cluster page shows three ACTIVE nodes, then a killed node DISCONNECTED without a reload', async () => {
    await page.goto(`${base}/cluster`);
    for (const n of ['node-a', 'node-b', 'node-c']) {
      await page.locator(`tr[data-node="${n}"] [data-testid=status]:text-is("ACTIVE")`).waitFor({ timeout: 20_000 });
    }
    await page.evaluate('window.__sameDocument = true');
    await nodes[2]!.kill();
    await page.locator('tr[data-node="node-c"] [data-testid=status]:text-is("DISCONNECTED")').waitFor({ timeout: 30_000 });
    assert.equal(await page.evaluate('window.__sameDocument === true'), true, 'the page was reloaded');
    assert.equal(await page.locator('tr[data-node] [data-testid=status]:text-is("ACTIVE")').count(), 2);
    await page.screenshot({ path: join(SHOTS, 'cluster-node-killed-desktop.png'), fullPage: true });
    assert.deepEqual(consoleErrors, []);
  });

  it('the command form sets the agent interval and shows the ack; the chart gains points', async () => {
    await page.goto(`${base}/monitoring`);
    await page.locator('tr[data-host="agent-1"]').waitFor({ timeout: 15_000 });
    const form = page.locator('[data-testid=command-form]');
    await form.locator('select[name=host]').selectOption('agent-1');
    await form.locator('select[name=action]').selectOption('set_interval');
    await form.locator('input[name=interval]').fill('1');
    await form.locator('button[type=submit]').click();
    await form.locator('[data-testid=ack]:has-text("ack ok")').waitFor({ timeout: 15_000 });
    await page.locator('tr[data-host="agent-1"] [data-testid=interval]:text-is("1s")').waitFor({ timeout: 15_000 });

    const chart = page.locator('[data-testid=chart]');
    await chart.waitFor({ timeout: 15_000 });
    // Pin the series shown (it follows a default until one is chosen).
    const seriesSelect = page.locator('select[name=chart-series]');
    await seriesSelect.selectOption(await seriesSelect.inputValue());
    const points = async (): Promise<number> => Number((await chart.getAttribute('data-points')) ?? 0);
    const first = await points();
    let now = first;
    for (let i = 0; i < 100 && now < first + 3; i++) {
      await sleep(200);
      now = await points();
    }
    assert.ok(now >= first + 3, `the chart went from ${first} to ${now} points`);
    await page.screenshot({ path: join(SHOTS, 'metrics-after-command-desktop.png'), fullPage: true });
    assert.deepEqual(consoleErrors, []);
  });
});
