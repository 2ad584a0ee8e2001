/**
 * The cluster's own certificate authority and the TLS material of each process (PLAT-4): a CA made by
 * `flotilla certs init`, and per-process certificates signed by it that serve both as server and as
 * client certificates, so server, nodes and agents authenticate each other (mutual TLS).
 *
 * Keys are ECDSA P-256 (fast handshakes, small certificates, supported by every TLS 1.3 peer). Files are
 * PEM: `ca.crt`, `ca.key`, `<name>.crt`, `<name>.key`; keys are written 0600, every file atomically (a
 * temp file renamed into place), and an existing file is never overwritten unless asked.
 */
import { randomBytes, webcrypto, X509Certificate, createPrivateKey } from 'node:crypto';
import { isIP } from 'node:net';
import { chmod, mkdir, readFile, rename, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Agent as HttpAgent, request as httpRequest, type AgentOptions, type ClientRequest, type IncomingMessage, type RequestOptions } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import type * as X509 from '@peculiar/x509';
import { z } from 'zod';
import { Code, FlotillaError } from './errors.js';

let x509Module: Promise<typeof X509> | undefined;

/** @peculiar/x509 (~18 MiB of memory with its dependencies), loaded when a certificate is made: not by every process that imports this module. */
function loadX509(): Promise<typeof X509> {
  x509Module ??= (async () => {
    await import('reflect-metadata');
    const m = await import('@peculiar/x509');
    m.cryptoProvider.set(webcrypto as unknown as Parameters<typeof m.cryptoProvider.set>[0]);
    return m;
  })();
  return x509Module;
}

const algorithm = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;
const dayMs = 86_400_000;

/** A certificate and its private key, PEM. */
export interface CertificatePair {
  certPem: string;
  keyPem: string;
}

export interface IssueOptions {
  /** The certificate's common name: the process's name (server, node-a, agent-web-1, ...). */
  commonName: string;
  /** Host names the process is reached by (subject alternative names). */
  dnsNames?: readonly string[];
  /** IP addresses the process is reached by (subject alternative names). */
  ipAddresses?: readonly string[];
  /** Validity in days. Default 397 (the longest public CAs allow; renew yearly). */
  days?: number;
}

const namePattern = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/;

function serial(): string {
  const b = randomBytes(16);
  b[0] = b[0]! & 0x7f; // positive
  return b.toString('hex');
}

function checkDays(days: number, what: string): void {
  if (!Number.isInteger(days) || days < 1 || days > 36_500) {
    throw new FlotillaError(Code.INVALID_ARGUMENT, `${what} validity must be a whole number of days from 1 to 36500 (got ${days})`);
  }
}

async function exportKey(key: webcrypto.CryptoKey): Promise<string> {
  const x509 = await loadX509();
  const der = await webcrypto.subtle.exportKey('pkcs8', key);
  return x509.PemConverter.encode(der, 'PRIVATE KEY');
}

/** Creates a self-signed certificate authority for one cluster. */
export async function createCertificateAuthority(options: { name?: string; days?: number } = {}): Promise<CertificatePair> {
  const x509 = await loadX509();
  const name = options.name ?? 'Flotilla cluster CA';
  const days = options.days ?? 3650;
  checkDays(days, 'CA');
  const keys = await webcrypto.subtle.generateKey(algorithm, true, ['sign', 'verify']);
  const now = Date.now();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serial(),
    name: [{ CN: [name] }, { O: ['Flotilla'] }],
    notBefore: new Date(now - 60_000),
    notAfter: new Date(now + days * dayMs),
    keys,
    signingAlgorithm: algorithm,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return { certPem: cert.toString('pem'), keyPem: await exportKey(keys.privateKey) };
}

