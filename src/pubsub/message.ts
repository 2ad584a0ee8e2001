/**
 * The message model of scheduled messaging: what a publisher sends, the limits it must respect, and the
 * validation that turns a request body into a `NewMessage`. Validation happens here, at the edge; the
 * rest of the module trusts these types.
 */
import { z } from 'zod';
import { parseDuration } from '../core/duration.js';
import { Code, FlotillaError } from '../core/errors.js';

/** How a message's data is carried: a JSON value, or bytes as base64. */
export type DataEncoding = 'json' | 'base64';

/** Limits of the broker (defaults in `defaultLimits`). */
export interface PubsubLimits {
  /** Largest encoded data of one message (JSON text, or the decoded bytes). Default 65 536. */
  maxDataBytes: number;
  /** Farthest deliverAt accepted, from now. Default 366 days. */
  maxDelayMs: number;
  /** Longest ttl accepted. Default 366 days. */
  maxTtlMs: number;
}

export const defaultLimits: PubsubLimits = {
  maxDataBytes: 64 * 1024,
  maxDelayMs: 366 * 86_400_000,
  maxTtlMs: 366 * 86_400_000,
};

/**
 * Channel names: 1-255 characters of letters, digits and `_-.:@/=`, or an internal channel (below).
 * `public:` channels need no token.
 */
export const CHANNEL_RE = /^[A-Za-z0-9_\-.:@/=]{1,255}$/;
export const PUBLIC_PREFIX = 'public:';
/**
 * The reserved prefix of the server's internal channels (`$flotilla.members`, `$flotilla.agents`,
 * `$flotilla.flows`): only the server publishes on them; subscribing needs a channel token like any
 * non-public channel.
 */
export const INTERNAL_PREFIX = '$flotilla.';
const INTERNAL_RE = /^\$flotilla\.[A-Za-z0-9_\-.:@/=]{1,200}$/;

export function isPublicChannel(channel: string): boolean {
  return channel.startsWith(PUBLIC_PREFIX);
}

export function isInternalChannel(channel: string): boolean {
  return channel.startsWith(INTERNAL_PREFIX);
}

export function validateChannel(channel: unknown): string {
  if (typeof channel !== 'string' || !(CHANNEL_RE.test(channel) || INTERNAL_RE.test(channel))) {
    throw new FlotillaError(Code.INVALID_ARGUMENT, `invalid channel ${JSON.stringify(channel)}: expected 1-255 characters of letters, digits and _-.:@/=`);
  }
  return channel;
}

/** A message accepted for delivery (stored before the publisher gets its answer). */
export interface NewMessage {
  channel: string;
  /** JSON text (encoding json) or base64 (encoding base64). */
  data: string;
  encoding: DataEncoding;
  /** When to deliver, ms since the epoch. */
  deliverAtMs: number;
  /** Not delivered after this time (ms since the epoch); undefined: no expiry. */
  expiresAtMs: number | undefined;
  idempotencyKey: string | undefined;
}

export type MessageState = 'scheduled' | 'delivered' | 'cancelled' | 'expired';

export interface StoredMessage extends NewMessage {
  id: string;
  state: MessageState;
  createdAtMs: number;
  deliveredAtMs: number | undefined;
}

/** What travels to subscribers (and between servers): the message content, without local offsets. */
export interface Publication {
  id: string;
  channel: string;
  data: string;
  encoding: DataEncoding;
  deliverAtMs: number;
}

/** A publication in a channel's history on this server: its offset in the channel's stream. */
export interface ChannelEntry extends Publication {
  offset: number;
  publishedAtMs: number;
}

const timeOrDuration = z.union([z.number(), z.string()]);

/** The body of `POST /api/v1/publish`. */
export const publishRequestSchema = z
  .object({
    channel: z.string(),
    /** Any JSON value. */
    data: z.unknown().optional(),
    /** Bytes, base64-encoded (instead of data). */
    dataBase64: z.string().optional(),
    /** Absolute time: ISO 8601 text or ms since the epoch. */
    deliverAt: timeOrDuration.optional(),
    /** Relative time: `10m`, `1h30m` or ms. */
    delay: timeOrDuration.optional(),
    /** Drop the message if it cannot be delivered within this long after deliverAt (`30s`, or ms). */
    ttl: timeOrDuration.optional(),
    idempotencyKey: z.string().min(1).max(128).optional(),
  })
  .strict();
export type PublishRequest = z.infer<typeof publishRequestSchema>;

function durationValue(v: string | number, what: string): number {
  if (typeof v === 'number') {
    if (!Number.isFinite(v) || v < 0) throw new FlotillaError(Code.INVALID_ARGUMENT, `${what} must be a non-negative number of ms, got ${v}`);
    return Math.round(v);
  }
  const parsed = parseDuration(v);
  if (parsed.error !== undefined) throw new FlotillaError(Code.INVALID_ARGUMENT, `invalid ${what}: ${parsed.error}`);
  return parsed.value;
}

