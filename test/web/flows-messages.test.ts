// The Workflows, Messages and Metrics pages in Debian's chromium (playwright-core) against a server and an
// agent started here: each page loads without a console error at 1280x800 and 390x844 (screenshots under
// test-output/web/, and in dark mode); a run triggered from the Workflows page shows its tasks go
// queued -> running -> success live, and a run cancelled from the page ends; a message published from
// the Messages page arrives in its live subscriber panel, and a scheduled one is listed and cancelled;
// changing the agent's interval in the Metrics page's config editor changes the spacing of its samples
// as stored (read back through /api/v1/query_range). Also the DAG layout on its own.
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Page } from 'playwright-core';
import { startServer, suiteOwner, type ServerHandle } from '../testkit/cluster.js';
import { startFlotilla } from '../testkit/index.js';
import { layoutDag } from '../../src/web/src/components/flow-layout.js';
import { openBrowser, SIZES, type BrowserSession } from './browser.js';
const PAGES = [
  { name: 'flows', path: '/flows', ready: '[data-testid=flow-dag]' },
  { name: 'messages', path: '/messages', ready: '[data-testid=publish-form]' },
  { name: 'metrics-config', path: '/monitoring', ready: '[data-testid=config-json]' },
] as const;
const FLOW = `collection: { key: web-demo }
tasks:
  prepare: { command: "echo preparing; sleep 1; echo prepared" }
  left: { command: "sleep 1; echo left" }
  right: { command: "echo right" }
  join: { command: "echo joined" }
workflow:
  - prepare -> left -> join
  - prepare -> right -> join
`;

const SLOW_FLOW = `collection: { key: web-slow }
tasks:
  wait: { command: "sleep 60" }
  after: { command: "echo after" }
workflow:
  - wait -> after
`;

async function api<T>(base: string, method: string, path: string, body?: unknown): Promise<T> {
  const res = await fetch(base + path, { method, ...(body !== undefined ? { headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) } : {}) });
  const text = await res.text();
  assert.ok(res.ok, `${method} ${path}: ${res.status} ${text}`);
  return JSON.parse(text) as T;
}

/**
 * The number of stored samples of `selector` in the whole seconds from `fromMs` to `toMs`, through
 * query_range: count_over_time over 1 s windows, one per 1 s step, so each sample is counted once.
 */
async function sampleCount(base: string, selector: string, fromMs: number, toMs: number): Promise<{ count: number; spanMs: number }> {
  const start = Math.ceil(fromMs / 1000) + 1;
  const end = Math.floor(toMs / 1000);
  if (end <= start) return { count: 0, spanMs: 0 };
  const q = new URLSearchParams({ query: `count_over_time(${selector}[1s])`, start: String(start), end: String(end), step: '1' });
  const r = await api<{ data: { result: { values: [number, string][] }[] } }>(base, 'GET', `/api/v1/query_range?${q.toString()}`);
  const count = (r.data.result[0]?.values ?? []).reduce((sum, v) => sum + Number(v[1]), 0);
  return { count, spanMs: (end - start + 1) * 1000 };
}

describe("the Workflows page's DAG layout", () => {
  it('puts each task one layer after its furthest upstream, orders layers to avoid crossings, and turns', () => {
    const edges = [['a', 'b'], ['a', 'c'], ['b', 'd'], ['c', 'd'], ['a', 'd'], ['x', 'c'], ['d', 'ghost']] as const;
    const tasks = ['d', 'c', 'b', 'a', 'x'];
    const h = layoutDag(tasks, edges);
    const layer = (t: string): number => h.positions.get(t)!.layer;
    assert.deepEqual(tasks.map(layer), [2, 1, 1, 0, 0]);
    for (const [a, b] of edges) if (b !== 'ghost') assert.ok(h.positions.get(a)!.x < h.positions.get(b)!.x, `${a} left of ${b}`);
    // x feeds only c, a feeds b and c: ordering puts b and c in the same order as a and x (no crossing).
    const y = (t: string): number => h.positions.get(t)!.y;
    assert.equal(y('a') < y('x'), y('b') < y('c'));
    const v = layoutDag(tasks, edges, true);
    for (const [a, b] of edges) if (b !== 'ghost') assert.ok(v.positions.get(a)!.y < v.positions.get(b)!.y, `${a} above ${b}`);
    assert.ok(v.width < h.width && v.height > h.height, 'the vertical layout is narrower and taller');
    // Every node inside the drawing, none overlapping.
    const boxes = [...h.positions.values()];
    for (const p of boxes) assert.ok(p.x >= 0 && p.y >= 0 && p.x + 150 <= h.width && p.y + 40 <= h.height);
    for (let i = 0; i < boxes.length; i++) for (let j = i + 1; j < boxes.length; j++) assert.ok(Math.abs(boxes[i]!.x - boxes[j]!.x) >= 150 || Math.abs(boxes[i]!.y - boxes[j]!.y) >= 40);
  });
});

