/**
 * Persistence of scheduled messaging on the server's SqlStore: the schedule (every accepted message, and
 * its state), and each channel's history on this server (offsets, epoch). A message is stored before the
 * publisher gets its answer; delivery marks it delivered in the same transaction that appends it to the
 * channel history, so a message is never both lost and never appended twice by one server.
 *
 * (`seq` is the offset column: OFFSET is a reserved word in PostgreSQL.)
 */
import { randomBytes, randomUUID } from 'node:crypto';
import type { Migration, SqlStore } from '../core/sql/index.js';
import type { ChannelEntry, MessageState, NewMessage, Publication, StoredMessage } from './message.js';

const migrations: Migration[] = [
  {
    id: 1,
    // The same SQL in both dialects (integers, BIGINT times, TEXT).
    sql: `
CREATE TABLE pubsub_messages (
  id TEXT PRIMARY KEY,
  channel TEXT NOT NULL,
  data TEXT NOT NULL,
  encoding TEXT NOT NULL,
  deliver_at BIGINT NOT NULL,
  expires_at BIGINT,
  idempotency_key TEXT,
  created_at BIGINT NOT NULL,
  state TEXT NOT NULL,
  delivered_at BIGINT
);
CREATE UNIQUE INDEX pubsub_messages_idem ON pubsub_messages (channel, idempotency_key);
CREATE INDEX pubsub_messages_due ON pubsub_messages (state, deliver_at);
CREATE INDEX pubsub_messages_channel ON pubsub_messages (channel, state, deliver_at);
CREATE TABLE pubsub_channels (
  name TEXT PRIMARY KEY,
  epoch TEXT NOT NULL,
  last_seq BIGINT NOT NULL
);
CREATE TABLE pubsub_history (
  channel TEXT NOT NULL,
  seq BIGINT NOT NULL,
  message_id TEXT NOT NULL,
  data TEXT NOT NULL,
  encoding TEXT NOT NULL,
  deliver_at BIGINT NOT NULL,
  published_at BIGINT NOT NULL,
  PRIMARY KEY (channel, seq)
);
CREATE INDEX pubsub_history_age ON pubsub_history (published_at);
`,
  },
];

interface MessageRow {
  id: string;
  channel: string;
  data: string;
  encoding: string;
  deliver_at: number | string;
  expires_at: number | string | null;
  idempotency_key: string | null;
  created_at: number | string;
  state: string;
  delivered_at: number | string | null;
}

interface HistoryRow {
  channel: string;
  seq: number | string;
  message_id: string;
  data: string;
  encoding: string;
  deliver_at: number | string;
  published_at: number | string;
}

const num = (v: number | string): number => Number(v);
const optNum = (v: number | string | null): number | undefined => (v === null ? undefined : Number(v));

function toMessage(r: MessageRow): StoredMessage {
  return {
    id: r.id,
    channel: r.channel,
    data: r.data,
    encoding: r.encoding === 'base64' ? 'base64' : 'json',
    deliverAtMs: num(r.deliver_at),
    expiresAtMs: optNum(r.expires_at),
    idempotencyKey: r.idempotency_key ?? undefined,
    createdAtMs: num(r.created_at),
    state: r.state as MessageState,
    deliveredAtMs: optNum(r.delivered_at),
  };
}

function toEntry(r: HistoryRow): ChannelEntry {
  return {
    id: r.message_id,
    channel: r.channel,
    data: r.data,
    encoding: r.encoding === 'base64' ? 'base64' : 'json',
    deliverAtMs: num(r.deliver_at),
    offset: num(r.seq),
    publishedAtMs: num(r.published_at),
  };
}

export interface ChannelPosition {
  epoch: string;
  /** Offset of the last publication in the channel (0: none yet). */
  offset: number;
}

export interface HistoryLimits {
  /** Publications kept per channel. */
  historySize: number;
  /** Age after which a publication leaves the history. */
  historyTtlMs: number;
}

export class PubsubStore {
  constructor(private readonly sql: SqlStore) {}

  async migrate(): Promise<void> {
    await this.sql.migrate('pubsub', migrations);
  }

  /**
   * Stores a new message (durably, before the caller answers). With an idempotency key already used on
   * the channel, returns the existing message and `duplicate: true` instead.
   */
  async insert(msg: NewMessage, nowMs: number): Promise<{ message: StoredMessage; duplicate: boolean }> {
    return (await this.insertBatch([msg], nowMs))[0]!;
  }

