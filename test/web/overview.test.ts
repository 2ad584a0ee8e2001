// The Overview page's data counts and task-failure events in Debian's chromium (playwright-core), against
// a server and three kv+objects nodes started here: with the page open, 3 keys are put, 2 objects
// uploaded and a flow with a failing task run; the page then shows keys > 0, 2 objects with their bytes,
// the run under "failed", the failed task counted, and a "task ... failed" line in the recent events,
// without a reload and without a console error. Screenshots at both sizes (test-output/web/).
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { suiteOwner } from '../testkit/cluster.js';
import { openBrowser, SIZES, type BrowserSession } from './browser.js';
import { api, startDataCluster, type DataCluster } from './data-cluster.js';

const FAILING_FLOW = `collection: { key: ov-web-fail }
tasks:
  ok: { command: "echo fine" }
  boom: { command: "echo about to fail; exit 3" }
workflow:
  - ok -> boom
`;

describe('the Overview page in a browser', () => {
  const owner = suiteOwner();
  let cluster: DataCluster;
  let b: BrowserSession;

  before(async () => {
    cluster = await startDataCluster(owner);
    await api(cluster.base, 'POST', '/api/v1/flows', { fileName: 'ov-web-fail.yaml', yaml: FAILING_FLOW, files: {} });
    b = await openBrowser(owner);
  });

  it('shows keys, objects and bytes, runs by state and a task-failed event, live', async () => {
    const { page } = b;
    const { base } = cluster;
    await page.goto(`${base}/`);
    // Nothing stored yet: the counts are read (no error) and show zero.
    await page.locator('[data-testid=count-keys] .count-value:text-is("0")').waitFor({ timeout: 15_000 });
    await page.locator('[data-testid=count-objects] .count-value:text-is("0")').waitFor({ timeout: 15_000 });
    assert.equal(await page.locator('[data-testid=keys-error], [data-testid=objects-error], [data-testid=runs-error]').count(), 0);

    for (const k of ['web/a', 'web/b', 'web/c']) await api(base, 'PUT', `/api/v1/kv/keys/${encodeURIComponent(k)}`, `value of ${k}`, 'application/octet-stream');
    await api(base, 'PUT', '/api/v1/objects/buckets/ov-web');
    await api(base, 'PUT', '/api/v1/objects/buckets/ov-web/objects/one.txt', 'y'.repeat(1000), 'text/plain');
    await api(base, 'PUT', '/api/v1/objects/buckets/ov-web/objects/two.bin', new Uint8Array(2345), 'application/octet-stream');
    // The run's events (over /api/v1/flows/events) make the page read the counts again.
    await api(base, 'POST', '/api/v1/flows/ov-web-fail/runs', {});

    const failedEvent = page.locator('[data-testid=feed] li[data-kind=task]', { hasText: 'task ov-web-fail/boom failed' });
    await failedEvent.waitFor({ timeout: 30_000 });
    await page.locator('[data-testid=count-runs-failed] .count-value:text-is("1")').waitFor({ timeout: 15_000 });
    await page.locator('[data-testid=count-failed-tasks] .count-value:text-is("1")').waitFor({ timeout: 15_000 });
    await page.locator('[data-testid=count-objects] .count-value:text-is("2")').waitFor({ timeout: 15_000 });
    assert.equal(await page.locator('[data-testid=count-bytes]').getAttribute('title'), '3345 bytes (one copy of each object)');
    assert.equal(await page.locator('[data-testid=count-bytes] .count-value').innerText(), '3.3 KiB');
    const keys = Number(await page.locator('[data-testid=count-keys] .count-value').innerText());
    assert.ok(keys > 0, `keys shown: ${keys}`);
    assert.equal(await failedEvent.count(), 1);

    for (const [size, viewport] of Object.entries(SIZES)) {
      await page.setViewportSize(viewport);
      await b.shot(`overview-counts-${size}`);
    }
    // After a reload the failure is still listed (from the stored events of the last 24 h).
    await page.setViewportSize(SIZES.desktop);
    await page.reload();
    await page.locator('[data-testid=feed] li[data-kind=task]', { hasText: 'task ov-web-fail/boom failed' }).waitFor({ timeout: 15_000 });
    assert.deepEqual(b.consoleErrors, []);
  });
});
