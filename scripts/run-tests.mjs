// Runs every test file under test/ with node's test runner (TypeScript through tsx), two files at a time.
// `npm test -- test/coord` runs only the files under the given paths.
//
// The files start in this order: first those listed in scripts/slow-tests.txt (longest first), then every
// other file alphabetically. Starting the long files first keeps both workers busy until the end instead
// of one waiting for a long file that started last. A file missing from the list still runs; a listed file
// that no longer exists is reported and skipped. `node --test` sorts the files it is given, so the files
// are run through node:test's run() in a child process started with `--import tsx` (run() starts each
// file's process with its parent's --import). To refresh the list: `node scripts/run-tests.mjs --times
// /tmp/times.txt`, then keep its top lines.
import { spawnSync } from 'node:child_process';
import { createWriteStream, existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { fileURLToPath } from 'node:url';

const ROOT = dirname(dirname(fileURLToPath(import.meta.url)));
const SLOW_LIST = join(ROOT, 'scripts', 'slow-tests.txt');
/** Set in the child that runs the files: its arguments are `[--times FILE] -- FILE...` in run order. */
const CHILD = 'FLOTILLA_RUN_TESTS_CHILD';

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

/** `--times FILE` (anywhere in argv) removed from argv; returns FILE or undefined. */
function takeTimes(argv) {
  const at = argv.indexOf('--times');
  if (at === -1) return undefined;
  const [, file] = argv.splice(at, 2);
  if (file === undefined) {
    console.error('run-tests: --times needs a file');
    process.exit(2);
  }
  return file;
}

async function runFiles(argv) {
  const { run } = await import('node:test');
  const { spec } = await import('node:test/reporters');
  const times = takeTimes(argv);
  const files = argv.slice(argv.indexOf('--') + 1);
  let failed = 0;
  const stream = run({ files, concurrency: 2 });
  stream.on('test:fail', (data) => {
    if (data.todo === undefined || data.todo === false) failed++;
  });
  const outputs = [pipeline(stream.compose(new spec()), process.stdout, { end: false })];
  if (times !== undefined) {
    const { default: testTimes } = await import('./test-times-reporter.mjs');
    outputs.push(pipeline(stream.compose(testTimes), createWriteStream(times)));
  }
  await Promise.all(outputs);
  process.exitCode = failed > 0 ? 1 : 0;
}

if (process.env[CHILD] === '1') {
  await runFiles(process.argv.slice(2));
} else {
  const argv = process.argv.slice(2);
  const times = takeTimes(argv);
  const roots = argv;
  const files = (roots.length ? roots : ['test']).flatMap((r) => collect(r, []));
  if (files.length === 0) {
    console.error('run-tests: no test files found under ' + (roots.join(' ') || 'test'));
    process.exit(1);
  }
  const args = ['--import', 'tsx', fileURLToPath(import.meta.url), ...(times !== undefined ? ['--times', times] : []), '--', ...longestFirst(files)];
  const res = spawnSync(process.execPath, args, { stdio: 'inherit', env: { ...process.env, [CHILD]: '1' } });
  process.exit(res.status ?? 1);
}
