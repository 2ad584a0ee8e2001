// The Key-value and Objects pages and the cluster page's ring actions in Debian's chromium
// (playwright-core), against a server and three kv+objects nodes started here:
// - with no node, the server's data proxy answers 503 problem+json;
// - the cluster page builds the rings (confirm dialog, result shown) and the nodes take them;
// - the KV and Objects pages load without a console error at 1280x800 and 390x844, light and dark
//   (screenshots under test-output/web/);
// - a key put from the KV page is on its replicas (read from a node directly), shows its replicas and
//   versions, is listed by prefix, and is gone after delete;
// - a file uploaded on the Objects page (file picker, and drag and drop) downloads with the same bytes,
//   and its three replicas show valid;
// - a ring rebalance from the cluster page shows its result; a drain that a ring cannot afford is refused
//   whole (no ring changes);
// - with a node killed, the proxy still answers through the others.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Locator } from 'playwright-core';
import { eventually, startNode, startServer, suiteOwner, type NodeHandle, type ServerHandle } from '../testkit/cluster.js';
import { openBrowser, SIZES, type BrowserSession } from './browser.js';

const NODES = ['node-a', 'node-b', 'node-c'];
const UPLOAD_BYTES = 1536 * 1024 + 123;
const PAGES = [
  { name: 'kv', path: '/kv', ready: '[data-testid=kv-form]' },
  { name: 'objects', path: '/objects', ready: '[data-testid=bucket-form]' },
  { name: 'cluster-rings', path: '/cluster', ready: '[data-testid=ring-table]' },
] as const;

/** Clicks the panel's Refresh until it shows `count` elements matching `selector` (at most 40 times, 0.5 s apart). */
async function untilShown(panel: Locator, selector: string, count: number): Promise<void> {
  let seen = 0;
  for (let i = 0; i < 40; i++) {
    seen = await panel.locator(selector).count();
    if (seen === count) return;
    await panel.locator('[data-testid=replicas-refresh]').click();
    await sleep(500);
  }
  assert.fail(`the panel shows ${seen} of ${count} ${selector}: ${await panel.innerText()}`);
}

async function json<T>(url: string, init?: RequestInit): Promise<{ status: number; body: T; type: string }> {
  const res = await fetch(url, init);
  const text = await res.text();
  return { status: res.status, body: (text === '' ? undefined : JSON.parse(text)) as T, type: res.headers.get('content-type') ?? '' };
}

