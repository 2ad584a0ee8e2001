/**
 * TLS on the wire (PLAT-4), real processes: a server, a node and an agent with `flotilla certs init`
 * material and `--auth on`: the node registers, the agent streams, KV put/get through the node, an
 * object round trip through the transfer port (HTTPS and a token), the HTTPS API through the CLI with
 * `--tls-ca`. Refused: an agent with a certificate of another CA, a node without a certificate, a client
 * without the CA, a process given bad TLS material.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { request as httpRequest } from 'node:http';
import { join } from 'node:path';
import { describe, it, before } from 'node:test';
import { startFlotilla, tcpReady, tempDir, type ProcessHandle } from '../testkit/index.js';
import { eventually, runFlotilla, suiteOwner } from '../testkit/cluster.js';

interface Answer {
  status: number;
  body: string;
}

/** One HTTPS request trusting `ca` (no client certificate). */
function https(url: string, ca: string, opts: { method?: string; token?: string; body?: string; headers?: Record<string, string> } = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(
      url,
      {
        ca,
        method: opts.method ?? 'GET',
        headers: { ...(opts.token !== undefined ? { authorization: `Bearer ${opts.token}` } : {}), ...(opts.headers ?? {}) },
      },
      (res) => {
        let body = '';
        res.setEncoding('utf8').on('data', (d: string) => (body += d));
        res.once('end', () => resolve({ status: res.statusCode ?? 0, body }));
        res.once('error', reject);
      },
    );
    req.once('error', reject);
    req.end(opts.body);
  });
}

/** A multipart/form-data body with one field (and a file name when given). */
function multipart(field: string, value: string, filename?: string): { body: string; headers: Record<string, string> } {
  const boundary = 'flotillaTlsTestBoundary';
  const disposition = `form-data; name="${field}"${filename !== undefined ? `; filename="${filename}"` : ''}`;
  const body = `--${boundary}\r\ncontent-disposition: ${disposition}\r\ncontent-type: application/octet-stream\r\n\r\n${value}\r\n--${boundary}--\r\n`;
  return { body, headers: { 'content-type': `multipart/form-data; boundary=${boundary}`, 'content-length': String(Buffer.byteLength(body)) } };
}

