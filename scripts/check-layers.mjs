// Checks the layering of src/ (ARCHITECTURE.md, section 4): every relative import is resolved to the
// file it names, and a layer may import only from layers below it:
//   core -> coord -> {cluster, auth} -> {monitor, kv, objects, flows, pubsub} -> http -> {server, node} -> cli
// A capability uses another capability only through its index.ts; server and node do not import each
// other; generated code (src/gen) may be imported by any layer. Prints each violation and exits 1.
// Usage: node scripts/check-layers.mjs [ROOT]   (default: this repository)
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';

const root = resolve(process.argv[2] ?? resolve(import.meta.dirname, '..'));
const src = join(root, 'src');
const capabilities = ['monitor', 'kv', 'objects', 'flows', 'pubsub'];
const rank = { gen: -1, core: 0, coord: 1, cluster: 2, auth: 2, http: 4, server: 5, node: 5, cli: 6, web: 7 };
for (const c of capabilities) rank[c] = 3;

function files(dir, out = []) {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) files(p, out);
    else if (p.endsWith('.ts') && !p.endsWith('.d.ts')) out.push(p);
  }
  return out;
}

const layerOf = (file) => relative(src, file).split(sep)[0];
const importRe = /(?:^|[\s;])(?:import|export)\s(?:[^'"]*?\sfrom\s)?['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)/g;

const problems = [];
for (const file of files(src)) {
  const from = layerOf(file);
  if (from === 'gen' || from === 'web' || rank[from] === undefined) continue; // src/web is the browser app, bundled apart
  const text = readFileSync(file, 'utf8');
  for (const m of text.matchAll(importRe)) {
    const spec = m[1] ?? m[2];
    if (!spec.startsWith('.')) continue;
    const target = resolve(dirname(file), spec).replace(/\.js$/, '.ts');
    if (!target.startsWith(src + sep)) continue;
    const to = layerOf(target);
    if (to === from || to === 'gen') continue;
    const where = `${relative(root, file)} imports ${relative(root, target)}`;
    if (rank[to] === undefined) continue;
    if (rank[to] > rank[from] || (rank[to] === rank[from] && !capabilities.includes(to))) {
      problems.push(`${where}: src/${from} must not import from src/${to}`);
    } else if (capabilities.includes(to) && relative(join(src, to), target) !== 'index.ts') {
      if (capabilities.includes(from) || rank[from] > rank[to]) {
        problems.push(`${where}: use src/${to} only through src/${to}/index.ts`);
      }
    }
  }
}
if (problems.length > 0) {
  console.error(problems.join('\n'));
  console.error(`check-layers: ${problems.length} import(s) break the layering (ARCHITECTURE.md, section 4)`);
  process.exit(1);
}
