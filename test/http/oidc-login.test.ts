/**
 * Dashboard login through OpenID Connect, end to end in Debian's chromium: a local OpenID provider
 * (`oidc-provider`, started here on loopback, with a login form of the test standing in for Google's)
 * and a real `flotilla server --auth on --oidc-issuer ...`. The browser signs in at the provider, comes
 * back through the callback (PKCE, state, nonce and the ID token checked by openid-client) and holds a
 * session token, an API token the server lists and accepts; refusals (no role, a replayed callback, a forged state) are clear pages.
 */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { before, describe, it } from 'node:test';
import { randomBytes } from 'node:crypto';
import Provider from 'oidc-provider';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createHttpServer } from '../../src/http/index.js';
import { registerOidcLogin, roleOf, safeReturnPath } from '../../src/http/oidc-login.js';
import { silentLogger } from '../../src/core/log.js';
import { freePort, startFlotilla, type ProcessHandle } from '../testkit/index.js';
import { suiteOwner } from '../testkit/cluster.js';
import { openBrowser, type BrowserSession } from '../web/browser.js';

describe('OpenID Connect login in a real browser against flotilla server', () => {
  const owner = suiteOwner();
  let provider: Server;
  let server: ProcessHandle;
  let base = '';
  let admin = '';
  let browser: BrowserSession;

  before(async () => {
    const providerPort = await freePort();
    const httpPort = await freePort();
    const issuer = `http://127.0.0.1:${providerPort}`;
    base = `http://127.0.0.1:${httpPort}`;
    const redirectUrl = `${base}/auth/oidc/callback`;
    const clientSecret = randomBytes(24).toString('hex');
    const oidcProvider = new Provider(issuer, {
      clients: [{ client_id: 'flotilla-dashboard', client_secret: clientSecret, redirect_uris: [redirectUrl], grant_types: ['authorization_code'], response_types: ['code'] }],
      // Any account name signs in (the form below); its claims say who it is.
      findAccount: (_ctx, id) => ({ accountId: id, claims: () => ({ sub: id, email: `${id}@example.test`, email_verified: true, name: id }) }),
      claims: { openid: ['sub'], email: ['email', 'email_verified'], profile: ['name'] },
      pkce: { required: () => true },
      cookies: { keys: [randomBytes(16).toString('hex')] },
      interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
      features: { devInteractions: { enabled: false } },
    });
    const providerCallback = oidcProvider.callback();
    // The provider's login page: a form, and on submit the login and the consent to the scopes asked.
    provider = createServer((req, res) => {
      const m = /^\/interaction\/([^/?]+)(\/login)?/.exec(req.url ?? '');
      if (m === null) return void providerCallback(req, res);
      void (async () => {
        const details = await oidcProvider.interactionDetails(req, res);
        if (m[2] === undefined) {
          res.setHeader('content-type', 'text/html; charset=utf-8');
          res.end(`<!doctype html><title>Test provider</title><link rel="icon" href="data:,"><form method="post" action="/interaction/${details.uid}/login"><input name="login" autofocus><button type="submit">Sign in</button></form>`);
          return;
        }
        let body = '';
        for await (const chunk of req) body += String(chunk);
        const login = new URLSearchParams(body).get('login') ?? '';
        const grant = new oidcProvider.Grant({ accountId: login, clientId: String(details.params.client_id) });
        grant.addOIDCScope(String(details.params.scope));
        const grantId = await grant.save();
        await oidcProvider.interactionFinished(req, res, { login: { accountId: login }, consent: { grantId } }, { mergeWithLastSubmission: false });
      })().catch((err: unknown) => {
        res.statusCode = 500;
        res.end(String(err));
      });
    });
    await new Promise<void>((resolve) => provider.listen(providerPort, '127.0.0.1', resolve));
    owner.after(() => new Promise<void>((resolve) => provider.close(() => resolve())));

    server = await startFlotilla(
      ({ port, dataDir }) => [
        'server', '--listen', `127.0.0.1:${port('grpc')}`, '--http', `127.0.0.1:${httpPort}`, '--coord-listen', `127.0.0.1:${port('coord')}`,
        '--data-dir', dataDir, '--auth', 'on',
        '--oidc-issuer', issuer, '--oidc-client-id', 'flotilla-dashboard', '--oidc-redirect-url', redirectUrl, '--oidc-admins', 'ada@example.test',
      ],
      { t: owner, ports: ['grpc', 'coord'], env: { FLOTILLA_OIDC_CLIENT_SECRET: clientSecret }, ready: async (h) => h.output().includes('ready') },
    );
    admin = readFileSync(join(server.dataDir, 'admin-token'), 'utf8').trim();
    browser = await openBrowser(owner);
    // Closing the provider waits for the browser's keep-alive connections.
    owner.after(() => provider.closeAllConnections());
  });

  async function signIn(account: string): Promise<void> {
    const { page } = browser;
    // From the dashboard's login form, as a person would.
    await page.goto(`${base}/cluster`);
    // Without a token the page's API calls are refused, and the refusal opens the login form by itself
    // (the 401s in the console are that refusal, expected here).
    await page.getByTestId('oidc-login').waitFor();
    browser.consoleErrors.length = 0;
    await page.getByTestId('oidc-login').click();
    await page.locator('input[name="login"]').fill(account);
    await page.locator('button[type="submit"]').click();
  }

  it('signs a listed user in as admin; the dashboard holds a session token the API accepts', async () => {
    const { page } = browser;
    await signIn('ada');
    await page.waitForURL(`${base}/cluster`);
    const token = await page.evaluate<string | null>("sessionStorage.getItem('flotilla.token')");
    assert.match(token ?? '', /^flt_[0-9a-f]{12}_/, 'the page holds an API token');
    const status = await page.evaluate(async (t) => (await fetch('/api/v1/auth/tokens', { headers: { authorization: `Bearer ${t}` } })).status, token);
    assert.equal(status, 200, 'the session token is an admin API token');
    assert.equal((await fetch(`${base}/api/v1/auth/tokens`)).status, 401, 'without it the API refuses');
    const res = await fetch(`${base}/api/v1/auth/tokens`, { headers: { authorization: `Bearer ${admin}` } });
    const listed = JSON.stringify(await res.json());
    assert.match(listed, /oidc:ada@example\.test/, 'the session is listed (and can be revoked) like any token');
    await page.getByText('Token set').waitFor();
    await browser.shot('oidc-login-done');
    assert.deepEqual(browser.consoleErrors, [], 'no console error on the way');
  });

  it('refuses a user without a role, with a page that says so and no token', async () => {
    const { page } = browser;
    await page.evaluate('sessionStorage.clear()');
    await browser.context.clearCookies();
    await signIn('mallory');
    await page.waitForURL(/\/auth\/oidc\/callback/);
    assert.match(await page.locator('h1').innerText(), /Signed in as mallory@example.test, without access/);
    assert.equal(await page.evaluate<string | null>("sessionStorage.getItem('flotilla.token')"), null, 'no token');
    // The callback cannot be replayed: its state was used.
    const again = await page.goto(page.url());
    assert.equal(again?.status(), 400);
    assert.match(await page.locator('h1').innerText(), /expired or was already used/);
  });

  it('refuses a forged state without contacting the provider', async () => {
    const res = await fetch(`${base}/auth/oidc/callback?code=x&state=forged`);
    assert.equal(res.status, 400);
    assert.match(await res.text(), /expired or was already used/);
  });
});