/** Issues a process certificate signed by `ca`, valid for both server and client authentication. */
export async function issueCertificate(ca: CertificatePair, options: IssueOptions): Promise<CertificatePair> {
  const x509 = await loadX509();
  if (!namePattern.test(options.commonName)) {
    throw new FlotillaError(Code.INVALID_ARGUMENT, `invalid certificate name ${JSON.stringify(options.commonName)}: use letters, digits, '.', '_' and '-' (at most 63)`);
  }
  const days = options.days ?? 397;
  checkDays(days, 'certificate');
  const dnsNames = [...(options.dnsNames ?? [])];
  const ips = [...(options.ipAddresses ?? [])];
  for (const d of dnsNames) {
    if (!/^(\*\.)?[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/.test(d)) {
      throw new FlotillaError(Code.INVALID_ARGUMENT, `invalid DNS name ${JSON.stringify(d)} for a certificate`);
    }
  }
  for (const ip of ips) {
    if (isIP(ip) === 0) throw new FlotillaError(Code.INVALID_ARGUMENT, `invalid IP address ${JSON.stringify(ip)} for a certificate`);
  }
  const caCert = new x509.X509Certificate(ca.certPem);
  const caKey = await webcrypto.subtle.importKey('pkcs8', x509.PemConverter.decodeFirst(ca.keyPem), algorithm, false, ['sign']);
  const keys = await webcrypto.subtle.generateKey(algorithm, true, ['sign', 'verify']);
  const now = Date.now();
  const notAfter = Math.min(now + days * dayMs, caCert.notAfter.getTime());
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: serial(),
    subject: [{ CN: [options.commonName] }, { O: ['Flotilla'] }],
    issuer: caCert.subject,
    notBefore: new Date(now - 60_000),
    notAfter: new Date(notAfter),
    publicKey: keys.publicKey,
    signingKey: caKey,
    signingAlgorithm: algorithm,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyAgreement, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth]),
      new x509.SubjectAlternativeNameExtension([
        ...dnsNames.map((value) => ({ type: 'dns' as const, value })),
        ...ips.map((value) => ({ type: 'ip' as const, value })),
      ]),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
      await x509.AuthorityKeyIdentifierExtension.create(caCert),
    ],
  });
  return { certPem: cert.toString('pem'), keyPem: await exportKey(keys.privateKey) };
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}

async function writeAtomic(path: string, text: string, mode: number): Promise<void> {
  const tmp = `${path}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  await writeFile(tmp, text, { mode, flag: 'wx' });
  await chmod(tmp, mode);
  await rename(tmp, path);
}

/**
 * Writes `<dir>/<name>.crt` and `<dir>/<name>.key` (0600). Refuses to replace existing files unless
 * `force`, so a CA or a key is never lost by a repeated command.
 */
export async function writeCertificatePair(dir: string, name: string, pair: CertificatePair, options: { force?: boolean } = {}): Promise<{ certFile: string; keyFile: string }> {
  const certFile = join(dir, `${name}.crt`);
  const keyFile = join(dir, `${name}.key`);
  if (options.force !== true) {
    for (const f of [certFile, keyFile]) {
      if (await exists(f)) throw new FlotillaError(Code.ALREADY_EXISTS, `${f} already exists; pass --force to replace it`);
    }
  }
  await mkdir(dir, { recursive: true, mode: 0o700 });
  await writeAtomic(keyFile, pair.keyPem, 0o600);
  await writeAtomic(certFile, pair.certPem, 0o644);
  return { certFile, keyFile };
}

async function readPem(file: string, what: string): Promise<string> {
  try {
    return await readFile(file, 'utf8');
  } catch (err) {
    throw new FlotillaError(Code.CONFIG_INVALID, `cannot read the ${what} ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, { cause: err });
  }
}

/** Reads a PEM pair written by writeCertificatePair. */
export async function readCertificatePair(dir: string, name: string): Promise<CertificatePair> {
  return { certPem: await readPem(join(dir, `${name}.crt`), 'certificate'), keyPem: await readPem(join(dir, `${name}.key`), 'private key') };
}

/** What a process needs for mutual TLS: the cluster CA, its certificate and its key. */
export interface TlsMaterial {
  ca: string;
  cert: string;
  key: string;
  /** The certificate's common name. */
  name: string;
  notAfter: Date;
}

