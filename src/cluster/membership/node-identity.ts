/** A node's stable id (kept in its data dir, so a restart is recognised as the same node) and per-start incarnation. */
import { randomUUID } from 'node:crypto';
import { mkdir, readFile, writeFile, rename } from 'node:fs/promises';
import { join } from 'node:path';
import { Code, FlotillaError } from '../../core/errors.js';

/** Reads `<dataDir>/node-id`, creating the directory and the id on first start. */
export async function loadOrCreateNodeId(dataDir: string): Promise<string> {
  const file = join(dataDir, 'node-id');
  try {
    await mkdir(dataDir, { recursive: true });
  } catch (err) {
    throw new FlotillaError(Code.CONFIG_INVALID, `cannot create data dir ${dataDir}: ${(err as Error).message}`, { cause: err });
  }
  try {
    const id = (await readFile(file, 'utf8')).trim();
    if (/^[0-9a-f-]{36}$/.test(id)) return id;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
      throw new FlotillaError(Code.CONFIG_INVALID, `cannot read ${file}: ${(err as Error).message}`, { cause: err });
    }
  }
  const id = randomUUID();
  await writeFile(`${file}.tmp`, id + '\n');
  await rename(`${file}.tmp`, file);
  return id;
}

export function newIncarnation(): string {
  return randomUUID();
}
