// A node:test reporter that prints how long each test file's tests took, longest first, one
// `SECONDS PATH` line per file: the format of scripts/slow-tests.txt. `node scripts/run-tests.mjs --times
// FILE` writes it to FILE next to the usual output. The time is the sum of the file's top-level tests and
// suites as the file's own process measured them (what starting the process and loading it costs is not in
// it), which is what ordering the files needs.
import { relative } from 'node:path';

export default async function* testTimes(source) {
  const seconds = new Map();
  for await (const event of source) {
    if ((event.type === 'test:pass' || event.type === 'test:fail') && event.data.nesting === 0 && event.data.file !== undefined) {
      const file = relative(process.cwd(), event.data.file);
      seconds.set(file, (seconds.get(file) ?? 0) + (event.data.details.duration_ms ?? 0) / 1000);
    }
  }
  const rows = [...seconds].filter(([file]) => file.endsWith('.test.ts')).sort((a, b) => b[1] - a[1]);
  for (const [file, s] of rows) yield `${s.toFixed(0).padStart(4)} ${file}\n`;
}
