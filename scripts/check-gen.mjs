// Fails when src/gen/ is not what `buf generate` makes from proto/ (generated code is never hand-edited
// and always committed).
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';

function list(dir, base = dir, out = new Map()) {
  if (!existsSync(dir)) return out;
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) list(p, base, out);
    else out.set(relative(base, p), readFileSync(p, 'utf8'));
  }
  return out;
}

const tmp = mkdtempSync(join(tmpdir(), 'flotilla-gen-'));
try {
  const res = spawnSync('npx', ['--no-install', 'buf', 'generate', '-o', tmp], { stdio: 'inherit' });
  if (res.status !== 0) process.exit(res.status ?? 1);
  const want = list(join(tmp, 'src', 'gen'));
  const have = list('src/gen');
  const problems = [];
  for (const [file, text] of want) {
    if (!have.has(file)) problems.push('missing: src/gen/' + file);
    else if (have.get(file) !== text) problems.push('out of date: src/gen/' + file);
  }
  for (const file of have.keys()) if (!want.has(file)) problems.push('not generated from proto/: src/gen/' + file);
  if (problems.length) {
    console.error(problems.join('\n'));
    console.error('check-gen: run `npm run generate` and commit src/gen/');
    process.exit(1);
  }
} finally {
  rmSync(tmp, { recursive: true, force: true });
}