describe('workflows, messages and metrics pages in a browser', () => {
  const owner = suiteOwner();
  let server: ServerHandle;
  let base: string;
  let browser: BrowserSession;
  let page: Page;
  let consoleErrors: string[];
  let agentStartMs: number;

  before(async () => {
    server = await startServer(owner);
    base = `http://127.0.0.1:${server.port('http')}`;
    agentStartMs = Date.now();
    await startFlotilla(['agent', '--hostname', 'agent-w', '--server', server.grpc, '--etcd', server.coordEndpoint], {
      name: 'flotilla agent agent-w',
      t: owner,
      env: { FLOTILLA_LOG_PRETTY: '0' },
      ready: async () => {
        const res = await fetch(`${base}/api/v1/agents/agent-w`).catch(() => undefined);
        return res?.ok === true && ((await res.json()) as { connected: boolean }).connected;
      },
    });
    await api(base, 'POST', '/api/v1/flows', { fileName: 'web-demo.yaml', yaml: FLOW, files: {} });
    await api(base, 'POST', '/api/v1/flows', { fileName: 'web-slow.yaml', yaml: SLOW_FLOW, files: {} });
    browser = await openBrowser(owner);
    ({ page, consoleErrors } = browser);
  });

  it('every page loads without a console error at both sizes (screenshots saved)', async () => {
    for (const [size, viewport] of Object.entries(SIZES)) {
      await page.setViewportSize(viewport);
      for (const p of PAGES) {
        await page.goto(base + p.path);
        await page.locator(p.ready).first().waitFor({ timeout: 15_000 });
        await browser.shot(`${p.name}-${size}`);
      }
    }
    await page.setViewportSize(SIZES.desktop);
    // Dark mode too, for a person to look at.
    await page.emulateMedia({ colorScheme: 'dark' });
    for (const p of PAGES) {
      await page.goto(base + p.path);
      await page.locator(p.ready).first().waitFor({ timeout: 15_000 });
      await browser.shot(`${p.name}-dark-desktop`);
    }
    await page.emulateMedia({ colorScheme: 'light' });
    assert.deepEqual(consoleErrors, []);
  });

  it('a run triggered from the Workflows page shows its tasks go queued, running, success live; cancel ends a run', async () => {
    await page.goto(`${base}/flows?flow=web-demo`);
    const dag = page.locator('[data-testid=flow-dag]');
    await dag.locator('[data-task=join]').waitFor({ timeout: 15_000 });
    // The event feed is open (the server follows the flow's changes for this page) before the run starts.
    await page.locator('[data-testid=flow-detail][data-stream=open]').waitFor({ timeout: 15_000 });
    await page.evaluate('window.__sameDocument = true');
    await page.locator('[data-testid=flow-trigger]').click();
    await page.locator('[data-testid=run-state]:text-is("success")').waitFor({ timeout: 30_000 });
    for (const task of ['prepare', 'left', 'right', 'join']) {
      const node = dag.locator(`[data-task=${task}]`);
      await page.locator(`[data-testid=flow-dag] [data-task=${task}][data-state=success]`).waitFor({ timeout: 10_000 });
      const history = ((await node.getAttribute('data-history')) ?? '').split(' ');
      const order = ['queued', 'running', 'success'].map((s) => history.indexOf(s));
      assert.ok(order.every((i, k) => i >= 0 && (k === 0 || i > order[k - 1]!)), `${task} went through ${history.join(' -> ')}`);
    }
    assert.equal(await page.evaluate('window.__sameDocument === true'), true, 'the page was reloaded');
    // A task's attempts and log.
    await dag.locator('[data-task=prepare]').click();
    await page.locator('[data-testid=flow-attempts] tbody tr').first().waitFor({ timeout: 10_000 });
    await page.locator('[data-testid=flow-log]:has-text("prepared")').waitFor({ timeout: 10_000 });
    // Pause and resume reach the server.
    await page.locator('[data-testid=flow-pause]:text-is("Pause")').click();
    await page.locator('[data-testid=flow-pause]:text-is("Resume")').waitFor({ timeout: 10_000 });
    assert.equal((await api<{ flow: { paused: number } }>(base, 'GET', '/api/v1/flows/web-demo')).flow.paused, 1);
    await page.locator('[data-testid=flow-pause]').click();
    await page.locator('[data-testid=flow-pause]:text-is("Pause")').waitFor({ timeout: 10_000 });
    await browser.shot('flows-after-run-desktop');
    // Cancel from the page ends a running run.
    await page.goto(`${base}/flows?flow=web-slow`);
    await page.locator('[data-testid=flow-detail][data-stream=open]').waitFor({ timeout: 15_000 });
    await page.locator('[data-testid=flow-trigger]').click();
    await page.locator('[data-testid=flow-dag] [data-task=wait][data-state=running]').waitFor({ timeout: 15_000 });
    await page.locator('[data-testid=run-cancel]:not([disabled])').click();
    await page.locator('[data-testid=run-state]:text-is("cancelled")').waitFor({ timeout: 15_000 });
    await page.locator('[data-testid=flow-dag] [data-task=wait][data-state=shutdown]').waitFor({ timeout: 15_000 });
    assert.deepEqual(consoleErrors, []);
  });

  it('a message published from the Messages page arrives in the live subscriber panel; a scheduled one is cancelled', async () => {
    await page.goto(`${base}/messages`);
    // A channel that needs a token: the panel asks /api/v1/channel-tokens for one.
    const sub = page.locator('[data-testid=msg-subscriber]');
    await sub.locator('input[name=sub-channel]').fill('orders.web');
    await sub.locator('button[type=submit]').click();
    await sub.locator('[data-testid=sub-state]:text-is("connected")').waitFor({ timeout: 15_000 });
    await sub.locator('[role=status]:has-text("subscribed at offset")').waitFor({ timeout: 15_000 });

    const form = page.locator('[data-testid=publish-form]');
    await form.locator('input[name=channel]').fill('orders.web');
    await form.locator('textarea[name=data]').fill('{"order": 42, "from": "web-test"}');
    await form.locator('button[type=submit]').click();
    await form.locator('[data-testid=publish-result]:has-text("accepted")').waitFor({ timeout: 10_000 });
    await sub.locator('[data-testid=sub-messages] li:has-text("web-test")').waitFor({ timeout: 15_000 });

    await form.locator('select[name=when]').selectOption('in');
    await form.locator('input[name=delay]').fill('1h');
    await form.locator('textarea[name=data]').fill('"later"');
    await form.locator('button[type=submit]').click();
    const row = page.locator('[data-testid=scheduled] tr:has-text("later")');
    await row.waitFor({ timeout: 10_000 });
    await page.locator('[data-testid=channels] tr[data-channel="orders.web"]').waitFor({ timeout: 10_000 });
    await browser.shot('messages-after-publish-desktop');
    const id = await row.getAttribute('data-id');
    await row.locator('[data-testid=msg-cancel]').click();
    await row.waitFor({ state: 'detached', timeout: 10_000 });
    assert.equal((await api<{ state: string }>(base, 'GET', `/api/v1/messages/${id}`)).state, 'cancelled');
    assert.deepEqual(consoleErrors, []);
  });

  it("changing the agent's interval in the config editor changes the spacing of its stored samples", async () => {
    const selector = 'node_load1{host="agent-w"}';
    // At the default interval (5 s) first: at least three samples stored.
    const countSince = (fromMs: number) => sampleCount(base, selector, fromMs, Date.now());
    for (let i = 0; i < 60 && (await countSince(agentStartMs)).count < 3; i++) await sleep(500);
    const before = await countSince(agentStartMs);
    assert.ok(before.count >= 3, `samples at the default interval: ${before.count}`);

    await page.goto(`${base}/monitoring`);
    const form = page.locator('[data-testid=config-form]');
    await form.locator('[data-testid=config-json]').waitFor({ timeout: 15_000 });
    await form.locator('select[name=config-host]').selectOption('agent-w');
    await form.locator('input[name=config-interval]').fill('1');
    await form.locator('button[type=submit]').click();
    await form.locator('[data-testid=config-result]:has-text("saved")').waitFor({ timeout: 10_000 });
    await page.locator('tr[data-host="agent-w"] [data-testid=interval]:text-is("1s")').waitFor({ timeout: 15_000 });
    const appliedMs = Date.now();
    for (let i = 0; i < 60 && (await countSince(appliedMs)).count < 6; i++) await sleep(500);
    const after = await countSince(appliedMs);
    assert.ok(after.count >= 6, `samples at the new interval: ${after.count}`);
    const [was, now] = [before.spanMs / before.count, after.spanMs / after.count];
    assert.ok(was > 2 * now, `mean spacing ${Math.round(was)} ms before, ${Math.round(now)} ms after`);

    // The history view reads the same store.
    await page.locator('[data-testid=ranges] [data-range="5m"]').click();
    await page.locator('[data-testid=range-note]:has-text("points")').waitFor({ timeout: 15_000 });
    await browser.shot('metrics-history-desktop');
    // A config the agent would refuse is refused by the server too.
    const bad = await fetch(`${base}/api/v1/agents/agent-w/config`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ interval: 0, metrics: [] }) });
    assert.equal(bad.status, 400);
    assert.match(((await bad.json()) as { detail: string }).detail, /interval/);
    const none = await fetch(`${base}/api/v1/agents/no-such-host/config`);
    assert.equal(none.status, 404);
    await none.body?.cancel();
    assert.deepEqual(consoleErrors, []);
  });
});
