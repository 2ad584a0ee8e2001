/**
 * `flotilla certs`: the cluster's certificate authority and the certificates of its processes.
 *
 *   flotilla certs init [--dir D] [--for NAME[=SAN,...]]...   a new CA, and certificates for the named processes
 *   flotilla certs issue NAME [--dns H,...] [--ip A,...]      one more certificate signed by the CA in D
 *   flotilla certs show FILE                                  subject, issuer, names and validity of a certificate
 */
import { X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { isIP } from 'node:net';
import type { Command } from 'commander';
import { z } from 'zod';
import { Code, FlotillaError } from '../core/errors.js';
import { createCertificateAuthority, issueCertificate, readCertificatePair, writeCertificatePair, type CertificatePair } from '../core/tls.js';
import { action, table } from './run.js';

const defaultDir = './.flotilla/tls';

function days(value: string | undefined, fallback: number, flag: string): number {
  if (value === undefined) return fallback;
  const r = z.coerce.number().int().min(1).max(36_500).safeParse(value);
  if (!r.success) throw new FlotillaError(Code.INVALID_ARGUMENT, `invalid ${flag}: expected a whole number of days from 1 to 36500 (got ${JSON.stringify(value)})`);
  return r.data;
}

function list(value: string | undefined): string[] {
  return (value ?? '').split(',').map((s) => s.trim()).filter((s) => s !== '');
}

/** `NAME=host,10.0.0.2,...`: the process name and the names and addresses it is reached by. */
export function parseForSpec(spec: string): { name: string; dnsNames: string[]; ipAddresses: string[] } {
  const eq = spec.indexOf('=');
  const name = (eq < 0 ? spec : spec.slice(0, eq)).trim();
  const sans = eq < 0 ? [] : list(spec.slice(eq + 1));
  if (name === '') throw new FlotillaError(Code.INVALID_ARGUMENT, `invalid --for ${JSON.stringify(spec)}: expected NAME or NAME=host,address,...`);
  const ipAddresses = sans.filter((s) => isIP(s) !== 0);
  const dnsNames = sans.filter((s) => isIP(s) === 0);
  // Every process can be reached on loopback by a local client (flotilla up, health checks).
  for (const d of ['localhost']) if (!dnsNames.includes(d)) dnsNames.push(d);
  for (const ip of ['127.0.0.1', '::1']) if (!ipAddresses.includes(ip)) ipAddresses.push(ip);
  return { name, dnsNames, ipAddresses };
}

async function issueAndWrite(dir: string, ca: CertificatePair, spec: { name: string; dnsNames: string[]; ipAddresses: string[] }, validDays: number, force: boolean): Promise<[string, string]> {
  const pair = await issueCertificate(ca, { commonName: spec.name, dnsNames: spec.dnsNames, ipAddresses: spec.ipAddresses, days: validDays });
  const files = await writeCertificatePair(dir, spec.name, pair, { force });
  return [spec.name, `${files.certFile}  ${files.keyFile}  (${[...spec.dnsNames, ...spec.ipAddresses].join(', ')})`];
}

export function registerCerts(program: Command): void {
  const certs = program.command('certs').description('the cluster certificate authority and the TLS certificates of servers, nodes and agents');

  certs
    .command('init')
    .description('create a new cluster CA (ca.crt, ca.key) and, with --for, certificates for the named processes')
    .option('--dir <dir>', `where the files go (default ${defaultDir})`)
    .option('--name <name>', 'the CA\'s common name (default "Flotilla cluster CA")')
    .option('--days <n>', 'CA validity in days (default 3650)')
    .option('--cert-days <n>', 'validity of the process certificates in days (default 397)')
    .option('--for <name=sans>', 'a process certificate: NAME=host,10.0.0.2,... (repeatable)', (v: string, prev: string[]) => [...prev, v], [] as string[])
    .option('--force', 'replace existing files (the old CA stops being trusted by processes that reload)')
    .action(
      action(async (opts: { dir?: string; name?: string; days?: string; certDays?: string; for: string[]; force?: boolean }) => {
        const dir = opts.dir ?? defaultDir;
        const specs = opts.for.map(parseForSpec);
        const certDays = days(opts.certDays, 397, '--cert-days');
        const ca = await createCertificateAuthority({ ...(opts.name !== undefined ? { name: opts.name } : {}), days: days(opts.days, 3650, '--days') });
        const files = await writeCertificatePair(dir, 'ca', ca, { force: opts.force === true });
        const rows: [string, string][] = [['ca', `${files.certFile}  ${files.keyFile}`]];
        for (const s of specs) rows.push(await issueAndWrite(dir, ca, s, certDays, opts.force === true));
        process.stdout.write(`created the cluster CA in ${dir}\n${table(rows)}`);
        process.stdout.write(`keep ca.key private (it signs every certificate); copy ca.crt and each process's .crt/.key to its host.\n`);
      }),
    );

  certs
    .command('issue')
    .description('issue a certificate for one process, signed by the CA in --dir')
    .argument('<name>', 'the process name (its certificate common name), e.g. node-b')
    .option('--dir <dir>', `where the CA is and the files go (default ${defaultDir})`)
    .option('--dns <names>', 'host names the process is reached by, comma-separated')
    .option('--ip <addresses>', 'IP addresses the process is reached by, comma-separated')
    .option('--days <n>', 'validity in days (default 397)')
    .option('--force', 'replace an existing certificate of that name')
    .action(
      action(async (name: string, opts: { dir?: string; dns?: string; ip?: string; days?: string; force?: boolean }) => {
        const dir = opts.dir ?? defaultDir;
        const ca = await readCertificatePair(dir, 'ca');
        const spec = parseForSpec(`${name}=${[...list(opts.dns), ...list(opts.ip)].join(',')}`);
        for (const ip of list(opts.ip)) if (isIP(ip) === 0) throw new FlotillaError(Code.INVALID_ARGUMENT, `invalid --ip ${JSON.stringify(ip)}: not an IP address`);
        const row = await issueAndWrite(dir, ca, spec, days(opts.days, 397, '--days'), opts.force === true);
        process.stdout.write(table([row]));
      }),
    );

  certs
    .command('show')
    .description('print the subject, issuer, names and validity of a PEM certificate')
    .argument('<file>', 'a .crt file')
    .option('--json', 'print JSON')
    .action(
      action(async (file: string, opts: { json?: boolean }) => {
        let text: string;
        try {
          text = await readFile(file, 'utf8');
        } catch (err) {
          throw new FlotillaError(Code.INVALID_ARGUMENT, `cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
        }
        let c: X509Certificate;
        try {
          c = new X509Certificate(text);
        } catch {
          throw new FlotillaError(Code.INVALID_ARGUMENT, `${file} is not a PEM certificate`);
        }
        const info = {
          subject: c.subject.replaceAll('\n', ', '),
          issuer: c.issuer.replaceAll('\n', ', '),
          ca: c.ca,
          names: c.subjectAltName ?? '',
          validFrom: new Date(c.validFrom).toISOString(),
          validTo: new Date(c.validTo).toISOString(),
          serial: c.serialNumber,
          fingerprint256: c.fingerprint256,
        };
        if (opts.json === true) process.stdout.write(JSON.stringify(info, null, 2) + '\n');
        else process.stdout.write(table(Object.entries(info).map(([k, v]) => [k, String(v)])));
      }),
    );
}
