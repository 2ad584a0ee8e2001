/**
 * `flotilla certs` through the built command, and the material it makes in real TLS handshakes: a process
 * certificate from the cluster CA is accepted by a mutual-TLS server; one from another CA, or none, is
 * refused on both sides.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, createServer, type Server } from 'node:tls';
import { after, describe, it } from 'node:test';
import { loadTlsMaterial, mutualTlsClientOptions, mutualTlsServerOptions, type TlsMaterial } from '../../src/core/tls.js';
import { FLOTILLA_BIN } from '../testkit/index.js';

function flotilla(args: string[]) {
  const res = spawnSync(process.execPath, [FLOTILLA_BIN, ...args], { encoding: 'utf8', timeout: 30_000 });
  return { code: res.status, stdout: res.stdout, stderr: res.stderr };
}

const dir = mkdtempSync(join(tmpdir(), 'flotilla-certs-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const ours = join(dir, 'ours');
const theirs = join(dir, 'theirs');

function material(d: string, name: string): Promise<TlsMaterial> {
  return loadTlsMaterial({ caFile: join(d, 'ca.crt'), certFile: join(d, `${name}.crt`), keyFile: join(d, `${name}.key`) });
}

/** Starts a mutual-TLS echo server; resolves with its port. */
async function mtlsServer(m: TlsMaterial): Promise<{ server: Server; port: number; peers: string[] }> {
  const peers: string[] = [];
  const server = createServer(mutualTlsServerOptions(m), (socket) => {
    peers.push(String(socket.getPeerCertificate().subject?.CN ?? ''));
    socket.end('hello');
  });
  server.on('tlsClientError', () => {});
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  return { server, port, peers };
}

function handshake(port: number, opts: object): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = connect({ host: '127.0.0.1', port, servername: 'localhost', ...opts }, () => {});
    let data = '';
    s.on('data', (d: Buffer) => (data += d.toString()));
    // Under TLS 1.3 a refused client certificate surfaces after the client's handshake: as an alert
    // (an error) or as a closed connection without the server's greeting.
    s.on('close', () => (data === 'hello' ? resolve(data) : reject(new Error(`connection closed without the greeting (got ${JSON.stringify(data)})`))));
    s.on('error', reject);
  });
}