describe('TLS between server, node, agent and the CLI (real processes)', () => {
  const owner = suiteOwner();
  let dir = '';
  let tls = '';
  let other = '';
  let ca = '';
  let server: ProcessHandle;
  let node: ProcessHandle;
  let grpc = '';
  let http = '';
  let admin = '';
  let joinToken = '';

  const env = (token?: string): Record<string, string> => ({ FLOTILLA_TOKEN: token ?? '', FLOTILLA_TOKEN_FILE: '', FLOTILLA_TLS_CA: '', FLOTILLA_TLS_DIR: '', FLOTILLA_LOG_PRETTY: '0' });
  const readyz = async (port: number): Promise<boolean> => (await https(`https://127.0.0.1:${port}/readyz`, ca).catch(() => ({ status: 0 }))).status === 200;

  before(async () => {
    dir = await tempDir(owner, 'flotilla-tls-');
    tls = join(dir, 'tls');
    other = join(dir, 'other');
    for (const [d, names] of [
      [tls, ['server', 'node-a', 'agent-1', 'cli']],
      [other, ['agent-1', 'node-b']],
    ] as const) {
      const r = await runFlotilla(['certs', 'init', '--dir', d, ...names.flatMap((n) => ['--for', n])]);
      assert.equal(r.code, 0, r.stderr);
    }
    ca = readFileSync(join(tls, 'ca.crt'), 'utf8');
    server = await startFlotilla(
      ({ port, dataDir }) => [
        'server',
        '--listen', `127.0.0.1:${port('grpc')}`,
        '--http', `127.0.0.1:${port('http')}`,
        '--coord-listen', `127.0.0.1:${port('coord')}`,
        '--data-dir', dataDir,
        '--auth', 'on',
        '--expect-nodes', '1',
        '--tls-dir', tls,
      ],
      { t: owner, ports: ['grpc', 'http', 'coord'], env: env(), ready: async (h) => (await tcpReady(h.port('grpc'))) && (await readyz(h.port('http'))) },
    );
    grpc = `127.0.0.1:${server.port('grpc')}`;
    http = `127.0.0.1:${server.port('http')}`;
    admin = readFileSync(join(server.dataDir, 'admin-token'), 'utf8').trim();
    joinToken = readFileSync(join(server.dataDir, 'join-token'), 'utf8').trim();
    node = await startFlotilla(
      ({ port, dataDir }) => [
        'node', '--name', 'node-a',
        '--join', grpc,
        '--listen', `127.0.0.1:${port('peer')}`,
        '--http', `127.0.0.1:${port('http')}`,
        '--xfer', `127.0.0.1:${port('xfer')}`,
        '--roles', 'kv,objects',
        '--data-dir', dataDir,
        '--join-token', joinToken,
        '--tls-dir', tls,
      ],
      { t: owner, ports: ['peer', 'http', 'xfer'], env: env(), ready: (h) => readyz(h.port('http')) },
    );
    await startFlotilla(
      ['agent', '--hostname', 'agent-1', '--server', grpc, '--etcd', `127.0.0.1:${server.port('coord')}`, '--join-token', joinToken, '--tls-dir', tls, '--heartbeat-ttl', '2s'],
      { t: owner, env: env(), ready: async (h) => h.output().includes('connected to the monitor server') },
    );
  });

  it('the node registers and the agent streams over mutual TLS; the API serves HTTPS', async () => {
    assert.match(server.output(), /HTTP\s+https:\/\/127\.0\.0\.1:/);
    await eventually(
      'node-a ACTIVE in the server view',
      async () => {
        const r = await https(`https://${http}/api/v1/members`, ca, { token: admin });
        return r.status === 200 && /"name":"node-a"[^}]*"status":"ACTIVE"|"status":"ACTIVE"[^}]*"name":"node-a"/.test(r.body);
      },
      10_000,
    );
    await eventually(
      'agent-1 connected',
      async () => {
        const r = await https(`https://${http}/api/v1/agents`, ca, { token: admin });
        const agents = (JSON.parse(r.body) as { agents: { hostname: string; connected: boolean }[] }).agents;
        return agents.some((a) => a.hostname === 'agent-1' && a.connected);
      },
      10_000,
    );
    // Plain HTTP at the HTTPS port gets no API.
    const plain = await new Promise<number | string>((resolve) => {
      const req = httpRequest(`http://${http}/healthz`, (res) => resolve(res.statusCode ?? 0));
      req.once('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? e.message));
      req.end();
    });
    assert.notEqual(plain, 200);
  });

  it('KV put and get through the node with the CLI presenting a certificate', async () => {
    const peer = `127.0.0.1:${node.port('peer')}`;
    await eventually(
      'a put through the node',
      async () => (await runFlotilla(['kv', 'put', 'tls-key', 'over-tls', '--node', peer, '--tls-dir', tls], { env: env(admin) })).code === 0,
      15_000,
    );
    const got = await runFlotilla(['kv', 'get', 'tls-key', '--node', peer, '--tls-dir', tls], { env: env(admin) });
    assert.equal(got.code, 0, got.stderr);
    assert.equal(got.stdout.trim(), 'over-tls');
    // Trusting the CA is not enough for a mutual-TLS port: the CLI has no certificate.
    const noCert = await runFlotilla(['kv', 'get', 'tls-key', '--node', peer, '--tls-ca', join(tls, 'ca.crt')], { env: env(admin) });
    assert.notEqual(noCert.code, 0);
    assert.match(noCert.stderr, /refused a connection without a client certificate at the TLS handshake/);
    // A certificate of another CA: the node's certificate is not trusted either.
    const wrong = await runFlotilla(['kv', 'get', 'tls-key', '--node', peer, '--tls-dir', other, '--tls-name', 'node-b'], { env: env(admin) });
    assert.notEqual(wrong.code, 0);
    assert.match(wrong.stderr, /is not signed by the cluster CA in .*other\/ca\.crt/);
    // No TLS at all: a hint, not a protocol dump.
    const plain = await runFlotilla(['kv', 'get', 'tls-key', '--node', peer], { env: env(admin) });
    assert.notEqual(plain.code, 0);
    assert.match(plain.stderr, /--tls-dir/);
  });

  it('an object round trip through the transfer port: HTTPS and an API token', async () => {
    const xfer = `https://127.0.0.1:${node.port('xfer')}`;
    const up = multipart('file', 'hello over tls', 'tls.txt');
    let uploaded: Answer = { status: 0, body: '' };
    await eventually(
      'an upload (the object rings are built once node-a is ACTIVE)',
      async () => {
        uploaded = await https(`${xfer}/upload`, ca, { method: 'POST', token: admin, body: up.body, headers: up.headers });
        return uploaded.status === 200;
      },
      15_000,
    );
    assert.match(uploaded.body, /uploaded tls\.txt 14 bytes/);
    const down = multipart('name', 'tls.txt');
    // The join token (node-to-node use) may download.
    const got = await https(`${xfer}/download`, ca, { method: 'POST', token: joinToken, body: down.body, headers: down.headers });
    assert.equal(got.status, 200, got.body);
    assert.equal(got.body, 'hello over tls');
    const none = await https(`${xfer}/download`, ca, { method: 'POST', body: down.body, headers: down.headers });
    assert.equal(none.status, 401);
    assert.match(none.body, /needs an API token/);
    // A reader may download but not upload.
    const created = await runFlotilla(['auth', 'token', 'create', '--role', 'reader', '--scope', 'objects', '--json', '--http', http, '--tls-ca', join(tls, 'ca.crt')], { env: env(admin) });
    assert.equal(created.code, 0, created.stderr);
    const reader = (JSON.parse(created.stdout) as { token: string }).token;
    assert.equal((await https(`${xfer}/download`, ca, { method: 'POST', token: reader, body: down.body, headers: down.headers })).status, 200);
    const denied = await https(`${xfer}/upload`, ca, { method: 'POST', token: reader, body: up.body, headers: up.headers });
    assert.equal(denied.status, 403);
    assert.match(denied.body, /operator role/);
    // The same object through the server's HTTPS API (its data proxy reaches the node over TLS).
    const proxied = await https(`https://${http}/api/v1/objects/buckets`, ca, { token: admin });
    assert.equal(proxied.status, 200, proxied.body);
    assert.match(proxied.body, /"name":"files"/);
  });

  it('the CLI reaches the HTTPS API with --tls-ca, and without it says what to pass', async () => {
    const ok = await runFlotilla(['auth', 'token', 'list', '--http', http, '--tls-ca', join(tls, 'ca.crt')], { env: env(admin) });
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(ok.stdout, /bootstrap admin/);
    const plain = await runFlotilla(['auth', 'token', 'list', '--http', http], { env: env(admin) });
    assert.notEqual(plain.code, 0);
    assert.match(plain.stderr, /pass --tls-ca FILE/);
    const untrusted = await runFlotilla(['auth', 'token', 'list', '--http', `https://${http}`], { env: env(admin) });
    assert.notEqual(untrusted.code, 0);
    assert.match(untrusted.stderr, /not signed by a CA this process trusts: pass --tls-ca/);
    const otherCa = await runFlotilla(['auth', 'token', 'list', '--http', http, '--tls-ca', join(other, 'ca.crt')], { env: env(admin) });
    assert.notEqual(otherCa.code, 0);
    assert.match(otherCa.stderr, /is not signed by the cluster CA in .*other\/ca\.crt/);
  });

  it('an agent with a certificate of another CA is refused at connect, with a clear error on both sides', async () => {
    const rogue = await startFlotilla(
      ['agent', '--hostname', 'rogue', '--server', grpc, '--etcd', `127.0.0.1:${server.port('coord')}`, '--join-token', joinToken, '--tls-dir', other, '--tls-name', 'agent-1'],
      { t: owner, env: env(), ready: async (h) => h.output().includes('ready') },
    );
    try {
      await rogue.waitForOutput((out) => /cannot reach the monitor server/.test(out), 15_000);
      assert.match(rogue.output(), /the certificate of 127\.0\.0\.1:\d+ is not signed by the cluster CA in .*other\/ca\.crt/);
      await server.waitForOutput((out) => /refused a connection at the TLS handshake/.test(out), 10_000);
      const agents = await https(`https://${http}/api/v1/agents`, ca, { token: admin });
      assert.ok(!agents.body.includes('"hostname":"rogue"'), 'the rogue agent never reached the server');
    } finally {
      await rogue.stop();
    }
  });

  it('a node without a certificate, or with one of another CA, cannot join', async () => {
    const bare = await runFlotilla(['node', '--name', 'node-b', '--join', grpc, '--listen', '127.0.0.1:0', '--http', '127.0.0.1:0', '--xfer', 'off', '--data-dir', join(dir, 'node-b'), '--join-token', joinToken], { env: env(), timeoutMs: 60_000 });
    assert.notEqual(bare.code, 0);
    assert.match(bare.stderr, /--tls-dir/);
    const wrong = await runFlotilla(
      ['node', '--name', 'node-b', '--join', grpc, '--listen', '127.0.0.1:0', '--http', '127.0.0.1:0', '--xfer', 'off', '--data-dir', join(dir, 'node-b2'), '--join-token', joinToken, '--tls-dir', other],
      { env: env(), timeoutMs: 60_000 },
    );
    assert.notEqual(wrong.code, 0);
    assert.match(wrong.stderr, /not signed by the cluster CA in .*other\/ca\.crt/);
    const members = await https(`https://${http}/api/v1/members`, ca, { token: admin });
    assert.ok(!members.body.includes('node-b'), 'node-b never registered');
  });

  it('a process given bad TLS material refuses to start, naming the file', async () => {
    const missing = await runFlotilla(['server', '--listen', '127.0.0.1:0', '--http', '127.0.0.1:0', '--coord-listen', '127.0.0.1:0', '--data-dir', join(dir, 'bad'), '--tls-dir', join(dir, 'nowhere')], { env: env(), timeoutMs: 60_000 });
    assert.equal(missing.code, 2, missing.stderr);
    assert.match(missing.stderr, /\[config_invalid\] cannot read the CA certificate .*nowhere\/ca\.crt/);
    const mixed = await runFlotilla(['agent', '--hostname', 'x', '--tls-dir', tls, '--tls-name', 'agent-1', '--tls-ca', join(other, 'ca.crt')], { env: env(), timeoutMs: 60_000 });
    assert.equal(mixed.code, 2, mixed.stderr);
    assert.match(mixed.stderr, /agent-1\.crt is not signed by the CA in .*other\/ca\.crt/);
  });
});
