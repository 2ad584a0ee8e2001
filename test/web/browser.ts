// Shared by the dashboard's browser tests: Debian's chromium driven by playwright-core (a persistent
// context in a temp dir, closed by the suite's owner), console errors collected, screenshots saved under
// test-output/web/ (git-ignored) at the two sizes the dashboard must work at.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import type { Cleanup } from '../testkit/index.js';
import { REPO_ROOT, tempDir } from '../testkit/index.js';

export const CHROMIUM = '/usr/bin/chromium';
export const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];
export const SHOTS = join(REPO_ROOT, 'test-output', 'web');
export const SIZES = { desktop: { width: 1280, height: 800 }, phone: { width: 390, height: 844 } } as const;

export interface BrowserSession {
  context: BrowserContext;
  page: Page;
  /** Console errors and uncaught page errors, `url: text`. */
  consoleErrors: string[];
  /** A full-page screenshot saved as test-output/web/NAME.png. */
  shot(name: string): Promise<void>;
}

/** Opens chromium (desktop size, downloads accepted) and one page; closed when `owner` cleans up. */
export async function openBrowser(owner: Cleanup): Promise<BrowserSession> {
  mkdirSync(SHOTS, { recursive: true });
  const context = await chromium.launchPersistentContext(await tempDir(owner, 'flotilla-chromium-'), {
    executablePath: CHROMIUM,
    args: CHROMIUM_ARGS,
    headless: true,
    viewport: SIZES.desktop,
    acceptDownloads: true,
  });
  owner.after(() => context.close());
  const page = context.pages()[0] ?? (await context.newPage());
  const consoleErrors: string[] = [];
  page.on('console', (m) => {
    if (m.type() === 'error') consoleErrors.push(`${page.url()}: ${m.text()}`);
  });
  page.on('pageerror', (err) => consoleErrors.push(`${page.url()}: ${err.message}`));
  return {
    context,
    page,
    consoleErrors,
    shot: async (name) => void (await page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true })),
  };
}
