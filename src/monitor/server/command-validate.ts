/**
 * The commands an agent understands and the shape of their payloads (monitor.proto, `Command`). The server
 * checks them before routing, so a typo is a clear error at once instead of a refusal from the agent.
 */
import { z } from 'zod';
import { Code, FlotillaError } from '../../core/errors.js';
import { MAX_INTERVAL_SECONDS, MIN_INTERVAL_SECONDS } from '../monitor-config.js';

const metricPayload = z.object({ metric: z.string().min(1).max(200) }).strict();
const empty = z.object({}).strict();

/** Action name -> payload schema. */
export const commandPayloads = {
  /** {"interval": seconds}: the agent's collection interval. */
  set_interval: z.object({ interval: z.number().min(MIN_INTERVAL_SECONDS).max(MAX_INTERVAL_SECONDS) }).strict(),
  /** {"metric": name}: start collecting a metric group. */
  enable_metric: metricPayload,
  /** {"metric": name}: stop collecting a metric group. */
  disable_metric: metricPayload,
  /** {}: the agent answers with its config in result_json. */
  get_config: empty,
  /** {}: the agent answers at once. */
  ping: empty,
} as const;

export type CommandAction = keyof typeof commandPayloads;
export const COMMAND_ACTIONS = Object.keys(commandPayloads) as CommandAction[];

function isAction(action: string): action is CommandAction {
  return Object.hasOwn(commandPayloads, action);
}

/**
 * Checks `action` and its JSON payload ('' means {}); returns the payload re-serialised, or throws
 * INVALID_ARGUMENT naming what is wrong.
 */
export function validateCommand(action: string, payloadJson: string): string {
  if (!isAction(action)) {
    throw new FlotillaError(Code.INVALID_ARGUMENT, `unknown action ${JSON.stringify(action.slice(0, 100))} (known: ${COMMAND_ACTIONS.join(', ')})`);
  }
  if (payloadJson.length > 64 * 1024) throw new FlotillaError(Code.INVALID_ARGUMENT, `payload of ${action} is too large (${payloadJson.length} bytes, at most 65536)`);
  let raw: unknown;
  try {
    raw = JSON.parse(payloadJson.trim() === '' ? '{}' : payloadJson);
  } catch (err) {
    throw new FlotillaError(Code.INVALID_ARGUMENT, `payload of ${action} is not valid JSON: ${(err as Error).message}`);
  }
  const parsed = commandPayloads[action].safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const where = issue.path.length > 0 ? `"${issue.path.join('.')}"` : 'payload';
    throw new FlotillaError(Code.INVALID_ARGUMENT, `bad payload for ${action}: ${where}: ${issue.message}`);
  }
  return JSON.stringify(parsed.data);
}