export interface TlsFiles {
  caFile: string;
  certFile: string;
  keyFile: string;
}

/**
 * Loads and checks TLS files: the certificate must be signed by the CA, match the key and be valid now.
 * Every failure is a CONFIG_INVALID naming the file, so a process refuses to start with bad material.
 */
export async function loadTlsMaterial(files: TlsFiles, nowMs = Date.now()): Promise<TlsMaterial> {
  const ca = await readPem(files.caFile, 'CA certificate');
  const cert = await readPem(files.certFile, 'certificate');
  const key = await readPem(files.keyFile, 'private key');
  let caX: X509Certificate;
  let certX: X509Certificate;
  try {
    caX = new X509Certificate(ca);
  } catch (err) {
    throw new FlotillaError(Code.CONFIG_INVALID, `${files.caFile} is not a PEM certificate`, { cause: err });
  }
  try {
    certX = new X509Certificate(cert);
  } catch (err) {
    throw new FlotillaError(Code.CONFIG_INVALID, `${files.certFile} is not a PEM certificate`, { cause: err });
  }
  let privateKey;
  try {
    privateKey = createPrivateKey(key);
  } catch (err) {
    throw new FlotillaError(Code.CONFIG_INVALID, `${files.keyFile} is not a PEM private key`, { cause: err });
  }
  if (!caX.ca) throw new FlotillaError(Code.CONFIG_INVALID, `${files.caFile} is not a CA certificate`);
  if (!certX.verify(caX.publicKey)) throw new FlotillaError(Code.CONFIG_INVALID, `${files.certFile} is not signed by the CA in ${files.caFile}`);
  if (!certX.checkPrivateKey(privateKey)) throw new FlotillaError(Code.CONFIG_INVALID, `${files.keyFile} is not the key of ${files.certFile}`);
  const notBefore = Date.parse(certX.validFrom);
  const notAfter = Date.parse(certX.validTo);
  if (nowMs < notBefore) throw new FlotillaError(Code.CONFIG_INVALID, `${files.certFile} is not valid before ${new Date(notBefore).toISOString()}`);
  if (nowMs > notAfter) throw new FlotillaError(Code.CONFIG_INVALID, `${files.certFile} expired on ${new Date(notAfter).toISOString()}; issue a new one with flotilla certs issue`);
  const cn = /CN=([^\n,]+)/.exec(certX.subject)?.[1] ?? '';
  return { ca, cert, key, name: cn, notAfter: new Date(notAfter) };
}

/** Options for a TLS server that requires a client certificate from the same CA (mutual TLS). */
export function mutualTlsServerOptions(m: TlsMaterial): { ca: string; cert: string; key: string; requestCert: true; rejectUnauthorized: true; minVersion: 'TLSv1.2' } {
  return { ca: m.ca, cert: m.cert, key: m.key, requestCert: true, rejectUnauthorized: true, minVersion: 'TLSv1.2' };
}

/** Options for a TLS client that presents its certificate and trusts only the cluster CA. */
export function mutualTlsClientOptions(m: TlsMaterial): { ca: string; cert: string; key: string; rejectUnauthorized: true; minVersion: 'TLSv1.2' } {
  return { ca: m.ca, cert: m.cert, key: m.key, rejectUnauthorized: true, minVersion: 'TLSv1.2' };
}

// ---------------------------------------------------------------------------------------------------
// The process's TLS setting (PLAT-4): set once by each composition root (server, node, agent, CLI), read
// by every listener (listenH2c, createHttpServer, the transfer port) and every client (createGrpcConnection,
// the KV unary client, the coordination client, HTTP calls between processes). Unset: plain h2c/HTTP.

/**
 * What a process uses on the wire: the cluster CA it trusts and, for a process that serves or presents a
 * certificate, its certificate and key. The CLI given only `--tls-ca` has the CA alone (it can reach the
 * HTTPS API, whose client certificate is optional, but not the mutual-TLS gRPC listeners).
 */