  /**
   * Stores several new messages in one transaction (group commit: one sync to disk for all of them).
   * Results are in the order of `msgs`; an idempotency key used twice in the batch yields one message.
   */
  async insertBatch(msgs: readonly NewMessage[], nowMs: number): Promise<{ message: StoredMessage; duplicate: boolean }[]> {
    return this.sql.transaction(async (tx) => {
      const out: { message: StoredMessage; duplicate: boolean }[] = [];
      const byKey = new Map<string, StoredMessage>();
      for (const msg of msgs) {
        if (msg.idempotencyKey !== undefined) {
          const key = `${msg.channel}\u0000${msg.idempotencyKey}`;
          const earlier = byKey.get(key);
          if (earlier !== undefined) {
            out.push({ message: earlier, duplicate: true });
            continue;
          }
          const existing = await tx.get<MessageRow>('SELECT * FROM pubsub_messages WHERE channel = ? AND idempotency_key = ?', [msg.channel, msg.idempotencyKey]);
          if (existing !== undefined) {
            out.push({ message: toMessage(existing), duplicate: true });
            continue;
          }
        }
        const id = randomUUID();
        await tx.run(
          'INSERT INTO pubsub_messages (id, channel, data, encoding, deliver_at, expires_at, idempotency_key, created_at, state, delivered_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, NULL)',
          [id, msg.channel, msg.data, msg.encoding, msg.deliverAtMs, msg.expiresAtMs ?? null, msg.idempotencyKey ?? null, nowMs, 'scheduled'],
        );
        const message: StoredMessage = { ...msg, id, state: 'scheduled' as const, createdAtMs: nowMs, deliveredAtMs: undefined };
        if (msg.idempotencyKey !== undefined) byKey.set(`${msg.channel}\u0000${msg.idempotencyKey}`, message);
        out.push({ message, duplicate: false });
      }
      return out;
    });
  }

  async getMessage(id: string): Promise<StoredMessage | undefined> {
    const r = await this.sql.get<MessageRow>('SELECT * FROM pubsub_messages WHERE id = ?', [id]);
    return r === undefined ? undefined : toMessage(r);
  }

  /** Cancels a scheduled message; returns the message as it is now (state tells whether it worked). */
  async cancel(id: string): Promise<StoredMessage | undefined> {
    return this.sql.transaction(async (tx) => {
      await tx.run("UPDATE pubsub_messages SET state = 'cancelled' WHERE id = ? AND state = 'scheduled'", [id]);
      const r = await tx.get<MessageRow>('SELECT * FROM pubsub_messages WHERE id = ?', [id]);
      return r === undefined ? undefined : toMessage(r);
    });
  }

  /** Messages of a channel (or of all channels) in a state, soonest first. */
  async list(options: { channel?: string; state: MessageState; limit: number }): Promise<StoredMessage[]> {
    const rows =
      options.channel !== undefined
        ? await this.sql.all<MessageRow>('SELECT * FROM pubsub_messages WHERE channel = ? AND state = ? ORDER BY deliver_at, id LIMIT ?', [options.channel, options.state, options.limit])
        : await this.sql.all<MessageRow>('SELECT * FROM pubsub_messages WHERE state = ? ORDER BY deliver_at, id LIMIT ?', [options.state, options.limit]);
    return rows.map(toMessage);
  }

  /** Scheduled messages due before `beforeMs`, soonest first. */
  async due(beforeMs: number, limit: number): Promise<StoredMessage[]> {
    const rows = await this.sql.all<MessageRow>("SELECT * FROM pubsub_messages WHERE state = 'scheduled' AND deliver_at < ? ORDER BY deliver_at, id LIMIT ?", [beforeMs, limit]);
    return rows.map(toMessage);
  }

  /** Marks messages delivered (handed over to NATS) if they are still scheduled. */
  async markDelivered(ids: readonly string[], nowMs: number): Promise<void> {
    if (ids.length === 0) return;
    await this.sql.transaction(async (tx) => {
      for (const id of ids) await tx.run("UPDATE pubsub_messages SET state = 'delivered', delivered_at = ? WHERE id = ? AND state = 'scheduled'", [nowMs, id]);
    });
  }

  /** Marks messages expired (their ttl ran out before they could be delivered). */
  async markExpired(ids: readonly string[]): Promise<void> {
    await this.sql.transaction(async (tx) => {
      for (const id of ids) await tx.run("UPDATE pubsub_messages SET state = 'expired' WHERE id = ? AND state = 'scheduled'", [id]);
    });
  }