describe('flotilla certs', () => {
  it('init makes a CA and process certificates with the names given; keys are private', () => {
    const r = flotilla(['certs', 'init', '--dir', ours, '--for', 'server=flotilla-server.lan,10.20.0.1', '--for', 'node-b']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /created the cluster CA/);
    const ca = new X509Certificate(readFileSync(join(ours, 'ca.crt')));
    assert.equal(ca.ca, true);
    const server = new X509Certificate(readFileSync(join(ours, 'server.crt')));
    assert.equal(server.ca, false);
    assert.ok(server.verify(ca.publicKey), 'signed by the CA');
    assert.equal(server.checkHost('flotilla-server.lan'), 'flotilla-server.lan');
    assert.equal(server.checkIP('10.20.0.1'), '10.20.0.1');
    assert.equal(server.checkIP('127.0.0.1'), '127.0.0.1', 'loopback is always a name');
    for (const f of ['ca.key', 'server.key', 'node-b.key']) assert.equal(statSync(join(ours, f)).mode & 0o777, 0o600, `${f} is 0600`);
  });

  it('refuses to overwrite a CA, names the file, and keeps the old one', () => {
    const before = readFileSync(join(ours, 'ca.crt'), 'utf8');
    const r = flotilla(['certs', 'init', '--dir', ours]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^flotilla: .*ca\.crt already exists; pass --force/m);
    assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
    assert.equal(readFileSync(join(ours, 'ca.crt'), 'utf8'), before);
  });

  it('issue adds a certificate signed by the existing CA; show prints it', () => {
    const r = flotilla(['certs', 'issue', 'agent-web-1', '--dir', ours, '--dns', 'web-1', '--ip', '10.20.0.7']);
    assert.equal(r.code, 0, r.stderr);
    const s = flotilla(['certs', 'show', join(ours, 'agent-web-1.crt'), '--json']);
    assert.equal(s.code, 0, s.stderr);
    const info = JSON.parse(s.stdout) as { subject: string; issuer: string; names: string; ca: boolean };
    assert.match(info.subject, /CN=agent-web-1/);
    assert.match(info.issuer, /CN=Flotilla cluster CA/);
    assert.match(info.names, /DNS:web-1/);
    assert.match(info.names, /IP Address:10.20.0.7/);
    assert.equal(info.ca, false);
  });

  it('rejects bad input with one clear line', () => {
    const cases: [string[], RegExp][] = [
      [['certs', 'issue', '../evil', '--dir', ours], /invalid certificate name/],
      [['certs', 'issue', 'x', '--dir', ours, '--ip', '10.0.0.300'], /invalid --ip "10.0.0.300"/],
      [['certs', 'issue', 'y', '--dir', ours, '--dns', 'bad_host!'], /invalid DNS name "bad_host!"/],
      [['certs', 'issue', 'z', '--dir', join(dir, 'none')], /cannot read the certificate .*ca\.crt: ENOENT/],
      [['certs', 'init', '--dir', join(dir, 'd'), '--days', '0'], /invalid --days/],
      [['certs', 'show', join(ours, 'ca.key')], /is not a PEM certificate/],
    ];
    for (const [args, message] of cases) {
      const r = flotilla(args);
      assert.notEqual(r.code, 0, args.join(' '));
      assert.match(r.stderr, message, args.join(' '));
      assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
    }
    assert.throws(() => statSync(join(ours, '../evil.crt')), 'nothing written outside the folder');
  });

  it('loadTlsMaterial refuses a certificate of another CA and a key that does not match', async () => {
    assert.equal(flotilla(['certs', 'init', '--dir', theirs, '--for', 'intruder']).code, 0);
    await assert.rejects(loadTlsMaterial({ caFile: join(ours, 'ca.crt'), certFile: join(theirs, 'intruder.crt'), keyFile: join(theirs, 'intruder.key') }), /is not signed by the CA/);
    await assert.rejects(loadTlsMaterial({ caFile: join(ours, 'ca.crt'), certFile: join(ours, 'server.crt'), keyFile: join(ours, 'node-b.key') }), /is not the key of/);
    writeFileSync(join(dir, 'garbage.crt'), 'not a certificate');
    await assert.rejects(loadTlsMaterial({ caFile: join(ours, 'ca.crt'), certFile: join(dir, 'garbage.crt'), keyFile: join(ours, 'server.key') }), /garbage\.crt is not a PEM certificate/);
  });

  it('mutual TLS: our certificate is accepted; another CA\'s or none is refused', async () => {
    const server = await mtlsServer(await material(ours, 'server'));
    try {
      const node = await material(ours, 'node-b');
      assert.equal(await handshake(server.port, mutualTlsClientOptions(node)), 'hello');
      assert.deepEqual(server.peers, ['node-b']);
      const intruder = await material(theirs, 'intruder');
      // The intruder trusts our CA (it has our ca.crt) but its own certificate is from another CA.
      await assert.rejects(handshake(server.port, { ...mutualTlsClientOptions(intruder), ca: node.ca }));
      await assert.rejects(handshake(server.port, { ca: node.ca, rejectUnauthorized: true }));
      // A client of the other cluster does not trust our server either.
      await assert.rejects(handshake(server.port, mutualTlsClientOptions(intruder)), /self-signed|unable to verify|certificate/i);
      assert.deepEqual(server.peers, ['node-b'], 'no refused client reached the application');
    } finally {
      await new Promise<void>((resolve) => server.server.close(() => resolve()));
    }
  });
});
