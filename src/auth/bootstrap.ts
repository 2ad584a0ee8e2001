/**
 * The server's first tokens: an admin token when the store holds no live one (written to
 * <data-dir>/admin-token, mode 0600, and shown once), and the join token nodes and agents present
 * (<data-dir>/join-token, 0600; created again when the file's token is missing or no longer live).
 */
import { chmod, readFile, writeFile, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { Code, FlotillaError } from '../core/errors.js';
import type { Logger } from '../core/log.js';
import type { Coord } from '../coord/index.js';
import { createToken, isLive, listTokens, TOKENS_PREFIX } from './token-store.js';
import { parseToken, secretMatches, tokenRecordSchema } from './tokens.js';

export const ADMIN_TOKEN_FILE = 'admin-token';
export const JOIN_TOKEN_FILE = 'join-token';

export interface BootstrapResult {
  /** The admin token, when this start created it (shown once). */
  createdAdminToken?: string;
  /** Path of the admin token file (whether or not this start wrote it). */
  adminTokenFile: string;
  /** The join token this server hands to nodes and uses for its own internal calls. */
  joinToken: string;
  joinTokenFile: string;
}

/** Writes `text` to `path` readable by the owner only. */
export async function writeSecretFile(path: string, text: string): Promise<void> {
  await writeFile(path, `${text}\n`, { mode: 0o600 });
  await chmod(path, 0o600);
}

/** The token in a file, trimmed; undefined when the file does not exist. */
export async function readTokenFile(path: string): Promise<string | undefined> {
  try {
    const text = (await readFile(path, 'utf8')).trim();
    return text === '' ? undefined : text;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new FlotillaError(Code.CONFIG_INVALID, `cannot read the token file ${path}: ${(err as Error).message}`, { cause: err });
  }
}

async function isLiveToken(coord: Coord, text: string, role: string): Promise<boolean> {
  let parsed;
  try {
    parsed = parseToken(text);
  } catch {
    return false;
  }
  const kv = await coord.get(TOKENS_PREFIX + parsed.id);
  if (kv === undefined) return false;
  const r = tokenRecordSchema.safeParse(JSON.parse(kv.value.toString('utf8')));
  return r.success && r.data.role === role && isLive(r.data) && secretMatches(r.data, parsed.secret);
}

export async function bootstrapTokens(options: { coord: Coord; dataDir: string; logger: Logger; joinToken?: string }): Promise<BootstrapResult> {
  const { coord, dataDir, logger } = options;
  await mkdir(dataDir, { recursive: true });
  const adminTokenFile = join(dataDir, ADMIN_TOKEN_FILE);
  const joinTokenFile = join(dataDir, JOIN_TOKEN_FILE);
  const result: BootstrapResult = { adminTokenFile, joinToken: '', joinTokenFile };

  const tokens = await listTokens(coord);
  if (!tokens.some((t) => t.role === 'admin' && isLive(t))) {
    const t = await createToken(coord, { name: 'bootstrap admin', role: 'admin', createdBy: 'bootstrap' });
    await writeSecretFile(adminTokenFile, t.token);
    result.createdAdminToken = t.token;
    logger.warn({ file: adminTokenFile, id: t.record.id }, 'created the first admin token (shown once; kept in the file, mode 0600)');
  }

  if (options.joinToken !== undefined) {
    if (!(await isLiveToken(coord, options.joinToken, 'cluster'))) {
      throw new FlotillaError(Code.CONFIG_INVALID, 'the given --join-token is not a live cluster token of this cluster');
    }
    result.joinToken = options.joinToken;
    return result;
  }
  const existing = await readTokenFile(joinTokenFile);
  if (existing !== undefined && (await isLiveToken(coord, existing, 'cluster'))) {
    result.joinToken = existing;
  } else {
    const t = await createToken(coord, { name: 'join', role: 'cluster', createdBy: 'bootstrap' });
    await writeSecretFile(joinTokenFile, t.token);
    result.joinToken = t.token;
    logger.info({ file: joinTokenFile, id: t.record.id }, 'created the join token nodes and agents present (--join-token or FLOTILLA_JOIN_TOKEN)');
  }
  return result;
}
