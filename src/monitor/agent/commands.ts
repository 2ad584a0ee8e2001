/**
 * Commands from the server, applied at once and acked with their id: set_interval {"interval": seconds},
 * enable_metric {"metric": name}, disable_metric {"metric": name}, get_config {}, ping {}. A bad payload,
 * an unknown action or an expired command gets ok=false and a message saying why; nothing is half-applied.
 */
import { MAX_INTERVAL_SECONDS, MIN_INTERVAL_SECONDS } from '../monitor-config.js';
import type { MetricCatalog } from './metric-catalog.js';
import type { SettingsHolder } from './settings.js';

export const COMMAND_ACTIONS = ['set_interval', 'enable_metric', 'disable_metric', 'get_config', 'ping'] as const;

export interface IncomingCommand {
  id: string;
  action: string;
  payloadJson: string;
  /** Ms since the epoch after which the command is not applied; 0 = none. */
  deadlineMs: number;
}

export interface CommandResult {
  id: string;
  ok: boolean;
  message: string;
  resultJson: string;
}

export interface CommandContext {
  settings: SettingsHolder;
  catalog: MetricCatalog;
  hostname: string;
  /** Default: Date.now. */
  now?: () => number;
}

const MAX_PAYLOAD_CHARS = 64 * 1024;

function parsePayload(text: string): { value: Record<string, unknown>; error?: undefined } | { error: string } {
  const t = text.trim() === '' ? '{}' : text;
  if (t.length > MAX_PAYLOAD_CHARS) return { error: `payload too large (${t.length} characters, at most ${MAX_PAYLOAD_CHARS})` };
  let raw: unknown;
  try {
    raw = JSON.parse(t);
  } catch (err) {
    return { error: `payload is not valid JSON: ${(err as Error).message}` };
  }
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) return { error: 'payload must be a JSON object' };
  return { value: raw as Record<string, unknown> };
}

function formatSeconds(s: number): string {
  return `${Number(s.toFixed(3))}s`;
}

export function applyCommand(cmd: IncomingCommand, ctx: CommandContext): CommandResult {
  const fail = (message: string): CommandResult => ({ id: cmd.id, ok: false, message, resultJson: '' });
  const ok = (message: string, result?: unknown): CommandResult => ({
    id: cmd.id,
    ok: true,
    message,
    resultJson: result === undefined ? '' : JSON.stringify(result),
  });
  const now = (ctx.now ?? Date.now)();
  if (cmd.deadlineMs > 0 && now > cmd.deadlineMs) {
    return fail(`command expired ${now - cmd.deadlineMs} ms before it arrived; not applied`);
  }
  const payload = parsePayload(cmd.payloadJson);
  if (payload.error !== undefined) return fail(`${cmd.action}: ${payload.error}`);
  const p = payload.value;
  const current = ctx.settings.get();

  switch (cmd.action) {
    case 'set_interval': {
      const v = p.interval;
      if (typeof v !== 'number' || !Number.isFinite(v)) return fail('set_interval: payload needs {"interval": seconds} with a number');
      if (v < MIN_INTERVAL_SECONDS || v > MAX_INTERVAL_SECONDS) {
        return fail(`set_interval: interval must be between ${MIN_INTERVAL_SECONDS} and ${MAX_INTERVAL_SECONDS} seconds, got ${v}`);
      }
      ctx.settings.set({ ...current, intervalSeconds: v }, 'command');
      return ok(`interval set to ${formatSeconds(v)}`, ctx.settings.asConfig());
    }
    case 'enable_metric':
    case 'disable_metric': {
      const name = p.metric;
      if (typeof name !== 'string' || name === '') return fail(`${cmd.action}: payload needs {"metric": name}`);
      if (!ctx.catalog.isKnown(name)) return fail(`${cmd.action}: unknown metric ${JSON.stringify(name)} (known: ${ctx.catalog.describeKnown()})`);
      const enabled = ctx.catalog.enabledMetrics(current.metrics);
      const names = ctx.catalog.expand(name);
      const enabling = cmd.action === 'enable_metric';
      if (names.every((m) => enabled.has(m) === enabling)) {
        return ok(`${name} already ${enabling ? 'enabled' : 'disabled'}`, ctx.settings.asConfig());
      }
      for (const m of names) {
        if (enabling) enabled.add(m);
        else enabled.delete(m);
      }
      ctx.settings.set({ ...current, metrics: ctx.catalog.normalise(enabled) }, 'command');
      return ok(`${name} ${enabling ? 'enabled' : 'disabled'}`, ctx.settings.asConfig());
    }
    case 'get_config':
      return ok('current config', ctx.settings.asConfig());
    case 'ping':
      return ok('pong', { hostname: ctx.hostname, timeMs: now });
    default:
      return fail(`unknown action ${JSON.stringify(cmd.action)} (known: ${COMMAND_ACTIONS.join(', ')})`);
  }
}
