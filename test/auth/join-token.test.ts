/**
 * Real processes: `flotilla server --auth on`, nodes with and without the join token, and the token
 * commands of the CLI (`flotilla auth token create|list|revoke`) as a user runs them.
 */
import assert from 'node:assert/strict';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { freePort, startFlotilla, tempDir, type ProcessHandle } from '../testkit/index.js';
import { runFlotilla, startNode, suiteOwner } from '../testkit/cluster.js';

describe('join token and token commands (real processes)', () => {
  const owner = suiteOwner();
  let server: ProcessHandle;
  let grpc = '';
  let http = '';
  let admin = '';
  let joinToken = '';

  const cli = (args: string[], token?: string): ReturnType<typeof runFlotilla> =>
    runFlotilla(args, { env: { FLOTILLA_TOKEN: token ?? '', FLOTILLA_TOKEN_FILE: '', FLOTILLA_HTTP: http, FLOTILLA_LOG_PRETTY: '0' } });

  it('the server creates the admin and join tokens on first start, prints the admin token, keeps both 0600', async () => {
    server = await startFlotilla(
      ({ port, dataDir }) => ['server', '--listen', `127.0.0.1:${port('grpc')}`, '--http', `127.0.0.1:${port('http')}`, '--coord-listen', `127.0.0.1:${port('coord')}`, '--data-dir', dataDir, '--auth', 'on'],
      { t: owner, ports: ['grpc', 'http', 'coord'], ready: async (h) => h.output().includes('ready') },
    );
    grpc = `127.0.0.1:${server.port('grpc')}`;
    http = `127.0.0.1:${server.port('http')}`;
    admin = readFileSync(join(server.dataDir, 'admin-token'), 'utf8').trim();
    joinToken = readFileSync(join(server.dataDir, 'join-token'), 'utf8').trim();
    assert.match(admin, /^flt_[0-9a-f]{12}_[A-Za-z0-9_-]{43}$/);
    assert.match(joinToken, /^flt_[0-9a-f]{12}_[A-Za-z0-9_-]{43}$/);
    assert.equal(statSync(join(server.dataDir, 'admin-token')).mode & 0o777, 0o600);
    assert.equal(statSync(join(server.dataDir, 'join-token')).mode & 0o777, 0o600);
    assert.ok(server.output().includes(admin), 'the admin token is printed once');
  });

  it('a node without the join token, or with a user token, is refused at connect with a clear error', async () => {
    const dir = await tempDir(owner);
    const args = (name: string): string[] => ['node', '--name', name, '--join', grpc, '--listen', '127.0.0.1:0', '--http', `127.0.0.1:${0}`, '--xfer', 'off', '--roles', 'kv', '--data-dir', join(dir, name)];
    const none = await runFlotilla(args('intruder'), { env: { FLOTILLA_JOIN_TOKEN: '', FLOTILLA_LOG_PRETTY: '0' }, timeoutMs: 30_000 });
    assert.notEqual(none.code, 0);
    assert.match(none.stderr, /unauthenticated.*GetJoinInfo needs an API token/i);
    const reader = await cli(['auth', 'token', 'create', '--role', 'operator', '--json'], admin);
    assert.equal(reader.code, 0, reader.stderr);
    const operatorToken = (JSON.parse(reader.stdout) as { token: string }).token;
    const wrong = await runFlotilla(args('intruder2'), { env: { FLOTILLA_JOIN_TOKEN: operatorToken, FLOTILLA_LOG_PRETTY: '0' }, timeoutMs: 30_000 });
    assert.notEqual(wrong.code, 0);
    assert.match(wrong.stderr, /permission_denied.*GetJoinInfo needs the cluster role/i);
    assert.match(server.output(), /refused a call/, 'the server logs the refusal too');
    const status = await cli(['status', '--server', grpc, '--json'], admin);
    assert.equal(status.code, 0, status.stderr);
    assert.ok(!status.stdout.includes('intruder'), 'no refused node registered');
  });

  it('a node with the join token registers, and checks tokens on its own APIs', async () => {
    const node = await startNode(owner, 'node-a', ['--join', grpc, '--xfer', 'off', '--roles', 'kv', '--join-token', joinToken]);
    const members = await cli(['status', '--server', grpc, '--json'], admin);
    assert.equal(members.code, 0, members.stderr);
    assert.match(members.stdout, /"name": "node-a",\s+"status": "ACTIVE"/);
    const nodeHttp = `http://127.0.0.1:${node.port('http')}`;
    assert.equal((await fetch(`${nodeHttp}/api/v1/rings`)).status, 401);
    assert.equal((await fetch(`${nodeHttp}/api/v1/rings`, { headers: { authorization: `Bearer ${admin}` } })).status, 200);
  });

  it('flotilla auth token create, list and revoke; a revoked token is refused by the CLI', async () => {
    const port = await freePort();
    assert.ok(port > 0);
    const created = await cli(['auth', 'token', 'create', '--role', 'reader', '--scope', 'cluster', 'kv', '--ttl', '2h', '--name', 'ci reader'], admin);
    assert.equal(created.code, 0, created.stderr);
    const token = created.stdout.split('\n')[0]!;
    assert.match(token, /^flt_[0-9a-f]{12}_[A-Za-z0-9_-]{43}$/);
    assert.match(created.stdout, /role reader, scopes cluster,kv, expires 20/);
    const id = token.slice(4, 16);

    const list = await cli(['auth', 'token', 'list'], admin);
    assert.equal(list.code, 0, list.stderr);
    assert.match(list.stdout, new RegExp(`^${id}\\s+ci reader\\s+reader\\s+cluster,kv\\s+\\S+\\s+20\\S+\\s+active$`, 'm'));
    assert.match(list.stdout, /\sbootstrap admin\s+admin\s/);
    assert.ok(!list.stdout.includes(token.slice(17)), 'no secret in the list');

    // The new token works for what it may do, and not for more.
    assert.equal((await cli(['status', '--server', grpc], token)).code, 0);
    const denied = await cli(['auth', 'token', 'list'], token);
    assert.notEqual(denied.code, 0);
    assert.match(denied.stderr, /permission_denied.*needs the admin role/);

    const revoked = await cli(['auth', 'token', 'revoke', id], admin);
    assert.equal(revoked.code, 0, revoked.stderr);
    assert.match(revoked.stdout, new RegExp(`revoked token ${id} \\(ci reader\\)`));
    let after = await cli(['status', '--server', grpc], token);
    for (let i = 0; after.code === 0 && i < 20; i++) after = await cli(['status', '--server', grpc], token);
    assert.notEqual(after.code, 0);
    assert.match(after.stderr, /unauthenticated.*was revoked/);
    const listed = await cli(['auth', 'token', 'list', '--json'], admin);
    const rows = JSON.parse(listed.stdout) as { id: string; revokedAt?: string }[];
    assert.ok(rows.find((r) => r.id === id)?.revokedAt !== undefined);

    const tokenFile = join(await tempDir(owner), 'token');
    const { writeFile } = await import('node:fs/promises');
    await writeFile(tokenFile, `${admin}\n`);
    assert.equal((await runFlotilla(['auth', 'token', 'list', '--http', http, '--token-file', tokenFile], { env: { FLOTILLA_TOKEN: '' } })).code, 0, 'the token from --token-file');
    const none = await cli(['auth', 'token', 'list']);
    assert.notEqual(none.code, 0);
    assert.match(none.stderr, /unauthenticated.*needs an API token/);
    const badRole = await cli(['auth', 'token', 'create', '--role', 'root'], admin);
    assert.equal(badRole.code, 2);
    assert.match(badRole.stderr, /--role must be one of reader, operator, admin/);
  });
});
