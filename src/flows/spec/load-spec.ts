/**
 * A spec with its executor files: what the CLI reads from disk and sends to the server (which cannot
 * read the user's disk), and what a run is pinned to.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { basename, dirname, isAbsolute, resolve } from 'node:path';
import { Code, FlotillaError } from '../../core/errors.js';
import { parseFlowSpec, type ParseSpecResult } from './parse-spec.js';
import type { SpecProblem } from './spec-types.js';

export interface SpecBundle {
  /** The spec's file name, for messages. */
  fileName: string;
  yaml: string;
  /** Executor files by the path the spec names them with. */
  files: Record<string, string>;
}

/** Largest spec or executor file accepted (bytes). */
export const maxSpecFileBytes = 4 * 1024 * 1024;

/** Reads a spec file and the executor files it names; the parse result tells whether it is valid. */
export function loadFlowSpecFile(path: string): { bundle: SpecBundle; result: ParseSpecResult } {
  if (!existsSync(path) || !statSync(path).isFile()) throw new FlotillaError(Code.INVALID_ARGUMENT, `spec file ${path} not found`);
  if (statSync(path).size > maxSpecFileBytes) throw new FlotillaError(Code.INVALID_ARGUMENT, `spec file ${path} is larger than ${maxSpecFileBytes} bytes`);
  const yaml = readFileSync(path, 'utf8');
  const dir = dirname(resolve(path));
  const files: Record<string, string> = {};
  const result = parseFlowSpec(yaml, {
    readFile: (rel) => {
      const full = isAbsolute(rel) ? rel : resolve(dir, rel);
      if (!existsSync(full) || !statSync(full).isFile() || statSync(full).size > maxSpecFileBytes) return undefined;
      const text = readFileSync(full, 'utf8');
      files[rel] = text;
      return text;
    },
  });
  return { bundle: { fileName: basename(path), yaml, files }, result };
}

/** Parses a bundle as the server receives it. */
export function parseBundle(bundle: SpecBundle): ParseSpecResult {
  return parseFlowSpec(bundle.yaml, { readFile: (rel) => bundle.files[rel] });
}

/** `FILE:LINE:COL: message`, one per line. */
export function formatProblems(fileName: string, problems: readonly SpecProblem[]): string {
  return problems.map((p) => `${fileName}:${p.line}:${p.col}: ${p.message}`).join('\n');
}
