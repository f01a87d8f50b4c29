import { type JetStreamManager, jetstreamManager, type PubAck } from '@nats-io/jetstream';
import { connect, type Msg, type NatsConnection } from '@nats-io/transport-node';
import type {
  Engine,
  EnginePresence,
  PublishRequest,
  PublishResult,
  ReadResult,
  RetentionPolicy,
  Snapshot,
  StreamListener,
} from '@tidings/engine';
import { newEpoch, scopedKey } from '@tidings/engine';
import {
  assertChannelName,
  assertChannelOrPattern,
  ErrorCode,
  type Position,
  patternMatcher,
  TidingsError,
} from '@tidings/protocol';
import { AppendRound, type RoundEntry } from './append-round.js';
import { ChannelLog } from './channel-log.js';
import { isBrokenChain, isLostRace, isWrongLastSequence, toTidingsError } from './errors.js';
import { readHistory } from './history.js';
import { KeyedQueue } from './keyed-queue.js';
import { NatsPresence, type PresenceLink } from './nats-presence.js';
import { type NatsEngineOptions, type ResolvedNatsOptions, resolveOptions } from './options.js';
import { PresenceStore } from './presence-store.js';
import { decodeRecord, encodeHeaders, type StoredRecord, toMessage } from './record.js';
import { dataStreamConfig, ensureStream, presenceStreamConfig, snapshotStreamConfig } from './streams.js';
import { Subjects } from './subjects.js';
import { withTimeout } from './with-timeout.js';

interface Connection {
  readonly nc: NatsConnection;
  readonly jsm: JetStreamManager;
  readonly log: ChannelLog;
  /** The presence stream, created on first use (an engine without members needs none). */
  presence?: Promise<PresenceLink>;
}

/** Where a channel's next append goes: its last stored message. */
interface Head {
  readonly seq: number;
  readonly epoch: string;
  readonly offset: number;
}

// Appends lost to other processes are retried from a fresh read; past this many the channel is
// contended beyond reason and the caller is told to retry later.
const MAX_APPEND_ATTEMPTS = 50;
// Heads remembered so a channel's next append skips the read; a stale head only costs one retry.
const MAX_CACHED_HEADS = 10_000;
// Results of this process's own keyed publishes, so a retry whose original was trimmed from the
// stream can still be told its position. Oldest dropped first past this many.
const MAX_REMEMBERED_KEYS = 10_000;
// Most publishes one round sends before its first acknowledgement (see AppendRound). The engine halves
// its cap whenever another writer's message breaks a round's chain or a round takes over a quarter of
// the request timeout to store, and doubles it after a clean, quick round.
const MAX_ROUND = 1_000;
// A header value cannot exceed any real stream sequence, so the append is always rejected unless
// the server answers it from the duplicate window first.
const IMPOSSIBLE_SEQ = Number.MAX_SAFE_INTEGER;

/**
 * The JetStream message id of a publish with an idempotency key. The channel is part of it because
 * JetStream deduplicates stream-wide; `=` never appears in a channel name, so no two (channel,
 * publisher, id) share one, and no chain id (see NatsEngine) holds a `=`.
 */
function idempotencyMsgId(request: PublishRequest): string | undefined {
  const key = scopedKey(request);
  return key === undefined ? undefined : `${request.channel}=${encodeURIComponent(key)}`;
}

type Settled = { ack: PubAck; error?: undefined } | { ack?: undefined; error: unknown };

function conflict(channel: string, head: Head, expected: number): TidingsError {
  return new TidingsError(
    ErrorCode.conflict,
    `channel ${channel} is at offset ${head.offset}, not ${expected}`,
    { epoch: head.epoch, offset: head.offset },
  );
}

/**
 * An engine on NATS JetStream, shared by every server process connected to the same stream. See the
 * package README for the storage design. The constructor does not connect: the first call (or
 * `ready()`) does, and a failed attempt is retried by the next call.
 */
