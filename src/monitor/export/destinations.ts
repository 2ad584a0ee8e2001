/**
 * Remote-write destinations as the user writes them. On the command line (`--remote-write`, repeatable)
 * or in FLOTILLA_REMOTE_WRITE (several separated by spaces): `URL[;match=SELECTOR]...`, e.g.
 *
 *   http://influx:8086/api/v1/prom/write?db=hosts;match={__name__=~"node_.*"}
 *   http://influx:8086/api/v1/prom/write?db=containers;match={container!=""}
 *
 * A sample goes to a destination when it matches any of its selectors (none: every sample). In the YAML
 * config file, `remoteWrite` is a list of such strings or of mappings with the tuning keys:
 *
 *   remoteWrite:
 *     - url: http://influx:8086/api/v1/prom/write?db=hosts
 *       match: ['{__name__=~"node_.*"}']
 *       queueSamples: 100000     # batchSamples, flushInterval, timeout, minBackoff, maxBackoff too
 */
import { z } from 'zod';
import { parseDuration } from '../../core/duration.js';
import { DESTINATION_DEFAULTS, type DestinationConfig } from './remote-write.js';
import { parseSelector, type CompiledMatcher } from './selector.js';

function parseUrl(url: string): string | undefined {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return `not a URL: ${JSON.stringify(url)}`;
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') return `expected an http:// or https:// URL, got ${JSON.stringify(url)}`;
  return undefined;
}

function compileAll(selectors: readonly string[]): { value: CompiledMatcher[][]; error?: undefined } | { error: string } {
  const out: CompiledMatcher[][] = [];
  for (const s of selectors) {
    const p = parseSelector(s);
    if (p.error !== undefined) return { error: p.error };
    out.push(p.value);
  }
  return { value: out };
}

/** Parses `URL[;match=SELECTOR]...`. */
export function parseDestinationSpec(spec: string): { value: DestinationConfig; error?: undefined } | { error: string } {
  const parts = spec.trim().split(';match=');
  const url = parts[0]!.trim();
  const bad = parseUrl(url);
  if (bad !== undefined) return { error: bad };
  const match = compileAll(parts.slice(1));
  if (match.error !== undefined) return { error: match.error };
  return { value: { url, match: match.value, ...DESTINATION_DEFAULTS } };
}

const duration = z.union([
  z.number().int().positive(),
  z.string().transform((s, ctx) => {
    const p = parseDuration(s);
    if (p.error !== undefined || !(p.value > 0)) {
      ctx.addIssue({ code: 'custom', message: p.error ?? 'must be positive' });
      return z.NEVER;
    }
    return p.value;
  }),
]);

const objectSchema = z
  .object({
    url: z.string(),
    match: z.union([z.string(), z.array(z.string())]).optional(),
    queueSamples: z.number().int().min(1).max(100_000_000).optional(),
    batchSamples: z.number().int().min(1).max(1_000_000).optional(),
    flushInterval: duration.optional(),
    timeout: duration.optional(),
    minBackoff: duration.optional(),
    maxBackoff: duration.optional(),
  })
  .strict();

function fromObject(raw: z.infer<typeof objectSchema>): { value: DestinationConfig; error?: undefined } | { error: string } {
  const bad = parseUrl(raw.url);
  if (bad !== undefined) return { error: bad };
  const match = compileAll(raw.match === undefined ? [] : typeof raw.match === 'string' ? [raw.match] : raw.match);
  if (match.error !== undefined) return { error: match.error };
  return {
    value: {
      url: raw.url,
      match: match.value,
      queueSamples: raw.queueSamples ?? DESTINATION_DEFAULTS.queueSamples,
      batchSamples: raw.batchSamples ?? DESTINATION_DEFAULTS.batchSamples,
      flushIntervalMs: raw.flushInterval ?? DESTINATION_DEFAULTS.flushIntervalMs,
      timeoutMs: raw.timeout ?? DESTINATION_DEFAULTS.timeoutMs,
      minBackoffMs: raw.minBackoff ?? DESTINATION_DEFAULTS.minBackoffMs,
      maxBackoffMs: raw.maxBackoff ?? DESTINATION_DEFAULTS.maxBackoffMs,
    },
  };
}

/**
 * The config schema of `remoteWrite`: a string (one spec, or several separated by whitespace), or a list
 * of specs and mappings. Validated into DestinationConfig[] with the first problem as the message.
 */
export const remoteWriteSchema = z
  .union([z.string(), z.array(z.union([z.string(), objectSchema]))])
  .transform((raw, ctx) => {
    const items = typeof raw === 'string' ? raw.split(/\s+/).filter((s) => s !== '') : raw;
    const out: DestinationConfig[] = [];
    for (const [i, item] of items.entries()) {
      const r = typeof item === 'string' ? parseDestinationSpec(item) : fromObject(item);
      if (r.error !== undefined) {
        ctx.addIssue({ code: 'custom', message: `destination ${i + 1}: ${r.error}` });
        return z.NEVER;
      }
      out.push(r.value);
    }
    return out;
  });
