// `npm run build`: compiles src/ into dist/ (tsc) and the dashboard into dist/web (vite), then records a
// hash of every input in dist/.build-stamp. With --if-changed (what `npm test` runs) nothing is rebuilt
// when the stamp matches the sources as they are now, so a fresh clone builds once (npm ci's prepare)
// rather than twice.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = dirname(dirname(fileURLToPath(import.meta.url)));
const stampFile = join(root, 'dist', '.build-stamp');
const inputs = ['src', 'package.json', 'package-lock.json', 'tsconfig.json', 'tsconfig.build.json'];

function files(path, out) {
  const st = statSync(path, { throwIfNoEntry: false });
  if (st === undefined) return out;
  if (st.isDirectory()) {
    for (const name of readdirSync(path).sort()) files(join(path, name), out);
  } else if (st.isFile()) {
    out.push(path);
  }
  return out;
}

/** A hash of every input's path and bytes. */
function sourceHash() {
  const h = createHash('sha256');
  for (const f of inputs.flatMap((i) => files(join(root, i), []))) {
    h.update(relative(root, f)).update('\0').update(readFileSync(f)).update('\0');
  }
  return h.digest('hex');
}

function readStamp() {
  try {
    return readFileSync(stampFile, 'utf8').trim();
  } catch {
    return '';
  }
}

function run(command, args) {
  const res = spawnSync(command, args, { cwd: root, stdio: 'inherit' });
  if (res.status !== 0) process.exit(res.status ?? 1);
}

const hash = sourceHash();
const built = ['dist/cli/main.js', 'dist/web/index.html'].every((f) => statSync(join(root, f), { throwIfNoEntry: false }) !== undefined);
if (process.argv.includes('--if-changed') && built && readStamp() === hash) {
  console.log('build: dist/ is up to date with the sources');
  process.exit(0);
}
const bin = (name) => join(root, 'node_modules', '.bin', name);
run(bin('tsc'), ['-p', 'tsconfig.build.json']);
run(bin('vite'), ['build', '--config', 'src/web/vite.config.ts']);
mkdirSync(dirname(stampFile), { recursive: true });
writeFileSync(stampFile, `${hash}\n`);
