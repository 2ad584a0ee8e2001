/**
 * The server's internal channels (`$flotilla.*`) are live state, not a record: what the server publishes
 * there (membership, agents, workflow states) describes now, and a reader's first view comes from the
 * HTTP API. So their publications are never stored: each channel has an epoch and an offset counter in
 * memory and keeps its last few publications (bounded by count and bytes) so that a subscriber that
 * reconnects after a short gap recovers what it missed. The server publishes on a channel only while it
 * has subscribers; when the last one leaves, the channel starts a new epoch (what happened meanwhile was
 * not published), so a later subscriber asking to recover from the old epoch is told `recovered: false`
 * and loads a fresh view.
 */
import { randomBytes } from 'node:crypto';
import type { ChannelEntry, Publication } from './message.js';

export interface LiveChannelsOptions {
  /** Publications kept per channel for recovery. Default 256. */
  historySize?: number;
  /** Bytes of publication data kept per channel for recovery. Default 4 MiB. */
  historyBytes?: number;
}

interface LiveChannel {
  epoch: string;
  offset: number;
  entries: ChannelEntry[];
  bytes: number;
}

const newEpoch = (): string => randomBytes(6).toString('hex');

export class LiveChannels {
  private readonly channels = new Map<string, LiveChannel>();
  private readonly historySize: number;
  private readonly historyBytes: number;

  constructor(options: LiveChannelsOptions = {}) {
    this.historySize = options.historySize ?? 256;
    this.historyBytes = options.historyBytes ?? 4 * 1024 * 1024;
  }

  private channel(name: string): LiveChannel {
    let c = this.channels.get(name);
    if (c === undefined) this.channels.set(name, (c = { epoch: newEpoch(), offset: 0, entries: [], bytes: 0 }));
    return c;
  }

  /** The channel's epoch and last offset. */
  position(channel: string): { epoch: string; offset: number } {
    const c = this.channel(channel);
    return { epoch: c.epoch, offset: c.offset };
  }

  /** Assigns offsets to new publications and keeps them for recovery; returns the entries and each channel's epoch. */
  append(pubs: readonly Publication[], nowMs: number): { entries: ChannelEntry[]; epochs: Map<string, string> } {
    const entries: ChannelEntry[] = [];
    const epochs = new Map<string, string>();
    for (const p of pubs) {
      const c = this.channel(p.channel);
      const entry: ChannelEntry = { ...p, offset: ++c.offset, publishedAtMs: nowMs };
      entries.push(entry);
      epochs.set(p.channel, c.epoch);
      c.entries.push(entry);
      c.bytes += entry.data.length;
      let drop = 0;
      while (c.entries.length - drop > this.historySize || (c.bytes > this.historyBytes && c.entries.length - drop > 1)) {
        c.bytes -= c.entries[drop]!.data.length;
        drop++;
      }
      if (drop > 0) c.entries.splice(0, drop);
    }
    return { entries, epochs };
  }

  /** Up to `limit` publications after `afterOffset`, and the oldest offset still held (undefined when none). */
  history(channel: string, afterOffset: number, limit: number): { entries: ChannelEntry[]; oldestOffset: number | undefined } {
    const c = this.channels.get(channel);
    if (c === undefined || c.entries.length === 0) return { entries: [], oldestOffset: undefined };
    const oldest = c.entries[0]!.offset;
    const start = Math.max(0, afterOffset + 1 - oldest);
    return { entries: c.entries.slice(start, start + limit), oldestOffset: oldest };
  }

  /** The channel lost its last subscriber: what comes next is not a continuation (a new epoch, nothing kept). */
  reset(channel: string): void {
    this.channels.delete(channel);
  }
}