  /**
   * Appends publications to their channels' histories in one transaction, assigning offsets, and (with
   * `fromSchedule`) marks the scheduled messages delivered. A message already cancelled or delivered is
   * skipped. Trims each touched channel to `limits.historySize`. Returns the entries and each touched
   * channel's epoch.
   */
  async append(pubs: readonly Publication[], nowMs: number, limits: HistoryLimits, fromSchedule: boolean): Promise<{ entries: ChannelEntry[]; epochs: Map<string, string> }> {
    return this.sql.transaction(async (tx) => {
      const entries: ChannelEntry[] = [];
      const positions = new Map<string, ChannelPosition>();
      for (const p of pubs) {
        if (fromSchedule) {
          const res = await tx.run("UPDATE pubsub_messages SET state = 'delivered', delivered_at = ? WHERE id = ? AND state = 'scheduled'", [nowMs, p.id]);
          if (res.changes === 0) continue;
        }
        let pos = positions.get(p.channel);
        if (pos === undefined) {
          pos = await this.positionIn(tx, p.channel, true);
          positions.set(p.channel, pos);
        }
        pos.offset += 1;
        await tx.run('INSERT INTO pubsub_history (channel, seq, message_id, data, encoding, deliver_at, published_at) VALUES (?, ?, ?, ?, ?, ?, ?)', [
          p.channel,
          pos.offset,
          p.id,
          p.data,
          p.encoding,
          p.deliverAtMs,
          nowMs,
        ]);
        entries.push({ ...p, offset: pos.offset, publishedAtMs: nowMs });
      }
      const epochs = new Map<string, string>();
      for (const [channel, pos] of positions) {
        await tx.run('UPDATE pubsub_channels SET last_seq = ? WHERE name = ?', [pos.offset, channel]);
        await tx.run('DELETE FROM pubsub_history WHERE channel = ? AND seq <= ?', [channel, pos.offset - limits.historySize]);
        epochs.set(channel, pos.epoch);
      }
      return { entries, epochs };
    });
  }

  /** The channel's epoch and last offset on this server (creating the channel with a new epoch if asked). */
  async position(channel: string): Promise<ChannelPosition> {
    return this.sql.transaction((tx) => this.positionIn(tx, channel, true));
  }

  private async positionIn(tx: SqlStore, channel: string, create: boolean): Promise<ChannelPosition> {
    const row = await tx.get<{ epoch: string; last_seq: number | string }>('SELECT epoch, last_seq FROM pubsub_channels WHERE name = ?', [channel]);
    if (row !== undefined) return { epoch: row.epoch, offset: Number(row.last_seq) };
    const epoch = randomBytes(6).toString('hex');
    if (create) await tx.run('INSERT INTO pubsub_channels (name, epoch, last_seq) VALUES (?, ?, 0)', [channel, epoch]);
    return { epoch, offset: 0 };
  }

  /** History entries after `sinceOffset`, oldest first, not older than the ttl; and the oldest kept offset. */
  async history(channel: string, sinceOffset: number, limit: number): Promise<{ entries: ChannelEntry[]; oldestOffset: number | undefined }> {
    const oldest = await this.sql.get<{ seq: number | string | null }>('SELECT MIN(seq) AS seq FROM pubsub_history WHERE channel = ?', [channel]);
    const rows = await this.sql.all<HistoryRow>('SELECT * FROM pubsub_history WHERE channel = ? AND seq > ? ORDER BY seq LIMIT ?', [channel, sinceOffset, limit]);
    const o = oldest?.seq;
    return { entries: rows.map(toEntry), oldestOffset: o === null || o === undefined ? undefined : Number(o) };
  }

  /** Drops history entries older than the ttl. */
  async pruneHistory(olderThanMs: number): Promise<number> {
    const res = await this.sql.run('DELETE FROM pubsub_history WHERE published_at < ?', [olderThanMs]);
    return res.changes;
  }

  /** Counts of messages per state (for /metrics-like summaries and tests). */
  async counts(): Promise<Record<string, number>> {
    const rows = await this.sql.all<{ state: string; n: number | string }>('SELECT state, COUNT(*) AS n FROM pubsub_messages GROUP BY state');
    return Object.fromEntries(rows.map((r) => [r.state, Number(r.n)]));
  }
}
