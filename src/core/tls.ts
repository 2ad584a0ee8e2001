/**
 * The cluster's own certificate authority and the TLS material of each process (PLAT-4): a CA made by
 * `flotilla certs init`, and per-process certificates signed by it that serve both as server and as
 * client certificates, so server, nodes and agents authenticate each other (mutual TLS).
 *
 * Keys are ECDSA P-256 (fast handshakes, small certificates, supported by every TLS 1.3 peer). Files are
 * PEM: `ca.crt`, `ca.key`, `<name>.crt`, `<name>.key`; keys are written 0600, every file atomically (a
 * temp file renamed into place), and an existing file is never overwritten unless asked.
 */
import 'reflect-metadata';
import { randomBytes, webcrypto, X509Certificate, createPrivateKey } from 'node:crypto';
import { isIP } from 'node:net';
import { chmod, mkdir, readFile, rename, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as x509 from '@peculiar/x509';
import { Code, FlotillaError } from './errors.js';

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

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
  const der = await webcrypto.subtle.exportKey('pkcs8', key);
  return x509.PemConverter.encode(der, 'PRIVATE KEY');
}

/** Creates a self-signed certificate authority for one cluster. */
export async function createCertificateAuthority(options: { name?: string; days?: number } = {}): Promise<CertificatePair> {
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
