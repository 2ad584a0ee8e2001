/**
 * `npm run bench -- web`: the dashboard's initial JavaScript, gzipped: every script and modulepreload
 * that dist/web/index.html loads before the app renders (goal: under 300 KiB). Also prints the CSS and
 * the whole build for reference. Needs `npm run build` first.
 */
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { Code, FlotillaError } from '../../src/core/errors.js';

const GOAL_KIB = 300;
const ROOT = join(import.meta.dirname, '..', '..', 'dist', 'web');

function gz(path: string): { raw: number; gzip: number } {
  const data = readFileSync(path);
  return { raw: data.length, gzip: gzipSync(data, { level: 9 }).length };
}

function kib(n: number): string {
  return `${(n / 1024).toFixed(1)} KiB`;
}

function walk(dir: string, out: string[] = []): string[] {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) walk(p, out);
    else out.push(p);
  }
  return out;
}

export async function runWebBench(args: readonly string[]): Promise<void> {
  if (args.includes('--help')) {
    console.log('usage: npm run bench -- web   (reads dist/web; run `npm run build` first)');
    return;
  }
  if (args.length > 0) throw new FlotillaError(Code.INVALID_ARGUMENT, `web takes no flags (got ${args.join(' ')})`);
  const indexPath = join(ROOT, 'index.html');
  if (!existsSync(indexPath)) throw new FlotillaError(Code.FAILED_PRECONDITION, `${indexPath} is missing: run \`npm run build\` first`);
  const html = readFileSync(indexPath, 'utf8');
  const refs = [
    ...[...html.matchAll(/<script\b[^>]*\bsrc="([^"]+)"/g)].map((m) => m[1]!),
    ...[...html.matchAll(/<link\b[^>]*\brel="modulepreload"[^>]*\bhref="([^"]+)"/g)].map((m) => m[1]!),
  ];
  const css = [...html.matchAll(/<link\b[^>]*\brel="stylesheet"[^>]*\bhref="([^"]+)"/g)].map((m) => m[1]!);
  if (refs.length === 0) throw new FlotillaError(Code.FAILED_PRECONDITION, 'index.html loads no script');
  let total = 0;
  for (const ref of [...new Set(refs)]) {
    const s = gz(join(ROOT, ref.replace(/^\//, '')));
    total += s.gzip;
    console.log(`  js   ${ref.padEnd(40)} ${kib(s.raw).padStart(10)} raw  ${kib(s.gzip).padStart(10)} gzip`);
  }
  for (const ref of css) {
    const s = gz(join(ROOT, ref.replace(/^\//, '')));
    console.log(`  css  ${ref.padEnd(40)} ${kib(s.raw).padStart(10)} raw  ${kib(s.gzip).padStart(10)} gzip`);
  }
  const all = walk(ROOT).reduce((n, f) => n + statSync(f).size, 0);
  console.log(`initial JavaScript: ${kib(total)} gzipped (goal < ${GOAL_KIB} KiB: ${total < GOAL_KIB * 1024 ? 'met' : 'NOT met'}); whole build ${kib(all)} raw`);
  console.log(`ratio to goal: ${(total / (GOAL_KIB * 1024)).toFixed(3)}`);
}
