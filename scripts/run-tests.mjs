// Runs every test file under test/ with node's built-in test runner (TypeScript through tsx).
// `npm test -- test/coord` runs only the files under the given paths.
//
// Two files run at a time, started in this order: first the files listed in scripts/slow-tests.txt
// (longest first), then every other file alphabetically. Starting the long files first keeps both
// workers busy until the end instead of one waiting for a long file that started last. A file missing
// from the list still runs; a listed file that no longer exists is reported and skipped. To refresh the
// list: `node scripts/run-tests.mjs --times /tmp/times.txt`, then keep its top lines.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = dirname(dirname(fileURLToPath(import.meta.url)));
const SLOW_LIST = join(ROOT, 'scripts', 'slow-tests.txt');

function collect(path, out) {
  const st = statSync(path);
  if (st.isDirectory()) {
    for (const name of readdirSync(path).sort()) collect(join(path, name), out);
  } else if (path.endsWith('.test.ts')) {
    out.push(path);
  }
  return out;
}

/** The listed files, in list order: `SECONDS PATH` per line (PATH relative to the repository), `#` comments. */
function slowFiles() {
  if (!existsSync(SLOW_LIST)) return [];
  const out = [];
  for (const raw of readFileSync(SLOW_LIST, 'utf8').split('\n')) {
    const line = raw.replace(/#.*/, '').trim();
    if (line === '') continue;
    const path = line.split(/\s+/).at(-1);
    if (existsSync(join(ROOT, path))) out.push(path);
    else console.error(`run-tests: ${relative(ROOT, SLOW_LIST)} lists ${path}, which does not exist`);
  }
  return out;
}

/** The slow files first (in list order), then the others in their collected (alphabetical) order. */
function longestFirst(files) {
  const key = (f) => relative(ROOT, f);
  const byKey = new Map(files.map((f) => [key(f), f]));
  const first = slowFiles().filter((k) => byKey.has(k)).map((k) => byKey.get(k));
  const listed = new Set(first);
  return [...first, ...files.filter((f) => !listed.has(f))];
}

// `--times FILE`: also write each file's time to FILE (scripts/test-times-reporter.mjs), to refresh the list.
const argv = process.argv.slice(2);
const timesAt = argv.indexOf('--times');
const times = timesAt === -1 ? [] : argv.splice(timesAt, 2).slice(1);
if (timesAt !== -1 && times.length === 0) {
  console.error('run-tests: --times needs a file');
  process.exit(2);
}
const roots = argv;
const files = (roots.length ? roots : ['test']).flatMap((r) => collect(r, []));
if (files.length === 0) {
  console.error('run-tests: no test files found under ' + (roots.join(' ') || 'test'));
  process.exit(1);
}
const reporters = ['--test-reporter=spec', '--test-reporter-destination=stdout'];
for (const file of times) reporters.push(`--test-reporter=${join(ROOT, 'scripts', 'test-times-reporter.mjs')}`, `--test-reporter-destination=${file}`);
const args = ['--import', 'tsx', '--test', '--test-concurrency=2', ...reporters, ...longestFirst(files)];
const res = spawnSync(process.execPath, args, { stdio: 'inherit' });
process.exit(res.status ?? 1);