/** Parses an absolute time: ISO 8601 (with a zone) or ms since the epoch. */
export function parseTime(v: string | number, what = 'deliverAt'): number {
  if (typeof v === 'number') {
    if (!Number.isFinite(v) || v < 0) throw new FlotillaError(Code.INVALID_ARGUMENT, `${what} must be ms since the epoch, got ${v}`);
    return Math.round(v);
  }
  if (/^\d+$/.test(v)) return Number(v);
  if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})$/.test(v)) {
    throw new FlotillaError(Code.INVALID_ARGUMENT, `invalid ${what} ${JSON.stringify(v)}: expected an ISO 8601 time with a zone (2026-12-01T09:00:00Z) or ms since the epoch`);
  }
  const ms = Date.parse(v);
  if (Number.isNaN(ms)) throw new FlotillaError(Code.INVALID_ARGUMENT, `invalid ${what} ${JSON.stringify(v)}: not a real date`);
  return ms;
}

/**
 * Validates a publish request against the limits. A deliverAt in the past means "now"; one farther than
 * `maxDelayMs` is rejected.
 */
export function validatePublish(body: unknown, nowMs: number, limits: PubsubLimits = defaultLimits): NewMessage {
  const parsed = publishRequestSchema.safeParse(body);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const path = issue.path.length > 0 ? issue.path.join('.') : 'body';
    throw new FlotillaError(Code.INVALID_ARGUMENT, `invalid publish request: ${path}: ${issue.message}`);
  }
  const req = parsed.data;
  const channel = validateChannel(req.channel);
  if (isInternalChannel(channel)) {
    throw new FlotillaError(Code.PERMISSION_DENIED, `channel ${channel} is internal: names starting with ${INTERNAL_PREFIX} are reserved for the server's own messages`);
  }
  let data: string;
  let encoding: DataEncoding;
  if (req.dataBase64 !== undefined) {
    if (req.data !== undefined) throw new FlotillaError(Code.INVALID_ARGUMENT, 'give either data or dataBase64, not both');
    if (!/^[A-Za-z0-9+/]*={0,2}$/.test(req.dataBase64) || req.dataBase64.length % 4 !== 0) {
      throw new FlotillaError(Code.INVALID_ARGUMENT, 'dataBase64 is not valid base64');
    }
    const size = Buffer.byteLength(req.dataBase64, 'base64');
    if (size > limits.maxDataBytes) {
      throw new FlotillaError(Code.RESOURCE_EXHAUSTED, `message data is ${size} bytes; the limit is ${limits.maxDataBytes}`, { retryable: false });
    }
    data = req.dataBase64;
    encoding = 'base64';
  } else {
    if (req.data === undefined) throw new FlotillaError(Code.INVALID_ARGUMENT, 'invalid publish request: data (any JSON value) or dataBase64 is required');
    data = JSON.stringify(req.data);
    encoding = 'json';
    const size = Buffer.byteLength(data, 'utf8');
    if (size > limits.maxDataBytes) {
      throw new FlotillaError(Code.RESOURCE_EXHAUSTED, `message data is ${size} bytes of JSON; the limit is ${limits.maxDataBytes}`, { retryable: false });
    }
  }
  if (req.deliverAt !== undefined && req.delay !== undefined) throw new FlotillaError(Code.INVALID_ARGUMENT, 'give either deliverAt or delay, not both');
  let deliverAtMs = nowMs;
  if (req.deliverAt !== undefined) deliverAtMs = Math.max(nowMs, parseTime(req.deliverAt));
  if (req.delay !== undefined) deliverAtMs = nowMs + durationValue(req.delay, 'delay');
  if (deliverAtMs - nowMs > limits.maxDelayMs) {
    throw new FlotillaError(
      Code.INVALID_ARGUMENT,
      `deliverAt ${new Date(deliverAtMs).toISOString()} is too far away: messages can be scheduled at most ${Math.round(limits.maxDelayMs / 86_400_000)} days ahead`,
    );
  }
  let expiresAtMs: number | undefined;
  if (req.ttl !== undefined) {
    const ttl = durationValue(req.ttl, 'ttl');
    if (ttl > limits.maxTtlMs) throw new FlotillaError(Code.INVALID_ARGUMENT, `ttl is too long: at most ${Math.round(limits.maxTtlMs / 86_400_000)} days`);
    expiresAtMs = deliverAtMs + ttl;
  }
  return { channel, data, encoding, deliverAtMs, expiresAtMs, idempotencyKey: req.idempotencyKey };
}

/** The wire form of a publication sent to a subscriber. */
export interface PublicationFrame {
  channel: string;
  offset: number;
  epoch: string;
  id: string;
  data?: unknown;
  dataBase64?: string;
  deliverAt: number;
  publishedAt: number;
  duplicate?: true;
}

/** Renders an entry as the JSON text of a `pub` frame body (data inlined without re-parsing). */
export function publicationJson(entry: ChannelEntry, epoch: string, duplicate = false): string {
  const dataPart = entry.encoding === 'json' ? `"data":${entry.data}` : `"dataBase64":${JSON.stringify(entry.data)}`;
  return (
    `{"channel":${JSON.stringify(entry.channel)},"offset":${entry.offset},"epoch":${JSON.stringify(epoch)},"id":${JSON.stringify(entry.id)},` +
    `${dataPart},"deliverAt":${entry.deliverAtMs},"publishedAt":${entry.publishedAtMs}${duplicate ? ',"duplicate":true' : ''}}`
  );
}
