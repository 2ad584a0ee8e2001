/**
 * A real PostgreSQL server for tests (Debian's package, installed by scripts/test-deps.sh): a fresh
 * cluster in a temp dir made with initdb, started in the foreground on a free loopback port as the
 * `postgres` user (PostgreSQL refuses to run as root), and always stopped.
 */
import { execFileSync } from 'node:child_process';
import { chownSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Cleanup } from './cleanup.js';
import type { ProcessHandle } from './process.js';
import pg from 'pg';
import { startProcess } from './process.js';
import { tempDir } from './ports.js';

export interface PostgresProcess extends ProcessHandle {
  /** postgres://postgres@127.0.0.1:PORT/postgres */
  readonly url: string;
}

function binDir(): string {
  const versions = readdirSync('/usr/lib/postgresql').sort((a, b) => Number(b) - Number(a));
  if (versions.length === 0) throw new Error('PostgreSQL server binaries not found under /usr/lib/postgresql (run scripts/test-deps.sh)');
  return join('/usr/lib/postgresql', versions[0]!, 'bin');
}

function postgresUser(): { uid: number; gid: number } {
  const uid = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim());
  const gid = Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).trim());
  return { uid, gid };
}

/** Starts PostgreSQL on a free 127.0.0.1 port with trust authentication and waits until it accepts connections. */
export async function startPostgres(opts: { t?: Cleanup } = {}): Promise<PostgresProcess> {
  const bin = binDir();
  const { uid, gid } = postgresUser();
  const dir = await tempDir(opts.t, 'flotilla-pg-');
  chownSync(dir, uid, gid);
  const data = join(dir, 'data');
  execFileSync(join(bin, 'initdb'), ['-D', data, '-A', 'trust', '-U', 'postgres', '--no-sync'], { uid, gid, stdio: 'pipe', cwd: dir });
  const h = await startProcess({
    name: 'postgres',
    command: join(bin, 'postgres'),
    ports: ['pg'],
    uid,
    gid,
    cwd: dir,
    dataDir: dir,
    ...(opts.t ? { t: opts.t } : {}),
    args: ({ port }) => ['-D', data, '-p', String(port('pg')), '-k', dir, '-c', 'listen_addresses=127.0.0.1', '-c', 'fsync=off'],
    ready: async (p) => {
      const client = new pg.Client({ connectionString: `postgres://postgres@127.0.0.1:${p.port('pg')}/postgres`, connectionTimeoutMillis: 1000 });
      try {
        await client.connect();
        await client.query('SELECT 1');
        return true;
      } catch {
        return false;
      } finally {
        await client.end().catch(() => undefined);
      }
    },
  });
  return Object.assign(h, { url: `postgres://postgres@127.0.0.1:${h.port('pg')}/postgres` });
}