export class NatsEngine implements Engine {
  readonly #options: ResolvedNatsOptions;
  readonly #subjects: Subjects;
  readonly #queue = new KeyedQueue();
  readonly #heads = new Map<string, Head>();
  /** msgId → the stream sequence and result of a keyed publish made here, until its key expires. */
  readonly #keyed = new Map<string, { seq: number; result: PublishResult; until: number }>();
  // One entry per subscription: the same listener may hold several.
  readonly #subscriptions = new Set<{ readonly listener: StreamListener }>();
  readonly #presence: NatsPresence;
  /** Per channel, the round of publishes still taking more (its turn has not come yet). */
  readonly #rounds = new Map<string, AppendRound>();
  #roundCap = MAX_ROUND;
  /** Message ids that chain one append of a round to the next: this engine's prefix and a counter. */
  readonly #chainPrefix = `${newEpoch()}.`;
  #chainCount = 0;
  #connection: Promise<Connection> | undefined;
  /** No new calls: `close()` was called. */
  #closed = false;
  /** Closed, and the operations called before `close()` finished or were given up on. */
  #ended = false;

  constructor(options: NatsEngineOptions = {}) {
    this.#options = resolveOptions(options);
    this.#subjects = new Subjects(this.#options.subjectPrefix);
    this.#presence = new NatsPresence({
      link: () => this.#presenceLink(),
      failure: (error, action) => this.#failure(error, action),
      subjects: this.#subjects,
      ttlMs: this.#options.presenceTtlMs,
      requestTimeoutMs: this.#options.requestTimeoutMs,
    });
  }

  /** Creates an engine and waits until it is connected and its streams exist. */
  static async connect(options: NatsEngineOptions = {}): Promise<NatsEngine> {
    const engine = new NatsEngine(options);
    try {
      await engine.ready();
    } catch (error) {
      await engine.close();
      throw error;
    }
    return engine;
  }

  get stream(): string {
    return this.#options.stream;
  }

  get subjectPrefix(): string {
    return this.#options.subjectPrefix;
  }

  async ready(): Promise<void> {
    await this.#connect();
  }

  /** Members of channels, one JetStream entry each, refreshed by their process (see nats-presence.ts). */
  get presence(): EnginePresence {
    return this.#presence;
  }

  /**
   * Publishes queued behind the channel's earlier operations join one round (AppendRound), appended
   * together when its turn comes; a conditional publish goes alone. Either way a channel's operations
   * take effect in call order.
   */
  publish(request: PublishRequest): Promise<PublishResult> {
    const { channel } = request;
    if (request.ifOffset !== undefined) {
      return this.#channelOp(channel, 'publish', (c) => this.#publish(c, request));
    }
    try {
      this.#assertOpen();
      assertChannelName(channel);
    } catch (error) {
      return Promise.reject(error);
    }
    const msgId = idempotencyMsgId(request);
    const open = this.#rounds.get(channel);
    if (open?.accepts(request)) return open.add(request, msgId);
    const round = new AppendRound(this.#roundCap);
    this.#rounds.set(channel, round);
    const result = round.add(request, msgId);
    const seal = () => {
      round.seal();
      if (this.#rounds.get(channel) === round) this.#rounds.delete(channel);
    };
    this.#channelOp(channel, 'publish', (c) => {
      seal();
      return this.#sendRound(c, channel, round.entries);
    }).catch((error: unknown) => {
      // The round never went out (closed engine, no connection): each of its publishes fails alike.
      seal();
      for (const entry of round.entries) entry.reject(error);
    });
    return result;
  }

  position(channel: string): Promise<Position> {
    return this.#channelOp(channel, 'position', async (c) => {
      const head = await this.#head(c, channel);
      return { epoch: head.epoch, offset: head.offset };
    });
  }

  read(channel: string, after: number, limit: number): Promise<ReadResult> {
    return this.#channelOp(channel, 'read', async (c) => {
      const last = await this.#head(c, channel);
      const history = await readHistory(c.log.source(channel), last, after, limit, Date.now());
      return {
        epoch: last.epoch,
        offset: last.offset,
        firstOffset: history.firstOffset,
        messages: history.messages.map(toMessage),
      };
    });
  }

  setSnapshot(channel: string, data: string, policy: RetentionPolicy): Promise<Position> {
    return this.#channelOp(channel, 'setSnapshot', async (c) => {
      const head = await this.#head(c, channel, policy);
      const position = { epoch: head.epoch, offset: head.offset };
      await c.log.putSnapshot(channel, data, encodeHeaders({ ...position, ts: Date.now() }));
      return position;
    });
  }

  snapshot(channel: string): Promise<Snapshot | null> {
    return this.#channelOp(channel, 'snapshot', async (c) => {
      const record = await c.log.snapshot(channel);
      return record && { epoch: record.epoch, offset: record.offset, ts: record.ts, data: record.data };
    });
  }

  async subscribe(channelOrPattern: string, listener: StreamListener): Promise<() => void> {
    this.#assertOpen();
    assertChannelOrPattern(channelOrPattern);
    const { nc } = await this.#connect();
    const live = this.#subjects.live;
    const onListenerError = this.#options.onListenerError;
    const deliver = (msg: Msg) => {
      const channel = this.#subjects.channelOf(live, msg.subject);
      if (channel === null) return;
      const record = decodeRecord(channel, 0, msg.headers, msg.string());
      // Start markers (offset 0) only fix a channel's epoch; they are not messages.
      if (!record || record.offset === 0) return;
      const message = toMessage(record);
      try {
        listener.message(message);
      } catch (error) {
        try {
          onListenerError(error, message);
        } catch {
          // A failing error handler must not stop delivery either.
        }
      }
    };
    try {
      const sub = nc.subscribe(this.#subjects.liveSubject(channelOrPattern), {
        callback: (error, msg) => {
          if (!error) deliver(msg);
        },
      });
      const entry = { listener };
      this.#subscriptions.add(entry);
      let active = true;
      const stop = () => {
        if (!active) return;
        active = false;
        this.#subscriptions.delete(entry);
        if (!sub.isClosed()) sub.unsubscribe();
      };
      try {
        // Once the server has answered a ping sent after SUB, it routes every later publish to us.
        await withTimeout(nc.flush(), this.#options.requestTimeoutMs, 'flush');
      } catch (error) {
        stop();
        throw error;
      }
      return stop;
    } catch (error) {
      throw this.#failure(error, 'subscribe');
    }
  }

  async channels(pattern: string): Promise<string[]> {
    this.#assertOpen();
    assertChannelOrPattern(pattern);
    const c = await this.#connect();
    try {
      const matches = patternMatcher(pattern);
      return (await c.log.channels(pattern)).filter(matches);
    } catch (error) {
      throw this.#failure(error, 'channels');
    }
  }

  /** Drains the connection; the streams and their messages stay (they are shared with other processes). */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    // Before the drain: its members' tombstones and leave events go out on this connection.
    await this.#presence.close();
    // Operations called before close() finish first (a graceful stop must not fail publishes the
    // stream is storing, some of them maybe stored already), for at most one request timeout.
    if (this.#connection) {
      await withTimeout(this.#queue.idle(), this.#options.requestTimeoutMs, 'close').catch(() => {});
    }
    this.#ended = true;
    this.#subscriptions.clear();
    this.#heads.clear();
    this.#keyed.clear();
    const pending = this.#connection;
    this.#connection = undefined;
    if (!pending) return;
    let nc: NatsConnection;
    try {
      ({ nc } = await pending);
    } catch {
      return;
    }
    try {
      await withTimeout(nc.drain(), this.#options.requestTimeoutMs, 'drain');
    } catch {
      await nc.close().catch(() => {});
    }
  }

  /**
   * Settles every publish of a round, in order. What a lost race sends back is appended again, in the
   * same order and before anything queued after the round; a lone publish takes the one-at-a-time path.
   */
  async #sendRound(c: Connection, channel: string, entries: RoundEntry[]): Promise<void> {
    let pending = entries;
    for (let attempt = 0; pending.length > 1; attempt++) {
      if (attempt >= MAX_APPEND_ATTEMPTS) {
        const error = new TidingsError(
          ErrorCode.engineUnavailable,
          `channel ${channel}: gave up appending after ${MAX_APPEND_ATTEMPTS} lost races with other writers`,
        );
        for (const entry of pending) entry.reject(error);
        return;
      }
      if (attempt >= 3) await backoff(attempt);
      try {
        pending = await this.#appendRound(c, channel, pending);
      } catch (error) {
        // Reading the channel's head failed: nothing of these was sent.
        for (const entry of pending) entry.reject(this.#failure(error, 'publish'));
        return;
      }
    }
    const last = pending[0];
    if (last === undefined) return;
    try {
      last.resolve(await this.#publish(c, last.request));
      this.#roundCap = Math.min(MAX_ROUND, this.#roundCap * 2);
    } catch (error) {
      last.reject(this.#failure(error, 'publish'));
    }
  }

  /**
   * Appends several publishes of one channel in one go, without waiting between them: the first only
   * if the channel's last stream sequence is still the cached head's (as a lone append), each next one
   * only if the stream's last stored message is the one before it (`Nats-Expected-Last-Msg-Id`, the
   * one before carrying a unique chain id). All go out in one synchronous loop, so nothing of this
   * engine comes between them; if another writer's message does, or an append fails, every later one
   * of the round fails too, so what is stored is always a prefix of the round at the offsets it was
   * given: no gap, no duplicate, no reordering. Returns the publishes to append again (a lost race).
   */
  async #appendRound(c: Connection, channel: string, entries: RoundEntry[]): Promise<RoundEntry[]> {
    const first = entries[0] as RoundEntry;
    const head = this.#heads.get(channel) ?? (await this.#head(c, channel, first.request.policy));
    const ts = Date.now();
    const startedAt = performance.now();
    const sent: Promise<Settled>[] = [];
    let previous = '';
    entries.forEach((entry, i) => {
      const { request } = entry;
      const headers = appendHeaders(
        request,
        { seq: head.seq, epoch: head.epoch, offset: head.offset + i },
        ts,
      );
      // The last append needs no chain id: nothing of this round follows it.
      const msgId =
        entry.msgId ??
        (i < entries.length - 1 ? this.#chainPrefix + (this.#chainCount++).toString(36) : undefined);
      const append =
        i === 0
          ? c.log.append(channel, request.data, headers, head.seq, msgId)
          : c.log.appendAfter(channel, request.data, headers, previous, msgId);
      sent.push(
        append.then(
          (ack) => ({ ack }),
          (error: unknown) => ({ error }),
        ),
      );
      previous = msgId ?? '';
    });
    const settled = await Promise.all(sent);
    // Every append of a round runs against the request timeout from the moment the round goes out, so
    // a round the stream takes long to store shrinks the next ones before their last appends time out.
    const slow = performance.now() - startedAt > this.#options.requestTimeoutMs / 4;
    const retry: RoundEntry[] = [];
    let stored: Head | undefined;
    let clean = true;
    let broken = false;
    for (const [i, entry] of entries.entries()) {
      const outcome = settled[i] as Settled;
      if (outcome.ack === undefined) {
        clean = false;
        if (isLostRace(outcome.error)) {
          if (i > 0 && retry.length === 0 && isBrokenChain(outcome.error)) broken = true;
          retry.push(entry);
        } else {
          entry.reject(this.#failure(outcome.error, 'publish'));
        }
        continue;
      }
      const { ack } = outcome;
      if (ack.duplicate) {
        // Only a keyed publish can be a duplicate, and it is a round's last.
        clean = false;
        try {
          entry.resolve(await this.#duplicateOf(c, channel, ack.seq, entry.msgId));
        } catch (error) {
          entry.reject(this.#failure(error, 'publish'));
        }
        continue;
      }
      const offset = head.offset + i + 1;
      stored = { seq: ack.seq, epoch: head.epoch, offset };
      const result = { epoch: head.epoch, offset, ts, duplicate: false };
      if (entry.msgId !== undefined) {
        this.#rememberKey(entry.msgId, ack.seq, result, entry.request.policy.idempotencyMs);
      }
      entry.resolve(result);
    }
    if (clean && stored !== undefined) this.#remember(channel, stored);
    // Whatever happened otherwise, the next append reads where the channel stands.
    else this.#heads.delete(channel);
    // Broken: another writer's message came between two of ours, and chains this long keep breaking.
    if (broken || slow) this.#roundCap = Math.max(1, Math.floor(this.#roundCap / 2));
    else if (clean) this.#roundCap = Math.min(MAX_ROUND, this.#roundCap * 2);
    return retry;
  }

  async #publish(c: Connection, request: PublishRequest): Promise<PublishResult> {
    const { channel, ifOffset, policy } = request;
    const msgId = idempotencyMsgId(request);
    let head = this.#heads.get(channel);
    let fresh = false;
    for (let attempt = 0; attempt < MAX_APPEND_ATTEMPTS; attempt++) {
      if (head === undefined) {
        head = await this.#head(c, channel, policy);
        fresh = true;
      }
      if (ifOffset !== undefined && ifOffset !== head.offset) {
        if (!fresh) {
          head = undefined;
          continue;
        }
        // A repeated id wins over a stale ifOffset, so retrying a conditional publish that went
        // through reports the original rather than a conflict with itself. JetStream checks the
        // duplicate window before the expected sequence, so an append bound to fail tells which.
        if (msgId !== undefined) {
          const duplicate = await this.#probeDuplicate(c, request, head, msgId);
          if (duplicate) return duplicate;
        }
        throw conflict(channel, head, ifOffset);
      }
      const offset = head.offset + 1;
      const ts = Date.now();
      const headers = appendHeaders(request, head, ts);
      let ack: PubAck;
      try {
        ack = await c.log.append(channel, request.data, headers, head.seq, msgId);
      } catch (error) {
        if (!isLostRace(error)) throw error;
        this.#heads.delete(channel);
        head = undefined;
        if (attempt >= 3) await backoff(attempt);
        continue;
      }
      if (ack.duplicate) return this.#duplicateOf(c, channel, ack.seq, msgId);
      this.#remember(channel, { seq: ack.seq, epoch: head.epoch, offset });
      const result = { epoch: head.epoch, offset, ts, duplicate: false };
      if (msgId !== undefined) this.#rememberKey(msgId, ack.seq, result, policy.idempotencyMs);
      return result;
    }
    throw new TidingsError(
      ErrorCode.engineUnavailable,
      `channel ${channel}: gave up appending after ${MAX_APPEND_ATTEMPTS} lost races with other writers`,
    );
  }

  async #probeDuplicate(
    c: Connection,
    request: PublishRequest,
    head: Head,
    msgId: string,
  ): Promise<PublishResult | null> {
    // The same message a real append would carry, so even a server that stored it would stay consistent.
    const headers = appendHeaders(request, head, Date.now());
    try {
      const ack = await c.log.append(request.channel, request.data, headers, IMPOSSIBLE_SEQ, msgId);
      if (ack.duplicate) return this.#duplicateOf(c, request.channel, ack.seq, msgId);
      this.#heads.delete(request.channel);
      return null;
    } catch (error) {
      if (isWrongLastSequence(error)) return null;
      throw error;
    }
  }

  /**
   * The original result of a repeated id: read back from the message it stored, or remembered by
   * this process if it published it. When that message has been trimmed while its id is still in the
   * duplicate window and another process published it, the position is unknown: the answer is offset
   * 0 (and ts 0) in the channel's current epoch, which no message has, never another message's position.
   */
  async #duplicateOf(
    c: Connection,
    channel: string,
    seq: number,
    msgId: string | undefined,
  ): Promise<PublishResult> {
    const original = await c.log.at(channel, seq);
    if (original && original.offset > 0) {
      return { epoch: original.epoch, offset: original.offset, ts: original.ts, duplicate: true };
    }
    const known = msgId === undefined ? undefined : this.#keyed.get(msgId);
    if (known !== undefined && known.seq === seq) return { ...known.result, duplicate: true };
    const head = await this.#head(c, channel);
    return { epoch: head.epoch, offset: 0, ts: 0, duplicate: true };
  }

  #rememberKey(msgId: string, seq: number, result: PublishResult, ms: number): void {
    const now = Date.now();
    // Expired entries are at the front (inserted oldest first, with similar lifetimes): drop them.
    for (const [key, entry] of this.#keyed) {
      if (entry.until > now && this.#keyed.size < MAX_REMEMBERED_KEYS) break;
      this.#keyed.delete(key);
    }
    this.#keyed.delete(msgId);
    this.#keyed.set(msgId, { seq, result, until: now + ms });
  }

  /**
   * The channel's last stored message. A channel with none (new, purged, or aged out of the stream)
   * first gets a start marker with a new random epoch, so its position is stable from the first time
   * anyone asks for it, and an epoch is never reused after its history is gone.
   */
  async #head(c: Connection, channel: string, policy?: RetentionPolicy): Promise<StoredRecord> {
    for (let attempt = 0; attempt < MAX_APPEND_ATTEMPTS; attempt++) {
      const last = await c.log.last(channel);
      if (last) {
        this.#remember(channel, last);
        return last;
      }
      const epoch = newEpoch();
      const ts = Date.now();
      try {
        const ack = await c.log.append(channel, '', encodeHeaders({ epoch, offset: 0, ts, policy }), 0);
        const marker: StoredRecord = { channel, epoch, offset: 0, ts, data: '', seq: ack.seq };
        this.#remember(channel, marker);
        return marker;
      } catch (error) {
        // Another process started the channel first: read its marker.
        if (!isWrongLastSequence(error)) throw error;
      }
    }
    throw new TidingsError(ErrorCode.engineUnavailable, `channel ${channel}: could not read its position`);
  }

  #remember(channel: string, head: Head): void {
    if (!this.#heads.has(channel) && this.#heads.size >= MAX_CACHED_HEADS) {
      const oldest = this.#heads.keys().next().value;
      if (oldest !== undefined) this.#heads.delete(oldest);
    }
    this.#heads.set(channel, { seq: head.seq, epoch: head.epoch, offset: head.offset });
  }

  async #channelOp<T>(channel: string, action: string, op: (c: Connection) => Promise<T>): Promise<T> {
    this.#assertOpen();
    assertChannelName(channel);
    return this.#queue.run(channel, async () => {
      if (this.#ended) throw new TidingsError(ErrorCode.closed, 'the engine is closed');
      const c = await this.#connect();
      try {
        return await op(c);
      } catch (error) {
        throw this.#failure(error, action);
      }
    });
  }

  #failure(error: unknown, action: string): TidingsError {
    if (this.#ended) return new TidingsError(ErrorCode.closed, 'the engine is closed');
    return toTidingsError(error, action);
  }

  #assertOpen(): void {
    if (this.#closed) throw new TidingsError(ErrorCode.closed, 'the engine is closed');
  }

  #connect(): Promise<Connection> {
    // While closing, operations called before close() still use the connection there is.
    if (this.#ended || (this.#closed && !this.#connection))
      return Promise.reject(new TidingsError(ErrorCode.closed, 'the engine is closed'));
    if (!this.#connection) {
      const attempt = this.#open();
      this.#connection = attempt;
      // A failed attempt is forgotten so the next call tries again.
      attempt.catch(() => {
        if (this.#connection === attempt) this.#connection = undefined;
      });
    }
    return this.#connection;
  }

  async #open(): Promise<Connection> {
    const o = this.#options;
    let nc: NatsConnection | undefined;
    try {
      nc = await connect({
        servers: o.servers,
        timeout: o.connectTimeoutMs,
        reconnect: true,
        maxReconnectAttempts: -1,
        reconnectTimeWait: o.reconnectTimeWaitMs,
        // Otherwise every request builds two Error objects up front (stack traces for a failure that
        // rarely comes): an eighth of a pipelined append's CPU. Failures reach callers as TidingsErrors.
        noAsyncTraces: true,
        ...(o.name === undefined ? {} : { name: o.name }),
      });
      const jsm = await jetstreamManager(nc, { timeout: o.requestTimeoutMs, checkAPI: false });
      await ensureStream(jsm, dataStreamConfig(o, this.#subjects));
      await ensureStream(jsm, snapshotStreamConfig(o, this.#subjects));
      if (this.#closed) throw new TidingsError(ErrorCode.closed, 'the engine is closed');
      void this.#watch(nc);
      return { nc, jsm, log: new ChannelLog(jsm, o.stream, this.#subjects, o.requestTimeoutMs) };
    } catch (error) {
      await nc?.close().catch(() => {});
      throw this.#failure(error, `connect to ${String(o.servers)}`);
    }
  }

  async #presenceLink(): Promise<PresenceLink> {
    const c = await this.#connect();
    if (!c.presence) {
      const o = this.#options;
      const attempt = ensureStream(c.jsm, presenceStreamConfig(o, this.#subjects)).then(() => ({
        nc: c.nc,
        store: new PresenceStore(c.jsm, o.stream, this.#subjects, o.requestTimeoutMs),
      }));
      c.presence = attempt;
      // A failed attempt is forgotten so the next call tries again.
      attempt.catch(() => {
        if (c.presence === attempt) c.presence = undefined;
      });
    }
    return c.presence;
  }

  /**
   * After a reconnect, or when the client dropped messages of a slow subscription, the live stream may
   * have missed messages: every listener re-reads.
   */
  async #watch(nc: NatsConnection): Promise<void> {
    for await (const status of nc.status()) {
      if (status.type === 'reconnect' || status.type === 'slowConsumer') {
        // Cached heads may predate appends made while we were away; the retry path would fix them,
        // but dropping them saves the wasted round trip.
        if (status.type === 'reconnect') {
          this.#heads.clear();
          // The client re-sends its subscriptions on reconnect; a flush round trip means the server has
          // them, so a re-read started now cannot miss a message the stream would not deliver either.
          await nc.flush().catch(() => {});
        }
        for (const listener of new Set([...this.#subscriptions].map((s) => s.listener))) {
          try {
            listener.resync?.();
          } catch (error) {
            console.error('tidings: a NATS engine listener threw on resync', error);
          }
        }
      }
    }
  }
}

function appendHeaders(request: PublishRequest, head: Head, ts: number) {
  return encodeHeaders({
    epoch: head.epoch,
    offset: head.offset + 1,
    ts,
    id: request.id,
    expiresAt: request.expiresAt,
    origin: request.origin,
    policy: request.policy,
  });
}

function backoff(attempt: number): Promise<void> {
  const ms = Math.min(50, 2 ** Math.min(attempt, 6)) * Math.random();
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** An engine that connects on first use. */
export function natsEngine(options?: NatsEngineOptions): NatsEngine {
  return new NatsEngine(options);
}
