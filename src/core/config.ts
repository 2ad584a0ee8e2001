/**
 * Configuration loading: command-line flags, then FLOTILLA_* environment variables, then a YAML file
 * (`--config FILE`), then the schema's defaults. Every value is validated by a zod schema at start; a bad
 * value is a CONFIG_INVALID error naming the key, where it came from, and what was expected.
 *
 * Keys are camelCase in code and YAML (`dataDir`), kebab-case as flags (`--data-dir`) and UPPER_SNAKE
 * with the FLOTILLA_ prefix in the environment (`FLOTILLA_DATA_DIR`).
 */
import { readFileSync } from 'node:fs';
import { parseDocument } from 'yaml';
import { z } from 'zod';
import { parseHostPort } from './address.js';

export { parseHostPort } from './address.js';
import { parseDuration } from './duration.js';
import { Code, FlotillaError } from './errors.js';

export type ConfigSource = 'flag' | 'env' | 'file' | 'default';

export interface LoadConfigOptions<S extends z.ZodObject> {
  schema: S;
  /** Values given as flags (only those the user set; no defaults). */
  flags?: Record<string, unknown>;
  /** Environment to read FLOTILLA_* from. Default process.env. */
  env?: NodeJS.ProcessEnv;
  /** A YAML file; its top-level keys are config keys. */
  file?: string;
}

export function flagName(key: string): string {
  return '--' + key.replace(/[A-Z]/g, (c) => '-' + c.toLowerCase());
}

export function envName(key: string): string {
  return 'FLOTILLA_' + key.replace(/[A-Z]/g, (c) => '_' + c).toUpperCase();
}

function describeSource(key: string, source: ConfigSource, file?: string): string {
  switch (source) {
    case 'flag':
      return flagName(key);
    case 'env':
      return envName(key);
    case 'file':
      return `${key} in ${file ?? 'the config file'}`;
    case 'default':
      return `${key} (default)`;
  }
}

function readYaml(file: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new FlotillaError(Code.CONFIG_INVALID, `cannot read config file ${file}: ${(err as Error).message}`, { cause: err });
  }
  const doc = parseDocument(text);
  if (doc.errors.length > 0) {
    const e = doc.errors[0]!;
    const where = e.linePos?.[0] ? ` at line ${e.linePos[0].line}, column ${e.linePos[0].col}` : '';
    throw new FlotillaError(Code.CONFIG_INVALID, `config file ${file} is not valid YAML${where}: ${e.message.split('\n')[0]}`);
  }
  const value: unknown = doc.toJS();
  if (value === null || value === undefined) return {};
  if (typeof value !== 'object' || Array.isArray(value)) {
    throw new FlotillaError(Code.CONFIG_INVALID, `config file ${file} must be a mapping of keys to values`);
  }
  return value as Record<string, unknown>;
}

/**
 * Merges the sources and validates. Environment values are strings; the schema should use
 * `z.coerce.number()` / `envBoolean` for non-string keys.
 */
export function loadConfig<S extends z.ZodObject>(options: LoadConfigOptions<S>): z.infer<S> {
  const keys = Object.keys(options.schema.shape);
  const env = options.env ?? process.env;
  const fromFile = options.file !== undefined ? readYaml(options.file) : {};
  const merged: Record<string, unknown> = {};
  const sources: Record<string, ConfigSource> = {};

  for (const key of Object.keys(fromFile)) {
    if (!keys.includes(key)) {
      throw new FlotillaError(Code.CONFIG_INVALID, `unknown key ${JSON.stringify(key)} in ${options.file}; known keys: ${keys.join(', ')}`, {
        details: { key },
      });
    }
  }
  for (const key of keys) {
    const flag = options.flags?.[key];
    const envValue = env[envName(key)];
    if (flag !== undefined) {
      merged[key] = flag;
      sources[key] = 'flag';
    } else if (envValue !== undefined && envValue !== '') {
      merged[key] = envValue;
      sources[key] = 'env';
    } else if (fromFile[key] !== undefined) {
      merged[key] = fromFile[key];
      sources[key] = 'file';
    } else {
      sources[key] = 'default';
    }
  }

  const result = options.schema.safeParse(merged);
  if (!result.success) {
    const issue = result.error.issues[0]!;
    const key = String(issue.path[0] ?? '');
    const where = key !== '' ? describeSource(key, sources[key] ?? 'default', options.file) : 'configuration';
    const got = key !== '' && merged[key] !== undefined ? ` (got ${JSON.stringify(merged[key])})` : '';
    throw new FlotillaError(Code.CONFIG_INVALID, `invalid ${where}: ${issue.message}${got}`, { details: { key } });
  }
  return result.data;
}

// Reusable field schemas.

/** host:port, with an IPv6 host in brackets ([::1]:2379); port 0 means any free port. */
export const hostPort = z.string().transform((s, ctx) => {
  const parsed = parseHostPort(s);
  if (parsed.error !== undefined) {
    ctx.addIssue({ code: 'custom', message: parsed.error });
    return z.NEVER;
  }
  return s.startsWith(':') ? `0.0.0.0${s}` : s;
});

/** Accepts booleans and the strings true/false/1/0/yes/no (environment values). */
export const envBoolean = z.union([
  z.boolean(),
  z.enum(['true', 'false', '1', '0', 'yes', 'no']).transform((s) => s === 'true' || s === '1' || s === 'yes'),
]);

/** A comma-separated list (flags, environment) or a YAML list. */
export const stringList = z.union([
  z.array(z.string()),
  z.string().transform((s) =>
    s
      .split(',')
      .map((x) => x.trim())
      .filter((x) => x !== ''),
  ),
]);

/** A duration in ms, from a number (ms) or a string such as `500ms`, `10s`, `5m`, `1h30m`. */
export const durationMs = z.union([
  z.number().int().nonnegative(),
  z.string().transform((s, ctx) => {
    const parsed = parseDuration(s);
    if (parsed.error !== undefined) {
      ctx.addIssue({ code: 'custom', message: parsed.error });
      return z.NEVER;
    }
    return parsed.value;
  }),
]);