describe('OpenID Connect helpers', () => {
  it('maps users to roles by verified e-mail or subject, admin first', () => {
    const roles = { admin: ['Ada@Example.test'], operator: ['sub-7', 'ada@example.test'] };
    assert.equal(roleOf({ sub: 'x', email: 'ada@example.test', email_verified: true }, { roles }), 'admin');
    assert.equal(roleOf({ sub: 'x', email: 'ada@example.test', email_verified: false }, { roles }), undefined, 'an unverified e-mail does not count');
    assert.equal(roleOf({ sub: 'sub-7' }, { roles }), 'operator');
    assert.equal(roleOf({ sub: 'other' }, { roles, defaultRole: 'reader' }), 'reader');
  });

  it('returns only to a path of this site', () => {
    for (const bad of ['https://evil.test/', '//evil.test', '/\\evil.test', 'x', 42, undefined]) assert.equal(safeReturnPath(bad), '/');
    assert.equal(safeReturnPath('/flows?x=1'), '/flows?x=1');
  });

  it('refuses a plain-HTTP issuer unless told it is a local test provider', () => {
    const app = createHttpServer({ listen: '127.0.0.1:0', logger: silentLogger(), processName: 'server', version: 'test' }).app;
    assert.throws(() => registerOidcLogin(app, { issuer: 'http://idp.example.test', clientId: 'c', clientSecret: 's', redirectUrl: 'https://x/auth/oidc/callback', logger: silentLogger(), mintSession: () => Promise.reject(new Error('unused')) }), /must be https/);
  });
});