export interface ProcessTls {
  ca: string;
  /** The CA file, named in error messages. */
  caFile: string;
  cert?: string;
  key?: string;
  /** The certificate's common name. */
  name?: string;
  certFile?: string;
}

let processTlsSetting: ProcessTls | undefined;

/** Sets (or, with undefined, clears) the process's TLS. Call once, before any listener or client starts. */
export function setProcessTls(tls: ProcessTls | undefined): void {
  processTlsSetting = tls;
}

/** The process's TLS setting, undefined when TLS is off. */
export function processTls(): ProcessTls | undefined {
  return processTlsSetting;
}

/** The scheme of URLs between processes: https when TLS is on. */
export function clusterScheme(): 'http' | 'https' {
  return processTlsSetting !== undefined ? 'https' : 'http';
}

/** TLS options of a client of another cluster process: the CA only, and the certificate when there is one. */
export function clusterClientTlsOptions(t: ProcessTls): { ca: string; cert?: string; key?: string; rejectUnauthorized: true; minVersion: 'TLSv1.2' } {
  return { ca: t.ca, ...(t.cert !== undefined && t.key !== undefined ? { cert: t.cert, key: t.key } : {}), rejectUnauthorized: true, minVersion: 'TLSv1.2' };
}

/** Options of a server that requires a client certificate signed by the cluster CA (gRPC listeners). */
export function clusterServerTlsOptions(t: ProcessTls): ReturnType<typeof mutualTlsServerOptions> {
  if (t.cert === undefined || t.key === undefined) {
    throw new FlotillaError(Code.CONFIG_INVALID, 'TLS is on but this process has no certificate: give --tls-dir/--tls-name or --tls-cert and --tls-key');
  }
  return { ca: t.ca, cert: t.cert, key: t.key, requestCert: true, rejectUnauthorized: true, minVersion: 'TLSv1.2' };
}

/** An http(s) request to another cluster process: https with the CA (and the process's certificate) when TLS is on. */
export function clusterRequest(options: RequestOptions, callback?: (res: IncomingMessage) => void): ClientRequest {
  const t = processTlsSetting;
  if (t === undefined) return httpRequest(options, callback);
  return httpsRequest({ ...clusterClientTlsOptions(t), ...options }, callback);
}

/** A keep-alive agent for clusterRequest (an https.Agent when TLS is on). */
export function clusterAgent(options: AgentOptions): HttpAgent {
  const t = processTlsSetting;
  return t === undefined ? new HttpAgent(options) : new HttpsAgent({ ...clusterClientTlsOptions(t), ...options });
}

/** TLS flags as parsed by the config modules of server, node and agent. */
export interface TlsFlags {
  tlsDir?: string | undefined;
  tlsName?: string | undefined;
  tlsCa?: string | undefined;
  tlsCert?: string | undefined;
  tlsKey?: string | undefined;
}

/**
 * The files named by the TLS flags: `--tls-dir DIR` (DIR/ca.crt, DIR/NAME.crt, DIR/NAME.key with NAME from
 * `--tls-name`, default `defaultName`) or all three of `--tls-ca/--tls-cert/--tls-key` (each overrides the
 * directory's file). Undefined when no TLS flag is given (TLS off).
 */
export function resolveTlsFiles(f: TlsFlags, defaultName: string): TlsFiles | undefined {
  const any = [f.tlsDir, f.tlsCa, f.tlsCert, f.tlsKey].some((v) => v !== undefined && v !== '');
  if (!any) {
    if (f.tlsName !== undefined && f.tlsName !== '') throw new FlotillaError(Code.CONFIG_INVALID, '--tls-name needs --tls-dir');
    return undefined;
  }
  const name = f.tlsName !== undefined && f.tlsName !== '' ? f.tlsName : defaultName;
  const dir = f.tlsDir !== undefined && f.tlsDir !== '' ? f.tlsDir : undefined;
  const pick = (explicit: string | undefined, file: string, flag: string): string => {
    if (explicit !== undefined && explicit !== '') return explicit;
    if (dir === undefined) throw new FlotillaError(Code.CONFIG_INVALID, `TLS needs ${flag} (or --tls-dir holding ca.crt, NAME.crt and NAME.key)`);
    return join(dir, file);
  };
  return { caFile: pick(f.tlsCa, 'ca.crt', '--tls-ca'), certFile: pick(f.tlsCert, `${name}.crt`, '--tls-cert'), keyFile: pick(f.tlsKey, `${name}.key`, '--tls-key') };
}

