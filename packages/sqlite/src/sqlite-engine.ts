import {
  type Engine,
  type EngineMessage,
  type EnginePresence,
  ListenerRegistry,
  type MemoryEngineOptions,
  MemoryPresence,
  newEpoch,
  type PublishRequest,
  type PublishResult,
  type ReadResult,
  type RetentionPolicy,
  type Snapshot,
  type StreamListener,
  scopedKey,
} from '@tidings/engine';
import { ErrorCode, type Position, patternMatcher, TidingsError } from '@tidings/protocol';
import type Database from 'better-sqlite3';
import { openDatabase, type Synchronous } from './open-database.js';
import { endSession } from './session.js';
import { type ChannelRow, Store } from './store.js';

/**
 * The memory engine's options (clock, sweep interval, idle time to live, listener errors), with the
 * same meanings and defaults, plus where the file lives and how hard a publish waits for the disk.
 */
export interface SqliteEngineOptions extends MemoryEngineOptions {
  /** The database file, created with its directory if missing (`:memory:` for a throwaway one). */
  path: string;
  /**
   * How hard each publish waits for the disk (see `Synchronous`). `normal` (the default): an
   * acknowledged publish survives a crash or `kill -9` of the process; a power loss may lose the last
   * ones, and then every channel starts a new epoch on the next open, so clients get a reset rather than
   * reused offsets. `full`: it also survives a power loss, at one fsync per publish (about 60× slower on
   * this project's CI disk, see BENCHMARKS.md).
   */
  synchronous?: Synchronous;
}

const DEFAULT_SWEEP_INTERVAL_MS = 10_000;
const DEFAULT_IDLE_TTL_MS = 300_000;

function defaultListenerError(error: unknown): void {
  console.error('tidings: a SQLite engine listener threw', error);
}

/**
 * The durable engine of a single server process: channels live in one SQLite file (WAL mode), so a
 * restart, even after `kill -9`, keeps every epoch, offset, retained message, snapshot and idempotency
 * key. A publish is acknowledged only after its transaction committed, and the channel's last offset
 * is written in that same transaction, so no offset is ever given twice.
 *
 * One process owns the file (an exclusive lock; a second opener gets DatabaseLockedError). That makes
 * this process the only writer, so the engine keeps each channel's row in memory and delivers live
 * messages itself, synchronously inside `publish`, like the memory engine; presence, which lasts only
 * as long as connections do, stays in memory too.
 */
export class SqliteEngine implements Engine {
  readonly path: string;
  readonly #db: Database.Database;
  readonly #store: Store;
  readonly #now: () => number;
  readonly #idleTtlMs: number;
  readonly #onListenerError: (error: unknown, message?: EngineMessage) => void;
  /** Rows of the channels used since the file was opened; the file has every channel. */
  readonly #rows = new Map<string, ChannelRow>();
  readonly #listeners = new ListenerRegistry<StreamListener>();
  readonly #presence: MemoryPresence;
  #timer: ReturnType<typeof setInterval> | undefined;
  #closed = false;

  constructor(options: SqliteEngineOptions) {
    this.path = options.path;
    this.#db = openDatabase(options.path, options.synchronous ?? 'normal');
    this.#store = new Store(this.#db);
    this.#now = options.now ?? Date.now;
    this.#idleTtlMs = options.idleTtlMs ?? DEFAULT_IDLE_TTL_MS;
    this.#onListenerError = options.onListenerError ?? defaultListenerError;
    this.#presence = new MemoryPresence(this.#onListenerError);
    const interval = options.sweepIntervalMs ?? DEFAULT_SWEEP_INTERVAL_MS;
    if (interval > 0 && Number.isFinite(interval)) {
      this.#timer = setInterval(() => this.sweep(), interval);
      this.#timer.unref();
    }
  }

  get presence(): EnginePresence {
    return this.#presence;
  }

