// The real etcdctl (ETCDCTL_API=3) against `flotilla server`'s embedded coordination store: with
// authentication on it needs --user NAME:<join or admin token> (etcd's Authenticate flow, then the `token`
// header); without, or with a reader, malformed or revoked token, it is refused with a clear message. With
// authentication off nothing changes.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { etcdctl, etcdctlBackground, type EtcdctlResult } from '../testkit/index.js';
import { runFlotilla, startServer, suiteOwner, type ServerHandle } from '../testkit/cluster.js';

function ok(r: EtcdctlResult, what: string): string {
  assert.equal(r.code, 0, `${what} failed: ${r.stderr}${r.stdout}`);
  return r.stdout;
}

function refused(r: EtcdctlResult, pattern: RegExp, what: string): void {
  assert.notEqual(r.code, 0, `${what} was not refused: ${r.stdout}`);
  assert.match(r.stderr, pattern, `${what}: unclear refusal`);
}

describe('etcdctl and the embedded store with authentication on', () => {
  const owner = suiteOwner();
  let server: ServerHandle;
  let endpoint = '';
  const user = (token: string): string[] => ['--user', `flotilla:${token}`];
  const cli = (args: string[]): ReturnType<typeof runFlotilla> =>
    runFlotilla(args, { env: { FLOTILLA_TOKEN: server.adminToken!, FLOTILLA_TOKEN_FILE: '', FLOTILLA_HTTP: `127.0.0.1:${server.port('http')}`, FLOTILLA_LOG_PRETTY: '0' } });
  const newToken = async (role: string): Promise<{ id: string; token: string }> => {
    const r = await cli(['auth', 'token', 'create', '--role', role, '--json']);
    assert.equal(r.code, 0, r.stderr);
    return JSON.parse(r.stdout) as { id: string; token: string };
  };

  it('without credentials etcdctl is refused with a message saying what to send', async () => {
    server = await startServer(owner, { auth: true });
    endpoint = server.coordEndpoint;
    refused(await etcdctl(endpoint, ['get', '--prefix', '/flotilla/auth/tokens/']), /needs the cluster join token or an admin token.*--user flotilla:<token>/, 'get without a token');
    refused(await etcdctl(endpoint, ['put', '/x', 'y']), /unauthenticated/i, 'put without a token');
    refused(await etcdctl(endpoint, [...user('not-a-token'), 'get', '/x']), /malformed API token/, 'a malformed password');
  });

  it('with --user flotilla:<join token> put, get and watch work; an admin token works too', async () => {
    const join = user(server.joinToken!);
    const watch = await etcdctlBackground(endpoint, [...join, 'watch', '--prefix', '/w/'], owner);
    ok(await etcdctl(endpoint, [...join, 'put', '/t/a', 'one']), 'put');
    assert.equal(ok(await etcdctl(endpoint, [...join, 'get', '/t/a']), 'get'), '/t/a\none\n');
    // The watch may start after the first put: put until it reports one.
    for (let i = 0; i < 50 && !watch.output().includes('/w/k'); i++) {
      ok(await etcdctl(endpoint, [...join, 'put', '/w/k', `v${i}`]), 'put under the watch');
      await sleep(100);
    }
    assert.match(watch.output(), /PUT\n\/w\/k\nv\d+/);
    const admin = user(server.adminToken!);
    assert.equal(ok(await etcdctl(endpoint, [...admin, 'get', '/t/a', '--print-value-only']), 'get with the admin token'), 'one\n');
    assert.match(ok(await etcdctl(endpoint, [...admin, 'endpoint', 'status']), 'endpoint status'), /3\.4\.0/);
  });

  it('a reader or operator token is refused; a revoked admin token is refused', async () => {
    const reader = await newToken('reader');
    refused(await etcdctl(endpoint, [...user(reader.token), 'get', '/t/a']), /PermissionDenied.*has the reader role/, 'a reader token');
    const operator = await newToken('operator');
    refused(await etcdctl(endpoint, [...user(operator.token), 'put', '/t/b', 'x']), /has the operator role/, 'an operator token');
    const admin = await newToken('admin');
    ok(await etcdctl(endpoint, [...user(admin.token), 'get', '/t/a']), 'a fresh admin token');
    const r = await cli(['auth', 'token', 'revoke', admin.id]);
    assert.equal(r.code, 0, r.stderr);
    let last: EtcdctlResult | undefined;
    for (let i = 0; i < 50; i++) {
      last = await etcdctl(endpoint, [...user(admin.token), 'get', '/t/a']);
      if (last.code !== 0) break;
      await sleep(100);
    }
    refused(last!, /was revoked/, 'a revoked token');
    refused(await etcdctl(endpoint, [...user(server.joinToken!), 'user', 'list']), /etcd users and roles are not kept/, 'etcd user management');
  });
});

describe('etcdctl and the embedded store with authentication off', () => {
  const owner = suiteOwner();
  it('needs no credentials, and --user is accepted and ignored (etcd: authentication is not enabled)', async () => {
    const server = await startServer(owner);
    ok(await etcdctl(server.coordEndpoint, ['put', '/open', 'yes']), 'put without a token');
    assert.equal(ok(await etcdctl(server.coordEndpoint, ['--user', 'flotilla:anything', 'get', '/open', '--print-value-only']), 'get with --user'), 'yes\n');
  });
});