/** Loads the material named by the flags (CONFIG_INVALID naming the file when it is bad) and sets it as the process's TLS. */
export async function setupProcessTls(f: TlsFlags, defaultName: string): Promise<ProcessTls | undefined> {
  const files = resolveTlsFiles(f, defaultName);
  if (files === undefined) {
    setProcessTls(undefined);
    return undefined;
  }
  const m = await loadTlsMaterial(files);
  const t: ProcessTls = { ca: m.ca, caFile: files.caFile, cert: m.cert, key: m.key, name: m.name, certFile: files.certFile };
  setProcessTls(t);
  return t;
}

/** Reads a CA certificate alone (the CLI's `--tls-ca`): CONFIG_INVALID naming the file when it is not one. */
export async function loadTrustedCa(caFile: string): Promise<ProcessTls> {
  const ca = await readPem(caFile, 'CA certificate');
  let caX: X509Certificate;
  try {
    caX = new X509Certificate(ca);
  } catch (err) {
    throw new FlotillaError(Code.CONFIG_INVALID, `${caFile} is not a PEM certificate`, { cause: err });
  }
  if (!caX.ca) throw new FlotillaError(Code.CONFIG_INVALID, `${caFile} is not a CA certificate`);
  return { ca, caFile };
}

const tlsErrorCodes: Record<string, string> = {
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: 'not signed by',
  SELF_SIGNED_CERT_IN_CHAIN: 'not signed by',
  DEPTH_ZERO_SELF_SIGNED_CERT: 'not signed by',
  UNABLE_TO_GET_ISSUER_CERT: 'not signed by',
  UNABLE_TO_GET_ISSUER_CERT_LOCALLY: 'not signed by',
  CERT_SIGNATURE_FAILURE: 'not signed by',
  ERR_TLS_CERT_ALTNAME_INVALID: 'hostname',
  CERT_HAS_EXPIRED: 'expired',
  CERT_NOT_YET_VALID: 'expired',
};

/**
 * A TLS failure of a connection to `address` as a FlotillaError a person can act on, or undefined when
 * `err` is not one: an unknown CA, a name mismatch, an expired certificate, a server that refused our
 * certificate (or our lack of one), a plain-text peer.
 */
export function tlsFailure(err: unknown, address: string): FlotillaError | undefined {
  const seen = new Set<unknown>();
  let e: unknown = err;
  const t = processTlsSetting;
  const caFile = t?.caFile ?? 'the cluster CA file';
  while (e !== undefined && e !== null && !seen.has(e)) {
    seen.add(e);
    const code = (e as { code?: unknown }).code;
    const m = (e as { message?: unknown }).message;
    const msg = typeof m === 'string' ? m : '';
    const kind = typeof code === 'string' ? tlsErrorCodes[code] : undefined;
    if (kind === 'not signed by' && t === undefined) {
      return new FlotillaError(Code.UNAVAILABLE, `the certificate of ${address} is not signed by a CA this process trusts: pass --tls-ca FILE (env FLOTILLA_TLS_CA) with the cluster CA`, { cause: err });
    }
    if (kind === 'not signed by') {
      return new FlotillaError(Code.UNAVAILABLE, `the certificate of ${address} is not signed by the cluster CA in ${caFile}: give that process a certificate from this CA (flotilla certs issue) or trust its CA`, { cause: err });
    }
    if (kind === 'hostname') {
      return new FlotillaError(Code.UNAVAILABLE, `the certificate of ${address} does not name that host (${msg}): issue it with --dns/--ip for the address others dial (flotilla certs issue)`, { cause: err });
    }
    if (kind === 'expired') {
      return new FlotillaError(Code.UNAVAILABLE, `the certificate of ${address} is expired or not yet valid: issue a new one (flotilla certs issue) and restart that process`, { cause: err });
    }
    if (/alert certificate required|alert bad certificate|alert unknown ca|certificate unknown|sslv3 alert|tlsv1 alert|tlsv13 alert/i.test(msg) || /ERR_SSL_TLSV1?3?_ALERT|ERR_SSL_SSLV3_ALERT/.test(String(code))) {
      const mine = t?.cert !== undefined ? `this process's certificate${t.certFile !== undefined ? ` (${t.certFile})` : ''}` : 'a connection without a client certificate';
      const reason = /alert ([a-z ]+?)(?::|$)/i.exec(msg)?.[0]?.replace(/:$/, '') ?? msg.trim();
      return new FlotillaError(Code.UNAUTHENTICATED, `${address} refused ${mine} at the TLS handshake (${reason}): it needs a certificate signed by the cluster CA (--tls-dir/--tls-name)`, { cause: err });
    }
    if (/wrong version number|ERR_SSL_WRONG_VERSION_NUMBER|packet length too long/i.test(msg + String(code))) {
      return new FlotillaError(Code.UNAVAILABLE, `${address} does not speak TLS (${msg.trim()}): is TLS on there (--tls-dir)?`, { cause: err });
    }
    e = (e as { cause?: unknown }).cause;
  }
  return undefined;
}

