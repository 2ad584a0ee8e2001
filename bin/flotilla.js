#!/usr/bin/env node
// The `flotilla` command. Runs the compiled code in dist/ (built by `npm install` through the prepare
// script, or `npm run build`).
import { existsSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { dirname, join } from 'node:path';

const root = dirname(dirname(fileURLToPath(import.meta.url)));
const entry = join(root, 'dist', 'cli', 'main.js');
if (!existsSync(entry)) {
  process.stderr.write('flotilla: dist/ is missing; run `npm run build` (or `npm install`) in ' + root + '\n');
  process.exit(1);
}
const { main } = await import(pathToFileURL(entry).href);
await main(process.argv);