  async publish(request: PublishRequest): Promise<PublishResult> {
    this.#assertOpen();
    const now = this.#now();
    const row = this.#channel(request.channel, now);
    const { policy, id } = request;
    // Keys are remembered per publisher (scopedKey): another publisher's key never collides.
    const key = scopedKey(request);
    const message: EngineMessage = {
      channel: request.channel,
      epoch: row.epoch,
      offset: row.lastOffset + 1,
      ts: now,
      data: request.data,
    };
    if (id !== undefined) message.id = id;
    if (request.expiresAt !== undefined) message.expiresAt = request.expiresAt;
    if (request.origin !== undefined) message.origin = request.origin;

    // The cached row changes only once the transaction has committed: a failed one leaves it as the file has it.
    const duplicate = this.#store.transaction((): PublishResult | undefined => {
      // The key is checked before `ifOffset` so that retrying a conditional publish that succeeded
      // returns its result instead of a conflict with itself.
      if (key !== undefined) {
        const seen = this.#store.key(row.id, key);
        if (seen !== undefined) {
          if (seen.expiresAt > now)
            return { epoch: row.epoch, offset: seen.offset, ts: seen.ts, duplicate: true };
          this.#store.deleteKey(row.id, key);
        }
      }
      if (request.ifOffset !== undefined && request.ifOffset !== row.lastOffset) {
        throw new TidingsError(
          ErrorCode.conflict,
          `channel ${request.channel} is at offset ${row.lastOffset}, not ${request.ifOffset}`,
          { epoch: row.epoch, offset: row.lastOffset },
        );
      }
      this.#store.insertMessage(row.id, message);
      this.#store.saveChannel({ ...row, lastOffset: message.offset, lastActive: now, policy });
      const keep = Math.floor(policy.size);
      if (Number.isFinite(keep)) this.#store.deleteMessagesUpTo(row.id, message.offset - Math.max(0, keep));
      this.#trimByAge(row.id, now, policy.ttlMs);
      if (key !== undefined) {
        this.#store.putKey(row.id, key, {
          offset: message.offset,
          ts: now,
          expiresAt: now + policy.idempotencyMs,
        });
      }
      return undefined;
    });
    if (duplicate) return duplicate;

    row.lastOffset = message.offset;
    row.lastActive = now;
    row.policy = policy;
    this.#listeners.forEach(message.channel, this.#call, message);
    return { epoch: row.epoch, offset: message.offset, ts: now, duplicate: false };
  }

  async position(channel: string): Promise<Position> {
    this.#assertOpen();
    const row = this.#channel(channel, this.#now());
    return { epoch: row.epoch, offset: row.lastOffset };
  }

  async read(channel: string, after: number, limit: number): Promise<ReadResult> {
    this.#assertOpen();
    const now = this.#now();
    const row = this.#channel(channel, now);
    if (row.policy) this.#trimByAge(row.id, now, row.policy.ttlMs);
    const oldest = this.#store.oldest(row.id);
    const firstOffset = oldest?.offset ?? row.lastOffset + 1;
    const count = Math.max(0, Math.floor(limit));
    const messages = oldest && count > 0 ? this.#store.readMessages(row, after, count) : [];
    return { epoch: row.epoch, offset: row.lastOffset, messages, firstOffset };
  }

  async setSnapshot(channel: string, data: string, policy: RetentionPolicy): Promise<Position> {
    this.#assertOpen();
    const now = this.#now();
    const row = this.#channel(channel, now);
    const snapshot: Snapshot = { epoch: row.epoch, offset: row.lastOffset, ts: now, data };
    this.#store.transaction(() => {
      this.#store.putSnapshot(row.id, snapshot);
      this.#store.saveChannel({ ...row, lastActive: now, policy });
    });
    row.policy = policy;
    return { epoch: row.epoch, offset: row.lastOffset };
  }

  async snapshot(channel: string): Promise<Snapshot | null> {
    this.#assertOpen();
    const row = this.#known(channel);
    if (row === undefined) return null;
    row.lastActive = this.#now();
    return this.#store.snapshot(row);
  }

  async subscribe(channelOrPattern: string, listener: StreamListener): Promise<() => void> {
    this.#assertOpen();
    return this.#listeners.add(channelOrPattern, listener, this.#lastLeft);
  }

  // Idle time counts from the last subscriber leaving, not from its last publish.
  readonly #lastLeft = (channel: string): void => {
    const row = this.#rows.get(channel);
    if (row && !this.#closed) row.lastActive = this.#now();
  };

  async channels(pattern: string): Promise<string[]> {
    this.#assertOpen();
    const matches = patternMatcher(pattern);
    return this.#store.channelNames().filter(matches);
  }

  async ready(): Promise<void> {
    this.#assertOpen();
  }

  /**
   * Drops age-expired messages and expired idempotency keys, and forgets every channel that holds
   * nothing (no retained message, snapshot, exact-channel listener or live idempotency key) and has been
   * idle for its policy's `ttlMs`. Runs on a timer; callable directly from tests.
   */
  sweep(): void {
    if (this.#closed) return;
    const now = this.#now();
    this.#store.transaction(() => {
      this.#store.deleteExpiredKeys(now);
      for (const row of this.#store.allChannels()) {
        this.#trimByAge(row.id, now, row.policy?.ttlMs ?? this.#idleTtlMs);
      }
      for (const stored of this.#store.emptyChannels()) {
        // Reads and positions refresh the cached row only (they write nothing): the later time wins.
        const lastActive = Math.max(stored.lastActive, this.#rows.get(stored.name)?.lastActive ?? 0);
        const ttlMs = stored.policy?.ttlMs ?? this.#idleTtlMs;
        if (this.#listeners.has(stored.name) || now - lastActive < ttlMs) continue;
        this.#store.deleteChannel(stored.id);
        this.#rows.delete(stored.name);
      }
    });
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
    this.#listeners.clear();
    this.#rows.clear();
    this.#presence.close();
    // Closing checkpoints the WAL into the main file, with an fsync whatever `synchronous` says, so
    // the clean mark is as durable as everything before it; then the lock is released.
    try {
      endSession(this.#db);
    } finally {
      this.#db.close();
    }
  }

  #assertOpen(): void {
    if (this.#closed) throw new TidingsError(ErrorCode.closed, 'the engine is closed');
  }

  /** The channel's row, without creating it. */
  #known(name: string): ChannelRow | undefined {
    let row = this.#rows.get(name);
    if (row === undefined) {
      row = this.#store.channel(name);
      if (row !== undefined) this.#rows.set(name, row);
    }
    return row;
  }

  /** The channel's row, created (new epoch, offset 0, committed at once) if the file has none. */
  #channel(name: string, now: number): ChannelRow {
    let row = this.#known(name);
    if (row === undefined) {
      // Stored before anyone sees the epoch: a client told this position must find it after a restart.
      row = this.#store.createChannel(name, newEpoch(), now);
      this.#rows.set(name, row);
    } else {
      row.lastActive = now;
    }
    return row;
  }

  /** Drops the oldest messages while they are older than `ttlMs`; the retained ones stay contiguous. */
  #trimByAge(channelId: number, now: number, ttlMs: number): void {
    const cutoff = now - ttlMs;
    const oldest = this.#store.oldest(channelId);
    if (oldest === undefined || oldest.ts >= cutoff) return;
    const fresh = this.#store.firstFresh(channelId, cutoff);
    this.#store.deleteMessagesUpTo(channelId, fresh === undefined ? Number.MAX_SAFE_INTEGER : fresh - 1);
  }

  // An arrow field, so the registry can call it without a closure per message.
  readonly #call = (listener: StreamListener, message: EngineMessage): void => {
    try {
      listener.message(message);
    } catch (error) {
      try {
        this.#onListenerError(error, message);
      } catch {
        // A failing error handler must not stop delivery either.
      }
    }
  };
}

export function sqliteEngine(options: SqliteEngineOptions): SqliteEngine {
  return new SqliteEngine(options);
}
