import type { EngineMessage, RetentionPolicy, Snapshot } from '@tidings/engine';
import type Database from 'better-sqlite3';

/** A channel's row, as the engine caches it. */
export interface ChannelRow {
  id: number;
  name: string;
  epoch: string;
  lastOffset: number;
  lastActive: number;
  policy: RetentionPolicy | null;
}

interface RawChannel {
  id: number;
  name: string;
  epoch: string;
  last_offset: number;
  last_active: number;
  size: number | null;
  ttl_ms: number | null;
  idempotency_ms: number | null;
}

interface RawMessage {
  offset: number;
  ts: number;
  data: string;
  id: string | null;
  expires_at: number | null;
  origin: string | null;
}

export interface StoredKey {
  offset: number;
  ts: number;
  expiresAt: number;
}

/**
 * Every SQL statement of the engine, prepared once. The store only reads and writes rows; what a
 * publish means (ordering, idempotency, retention) is the engine's, which groups these calls into
 * transactions.
 */
export class Store {
  readonly #db: Database.Database;
  readonly #q;

  constructor(db: Database.Database) {
    this.#db = db;
    const p = (sql: string) => db.prepare(sql);
    this.#q = {
      channelByName: p('SELECT * FROM channels WHERE name = ?'),
      channelNames: p('SELECT name FROM channels').pluck(),
      allChannels: p('SELECT * FROM channels'),
      insertChannel: p('INSERT INTO channels (name, epoch, last_offset, last_active) VALUES (?, ?, 0, ?)'),
      updateChannel: p(
        'UPDATE channels SET last_offset = ?, last_active = ?, size = ?, ttl_ms = ?, idempotency_ms = ? WHERE id = ?',
      ),
      deleteChannel: p('DELETE FROM channels WHERE id = ?'),
      insertMessage: p(
        'INSERT INTO messages (channel_id, offset, ts, data, id, expires_at, origin) VALUES (?, ?, ?, ?, ?, ?, ?)',
      ),
      readMessages: p(
        'SELECT offset, ts, data, id, expires_at, origin FROM messages WHERE channel_id = ? AND offset > ? ORDER BY offset LIMIT ?',
      ),
      oldest: p('SELECT offset, ts FROM messages WHERE channel_id = ? ORDER BY offset LIMIT 1'),
      firstFresh: p(
        'SELECT offset FROM messages WHERE channel_id = ? AND ts >= ? ORDER BY offset LIMIT 1',
      ).pluck(),
      deleteUpTo: p('DELETE FROM messages WHERE channel_id = ? AND offset <= ?'),
      deleteMessages: p('DELETE FROM messages WHERE channel_id = ?'),
      key: p(
        'SELECT offset, ts, expires_at AS expiresAt FROM idempotency_keys WHERE channel_id = ? AND key = ?',
      ),
      putKey: p(
        'INSERT OR REPLACE INTO idempotency_keys (channel_id, key, offset, ts, expires_at) VALUES (?, ?, ?, ?, ?)',
      ),
      deleteKey: p('DELETE FROM idempotency_keys WHERE channel_id = ? AND key = ?'),
      deleteExpiredKeys: p('DELETE FROM idempotency_keys WHERE expires_at <= ?'),
      deleteKeys: p('DELETE FROM idempotency_keys WHERE channel_id = ?'),
      snapshot: p('SELECT offset, ts, data FROM snapshots WHERE channel_id = ?'),
      putSnapshot: p('INSERT OR REPLACE INTO snapshots (channel_id, offset, ts, data) VALUES (?, ?, ?, ?)'),
      // Channels holding nothing: no message, snapshot or idempotency key.
      emptyChannels: p(`SELECT * FROM channels c
        WHERE NOT EXISTS (SELECT 1 FROM messages m WHERE m.channel_id = c.id)
          AND NOT EXISTS (SELECT 1 FROM snapshots s WHERE s.channel_id = c.id)
          AND NOT EXISTS (SELECT 1 FROM idempotency_keys k WHERE k.channel_id = c.id)`),
    };
  }

  /** Runs `work` in one transaction: all of its writes are committed together, or none. */
  transaction<T>(work: () => T): T {
    return this.#db.transaction(work)();
  }

  channel(name: string): ChannelRow | undefined {
    const raw = this.#q.channelByName.get(name) as RawChannel | undefined;
    return raw && toChannel(raw);
  }

  createChannel(name: string, epoch: string, now: number): ChannelRow {
    const { lastInsertRowid } = this.#q.insertChannel.run(name, epoch, now);
    return { id: Number(lastInsertRowid), name, epoch, lastOffset: 0, lastActive: now, policy: null };
  }

  saveChannel(row: ChannelRow): void {
    const { policy } = row;
    this.#q.updateChannel.run(
      row.lastOffset,
      row.lastActive,
      policy ? finite(policy.size) : null,
      policy ? finite(policy.ttlMs) : null,
      policy ? finite(policy.idempotencyMs) : null,
      row.id,
    );
  }

  channelNames(): string[] {
    return this.#q.channelNames.all() as string[];
  }

  allChannels(): ChannelRow[] {
    return (this.#q.allChannels.all() as RawChannel[]).map(toChannel);
  }

  emptyChannels(): ChannelRow[] {
    return (this.#q.emptyChannels.all() as RawChannel[]).map(toChannel);
  }

  /** Deletes the channel and everything it holds. */
  deleteChannel(id: number): void {
    this.#q.deleteMessages.run(id);
    this.#q.deleteKeys.run(id);
    this.#q.deleteChannel.run(id);
  }

  insertMessage(channelId: number, message: EngineMessage): void {
    this.#q.insertMessage.run(
      channelId,
      message.offset,
      message.ts,
      message.data,
      message.id ?? null,
      message.expiresAt ?? null,
      message.origin ?? null,
    );
  }

  readMessages(row: ChannelRow, after: number, limit: number): EngineMessage[] {
    const raws = this.#q.readMessages.all(row.id, after, limit) as RawMessage[];
    return raws.map((raw) => {
      const message: EngineMessage = {
        channel: row.name,
        epoch: row.epoch,
        offset: raw.offset,
        ts: raw.ts,
        data: raw.data,
      };
      if (raw.id !== null) message.id = raw.id;
      if (raw.expires_at !== null) message.expiresAt = raw.expires_at;
      if (raw.origin !== null) message.origin = raw.origin;
      return message;
    });
  }

  /** Offset and time of the oldest retained message, if any. */
  oldest(channelId: number): { offset: number; ts: number } | undefined {
    return this.#q.oldest.get(channelId) as { offset: number; ts: number } | undefined;
  }

  /** Offset of the oldest message stored at or after `ts`, if any. */
  firstFresh(channelId: number, ts: number): number | undefined {
    return this.#q.firstFresh.get(channelId, ts) as number | undefined;
  }

  deleteMessagesUpTo(channelId: number, offset: number): void {
    this.#q.deleteUpTo.run(channelId, offset);
  }

  key(channelId: number, key: string): StoredKey | undefined {
    return this.#q.key.get(channelId, key) as StoredKey | undefined;
  }

  putKey(channelId: number, key: string, stored: StoredKey): void {
    this.#q.putKey.run(channelId, key, stored.offset, stored.ts, stored.expiresAt);
  }

  deleteKey(channelId: number, key: string): void {
    this.#q.deleteKey.run(channelId, key);
  }

  deleteExpiredKeys(now: number): void {
    this.#q.deleteExpiredKeys.run(now);
  }

  snapshot(row: ChannelRow): Snapshot | null {
    const raw = this.#q.snapshot.get(row.id) as { offset: number; ts: number; data: string } | undefined;
    return raw ? { epoch: row.epoch, offset: raw.offset, ts: raw.ts, data: raw.data } : null;
  }

  putSnapshot(channelId: number, snapshot: Snapshot): void {
    this.#q.putSnapshot.run(channelId, snapshot.offset, snapshot.ts, snapshot.data);
  }
}

/** SQLite integers hold no Infinity: an unbounded duration is stored as the largest safe integer. */
function finite(ms: number): number {
  return Number.isFinite(ms) ? Math.max(0, Math.floor(ms)) : Number.MAX_SAFE_INTEGER;
}

function toChannel(raw: RawChannel): ChannelRow {
  const policy =
    raw.size === null || raw.ttl_ms === null || raw.idempotency_ms === null
      ? null
      : { size: raw.size, ttlMs: raw.ttl_ms, idempotencyMs: raw.idempotency_ms };
  return {
    id: raw.id,
    name: raw.name,
    epoch: raw.epoch,
    lastOffset: raw.last_offset,
    lastActive: raw.last_active,
    policy,
  };
}
