/**
 * Agent labels (`flotilla agent --labels gpu=true,zone=eu`): what a workflow task's
 * `runs_on: {labels: {...}}` selects agents by. One set of rules for both sides: a key is 1-63 letters,
 * digits, `.`, `_`, `-`, `/`, starting and ending with a letter or digit; a value is 0-63 letters, digits,
 * `.`, `_`, `-`, starting and ending with a letter or digit.
 */
import { z } from 'zod';

const LABEL_KEY = /^[A-Za-z0-9](?:[A-Za-z0-9._/-]{0,61}[A-Za-z0-9])?$/;
const LABEL_VALUE = /^(?:[A-Za-z0-9](?:[A-Za-z0-9._-]{0,61}[A-Za-z0-9])?)?$/;

/** Most labels per agent or per selector. */
export const MAX_LABELS = 32;

/** Why a label is malformed, or undefined when it is well formed. */
export function labelProblem(key: string, value: string): string | undefined {
  if (!LABEL_KEY.test(key)) return `label key ${JSON.stringify(key)}: 1-63 letters, digits, '.', '_', '-', '/', starting and ending with a letter or digit`;
  if (!LABEL_VALUE.test(value)) return `label ${key}: value ${JSON.stringify(value)}: at most 63 letters, digits, '.', '_', '-', starting and ending with a letter or digit`;
  return undefined;
}

/** Parses `k=v,k2=v2` (empty: no labels). */
export function parseLabelList(text: string): { labels: Record<string, string>; error?: undefined } | { labels?: undefined; error: string } {
  const labels: Record<string, string> = {};
  for (const part of text.split(',').map((p) => p.trim()).filter((p) => p !== '')) {
    const eq = part.indexOf('=');
    if (eq < 0) return { error: `${JSON.stringify(part)} is not KEY=VALUE` };
    const [key, value] = [part.slice(0, eq).trim(), part.slice(eq + 1).trim()];
    const bad = labelProblem(key, value);
    if (bad !== undefined) return { error: bad };
    if (Object.hasOwn(labels, key)) return { error: `label ${key} given twice` };
    labels[key] = value;
  }
  if (Object.keys(labels).length > MAX_LABELS) return { error: `more than ${MAX_LABELS} labels` };
  return { labels };
}

/** True when `labels` has every key of `selector` with the same value. */
export function labelsMatch(labels: Readonly<Record<string, string>>, selector: Readonly<Record<string, string>>): boolean {
  return Object.entries(selector).every(([k, v]) => Object.hasOwn(labels, k) && labels[k] === v);
}

/** `k=v,...` as a flag or variable, or a mapping in the YAML config file. */
export const agentLabelsSchema = z
  .union([z.string(), z.record(z.string(), z.union([z.string(), z.number(), z.boolean()]))])
  .transform((v, ctx) => {
    const text = typeof v === 'string' ? v : Object.entries(v).map(([k, x]) => `${k}=${String(x)}`).join(',');
    const r = parseLabelList(text);
    if (r.error !== undefined) {
      ctx.addIssue({ code: 'custom', message: r.error });
      return z.NEVER;
    }
    return r.labels;
  });