/**
 * fetch() for calls between cluster processes: plain fetch without TLS; with the process's TLS, the same
 * request over https.request trusting only the cluster CA and presenting the process's certificate
 * (fetch cannot be given a CA). `url` may be http:// or https://: with TLS on it is sent as https://.
 */
export async function clusterFetch(url: string, init: { method?: string; headers?: Record<string, string>; body?: string; signal?: AbortSignal } = {}): Promise<Response> {
  const t = processTlsSetting;
  if (t === undefined) return fetch(url, init);
  const u = new URL(url.replace(/^http:\/\//, 'https://'));
  return new Promise<Response>((resolve, reject) => {
    const req = httpsRequest(
      {
        ...clusterClientTlsOptions(t),
        host: u.hostname.replace(/^\[|\]$/g, ''),
        port: u.port === '' ? 443 : Number(u.port),
        path: `${u.pathname}${u.search}`,
        method: init.method ?? 'GET',
        headers: { ...(init.headers ?? {}), ...(init.body !== undefined ? { 'content-length': String(Buffer.byteLength(init.body)) } : {}) },
        ...(init.signal !== undefined ? { signal: init.signal } : {}),
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.once('error', reject);
        res.once('end', () => {
          const headers = new Headers();
          for (const [k, v] of Object.entries(res.headers)) {
            if (v === undefined) continue;
            for (const one of Array.isArray(v) ? v : [v]) headers.append(k, one);
          }
          const status = res.statusCode ?? 502;
          const noBody = status === 204 || status === 304 || (init.method ?? 'GET') === 'HEAD';
          resolve(new Response(noBody ? null : Buffer.concat(chunks), { status, headers }));
        });
      },
    );
    req.once('error', (err) => reject(tlsFailure(err, u.host) ?? err));
    req.end(init.body);
  });
}

/** The TLS keys of the server's, a node's and the agent's configuration (flags --tls-*, env FLOTILLA_TLS_*, YAML). */
export const tlsConfigFields = {
  /** Directory holding ca.crt, NAME.crt and NAME.key (flotilla certs init/issue). Default: TLS off. */
  tlsDir: z.string().min(1).optional(),
  /** The certificate's name in --tls-dir. Default: the process's own name. */
  tlsName: z.string().min(1).optional(),
  /** The cluster CA certificate (overrides DIR/ca.crt). */
  tlsCa: z.string().min(1).optional(),
  /** This process's certificate (overrides DIR/NAME.crt). */
  tlsCert: z.string().min(1).optional(),
  /** This process's private key (overrides DIR/NAME.key). */
  tlsKey: z.string().min(1).optional(),
};
