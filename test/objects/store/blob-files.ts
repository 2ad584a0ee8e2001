/** The replica files (names ending in `~`) under a node's objects directory, found by walking it. */
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';

export async function blobFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (d: string): Promise<void> => {
    for (const e of await readdir(d, { withFileTypes: true }).catch(() => [])) {
      if (e.isDirectory()) await walk(join(d, e.name));
      else if (e.name.endsWith('~')) out.push(join(d, e.name));
    }
  };
  await walk(dir);
  return out;
}