describe('key-value and objects pages, ring actions, in a browser', () => {
  const owner = suiteOwner();
  let server: ServerHandle;
  let nodes: NodeHandle[] = [];
  let base: string;
  let b: BrowserSession;
  const nodeUrl = (i: number): string => `http://127.0.0.1:${nodes[i]!.port('http')}`;
  /** Console errors other than the HTTP error answers a step provoked on purpose (`expected`). */
  const unexpectedErrors = (expected?: RegExp): string[] => b.consoleErrors.filter((e) => expected === undefined || !expected.test(e));

  before(async () => {
    server = await startServer(owner);
    base = `http://127.0.0.1:${server.port('http')}`;
    b = await openBrowser(owner);
  });

  it('with no node up, the data APIs answer 503 problem+json', async () => {
    for (const path of ['/api/v1/kv/scan?prefix=', '/api/v1/objects/buckets']) {
      const r = await json<{ code: string; detail: string; details: { reason: string } }>(base + path);
      assert.equal(r.status, 503, path);
      assert.match(r.type, /problem\+json/);
      assert.equal(r.body.code, 'UNAVAILABLE');
      assert.equal(r.body.details.reason, 'no_live_node');
      assert.match(r.body.detail, /no live node with the (kv|objects) role/);
    }
    // An upload with nowhere to go is refused the same way (its body is not needed for that).
    const put = await fetch(`${base}/api/v1/objects/buckets/b1/objects/x`, { method: 'PUT', body: 'abc' });
    assert.equal(put.status, 503);
    await put.body?.cancel();
  });

  it('the cluster page builds the rings and shows what it built', async () => {
    nodes = await Promise.all(NODES.map((n, i) => startNode(owner, n, ['--join', server.grpc, '--zone', `zone-${i + 1}`, '--roles', 'kv,objects', '--xfer', 'off'])));
    const { page } = b;
    await page.goto(`${base}/cluster`);
    for (const n of NODES) await page.locator(`tr[data-node="${n}"] [data-testid=status]:text-is("ACTIVE")`).waitFor({ timeout: 20_000 });
    await page.locator('[data-testid=rings]').getByText('No ring yet').waitFor({ timeout: 10_000 });
    await page.locator('[data-testid=ring-build]').click();
    await page.locator('[data-testid=confirm]').waitFor();
    await b.shot('cluster-rings-confirm-desktop');
    await page.locator('[data-testid=confirm-ok]').click();
    const result = page.locator('[data-testid=ring-result]');
    await result.getByText('built kv: version 1').waitFor({ timeout: 15_000 });
    await result.getByText('built objects-replicated-3: version 1').waitFor();
    await page.locator('tr[data-ring="kv"] [data-testid=ring-version]:text-is("1")').waitFor({ timeout: 10_000 });
    // Every node takes the rings (what KV and objects requests need).
    for (let i = 0; i < NODES.length; i++) {
      await eventually(
        `${NODES[i]} holds the rings`,
        async () => {
          const r = await json<{ rings: { name: string }[] }>(`${nodeUrl(i)}/api/v1/rings`);
          const names = r.body.rings.map((x) => x.name);
          return ['kv', 'objects-replicated-3', 'objects-replicated-2', 'objects-single'].every((n) => names.includes(n));
        },
        20_000,
      );
    }
    // Building again builds nothing.
    const again = await json<{ built: unknown[]; skipped: { ring: string; reason: string }[] }>(`${base}/api/v1/rings/build`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
    assert.equal(again.status, 200);
    assert.deepEqual(again.body.built, []);
    assert.ok(again.body.skipped.every((s) => s.reason === 'exists'));
    assert.deepEqual(unexpectedErrors(), []);
  });

  it('the KV, Objects and cluster pages load without a console error at both sizes, light and dark (screenshots saved)', async () => {
    const { page } = b;
    for (const scheme of ['light', 'dark'] as const) {
      await page.emulateMedia({ colorScheme: scheme });
      for (const [size, viewport] of Object.entries(SIZES)) {
        await page.setViewportSize(viewport);
        for (const p of PAGES) {
          await page.goto(base + p.path);
          await page.locator(p.ready).first().waitFor({ timeout: 15_000 });
          await b.shot(`${p.name}-${size}${scheme === 'dark' ? '-dark' : ''}`);
        }
      }
    }
    await page.emulateMedia({ colorScheme: 'light' });
    await page.setViewportSize(SIZES.desktop);
    assert.deepEqual(unexpectedErrors(), []);
  });

  it('puts, gets and deletes a key from the KV page, showing its replicas and versions', async () => {
    const { page } = b;
    const key = 'web/greeting';
    await page.goto(`${base}/kv`);
    const form = page.locator('[data-testid=kv-form]');
    await form.locator('input[name=key]').fill(key);
    await form.locator('textarea[name=value]').fill('hello from the dashboard');
    await form.locator('[data-testid=kv-put]').click();
    await page.locator('[data-testid=kv-result]:has-text("stored: version")').waitFor({ timeout: 15_000 });

    // The write is on the cluster: a node answers it directly.
    const direct = await json<{ value: string; version: string }>(`${nodeUrl(0)}/api/v1/kv/keys/${encodeURIComponent(key)}`);
    assert.equal(direct.status, 200);
    assert.equal(direct.body.value, 'hello from the dashboard');

    // Its replicas: three primaries, each holding that version.
    const replicas = page.locator('[data-testid=kv-replicas-card]');
    await replicas.locator('[data-testid=kv-replicas] tbody tr').nth(2).waitFor({ timeout: 15_000 });
    // W = 2: the third replica may get the write a little later; the panel's Refresh reads them again.
    await untilShown(replicas, '[data-testid=replica-state]:text-is("ok")', 3);
    assert.equal(await replicas.locator(`td:text-is("${direct.body.version}")`).count(), 3);
    await b.shot('kv-after-put-desktop');

    // Listed under its prefix; picking it reads it back into the form.
    await page.locator('input[name=prefix]').fill('web/');
    await page.locator('input[name=prefix]').press('Enter');
    await page.locator(`[data-testid=kv-keys] tr[data-key="${key}"]`).waitFor({ timeout: 10_000 });
    await form.locator('textarea[name=value]').fill('');
    await page.locator(`[data-testid=kv-keys] tr[data-key="${key}"] button`).click();
    await page.locator('[data-testid=kv-result]:has-text("got version")').waitFor({ timeout: 10_000 });
    assert.equal(await form.locator('textarea[name=value]').inputValue(), 'hello from the dashboard');

    // Delete asks first; then the key is gone everywhere and its replicas hold the tombstone.
    await form.locator('[data-testid=kv-delete]').click();
    await page.locator('[data-testid=confirm-ok]').click();
    await page.locator('[data-testid=kv-result]:has-text("deleted: tombstone version")').waitFor({ timeout: 15_000 });
    await page.locator('[data-testid=kv-empty]').waitFor({ timeout: 10_000 });
    await untilShown(replicas, '[data-testid=replica-state]:text-is("deleted")', 3);
    const gone = await fetch(`${nodeUrl(1)}/api/v1/kv/keys/${encodeURIComponent(key)}`);
    assert.equal(gone.status, 404);
    await gone.body?.cancel();
    assert.deepEqual(unexpectedErrors(), []);
  });

  it('uploads files on the Objects page (picker, drag and drop) and downloads the same bytes; replicas are valid', async () => {
    const { page } = b;
    await page.goto(`${base}/objects`);
    const bucketForm = page.locator('[data-testid=bucket-form]');
    await bucketForm.locator('input[name=bucket]').fill('web-files');
    await bucketForm.locator('select[name=policy]').selectOption('replicated-3');
    await bucketForm.locator('button[type=submit]').click();
    await page.locator('[data-testid=bucket-note]:has-text("bucket web-files created")').waitFor({ timeout: 10_000 });
    await page.locator('tr[data-bucket="web-files"]').waitFor();

    // The file picker.
    // Larger than the server's 1 MiB body limit: the proxy streams bodies, it never parses them.
    const bytes = randomBytes(UPLOAD_BYTES);
    await page.locator('input[type=file][name=upload]').setInputFiles({ name: 'blob.bin', mimeType: 'application/octet-stream', buffer: bytes });
    await page.locator('[data-testid=uploads] li[data-key="blob.bin"][data-state=done]').waitFor({ timeout: 30_000 });
    // Drag and drop.
    // (A string: the function runs in the page, where DataTransfer and File exist.)
    const dropped = await page.evaluateHandle(`(() => {
      const dt = new DataTransfer();
      dt.items.add(new File(['dropped on the zone\\n'], 'dropped.txt', { type: 'text/plain' }));
      return dt;
    })()`);
    await page.locator('[data-testid=dropzone]').dispatchEvent('drop', { dataTransfer: dropped });
    await page.locator('[data-testid=uploads] li[data-key="dropped.txt"][data-state=done]').waitFor({ timeout: 30_000 });
    await page.locator('[data-testid=objects] tr[data-key="dropped.txt"]').waitFor({ timeout: 10_000 });

    const row = page.locator('[data-testid=objects] tr[data-key="blob.bin"]');
    const [download] = await Promise.all([page.waitForEvent('download'), row.locator('[data-testid=obj-download]').click()]);
    assert.equal(download.suggestedFilename(), 'blob.bin');
    const got = await readFile(await download.path());
    assert.equal(got.length, bytes.length);
    assert.ok(got.equals(bytes), 'the downloaded bytes differ from the uploaded ones');

    // Where its replicas are: three nodes, each valid.
    await row.locator('th button').click();
    const replicas = page.locator('[data-testid=obj-replicas]');
    await untilShown(replicas, '[data-testid=replica-valid]:text-is("valid")', 3);
    await b.shot('objects-after-upload-desktop');
    await page.setViewportSize(SIZES.phone);
    await b.shot('objects-after-upload-phone');
    await page.setViewportSize(SIZES.desktop);

    // Delete asks first, then the object is gone from the listing.
    await page.locator('[data-testid=objects] tr[data-key="dropped.txt"] [data-testid=obj-delete]').click();
    await page.locator('[data-testid=confirm-ok]').click();
    await page.locator('[data-testid=obj-note]:has-text("deleted dropped.txt")').waitFor({ timeout: 10_000 });
    await page.locator('[data-testid=objects] tr[data-key="dropped.txt"]').waitFor({ state: 'detached', timeout: 10_000 });
    assert.deepEqual(unexpectedErrors(), []);
  });

  it('rebalances a ring from the cluster page; refuses a drain a ring cannot afford, changing nothing', async () => {
    const { page } = b;
    await page.goto(`${base}/cluster`);
    const kvRow = page.locator('tr[data-ring="kv"]');
    await kvRow.waitFor({ timeout: 10_000 });
    await kvRow.locator('[data-testid=ring-rebalance]').click();
    await page.locator('[data-testid=confirm]:has-text("Rebalance ring kv?")').waitFor();
    await page.locator('[data-testid=confirm-ok]').click();
    const result = page.locator('[data-testid=ring-result]');
    await result.getByText('rebalance kv', { exact: true }).waitFor({ timeout: 15_000 });
    await result.getByText(/ring kv version 1: nothing to change \(already balanced\)/).waitFor();
    const before = await json<{ version: number }>(`${base}/api/v1/rings/kv`);
    assert.equal(before.body.version, 1);

    // Three nodes, three replicas: the kv ring cannot lose node-c, so nothing is drained.
    await page.locator('tr[data-node="node-c"] [data-testid=drain]').click();
    await page.locator('[data-testid=confirm]:has-text("Drain node-c?")').waitFor();
    await page.locator('[data-testid=confirm-ok]').click();
    await result.getByText('drain node-c refused').waitFor({ timeout: 15_000 });
    await result.getByText(/cannot drain node-c, nothing was changed: ring kv/).waitFor();
    await b.shot('cluster-drain-refused-desktop');
    for (const ring of ['kv', 'objects-single', 'objects-replicated-2']) {
      const r = await json<{ version: number; devices: { id: string; weight: number }[] }>(`${base}/api/v1/rings/${ring}`);
      assert.equal(r.body.version, 1, ring);
      assert.ok(r.body.devices.every((d) => d.weight > 0), `${ring} changed a weight`);
    }
    assert.deepEqual(unexpectedErrors(/status of 409/), []);
  });

  it('with a node killed, the proxy answers through the other nodes', async () => {
    await nodes[2]!.kill();
    // Round robin would pick node-c in turn while the server still believes it up: it is skipped.
    for (let i = 0; i < 6; i++) {
      const r = await fetch(`${base}/api/v1/objects/buckets/web-files/objects/blob.bin`);
      assert.equal(r.status, 200, `attempt ${i}`);
      assert.notEqual(r.headers.get('x-flotilla-node'), 'node-c');
      assert.equal((await r.arrayBuffer()).byteLength, UPLOAD_BYTES);
    }
    const scan = await json<{ entries: unknown[] }>(`${base}/api/v1/kv/scan?prefix=web/`);
    assert.equal(scan.status, 200);
    // While the server still counted node-c live, round robin made it the first choice of two of the six
    // requests: the proxy must have skipped it. (Once the server sees it gone, it is no candidate at all.)
    const members = await json<{ members: { name: string; status: string }[] }>(`${base}/api/v1/members`);
    if (members.body.members.find((m) => m.name === 'node-c')?.status === 'ACTIVE') {
      assert.match(server.output(), /proxy: node node-c did not take the request; trying the next/);
    }
  });
});
