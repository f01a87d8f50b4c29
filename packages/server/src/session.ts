import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { PresenceEvent } from '@tidings/engine';
import {
  type ClientFrame,
  ErrorCode,
  encodeCursor,
  errorAction,
  FrameType,
  type HistoryRequestFrame,
  isPattern,
  type Position,
  type PresenceMember,
  type PublishFrame,
  type SinceSpec,
  TidingsError,
} from '@tidings/protocol';
import { authorizePublish, authorizeSubscribe, type Identity, identify } from './auth.js';
import type { Envelope } from './message.js';
import type { ResetNotice, ScopeLike, Subscription } from './subscription.js';
import { PACE_BYTES, watchStall } from './transports/backpressure.js';
import type { ServerContext } from './transports/context.js';
import * as frames from './transports/frames.js';
import { readHistory } from './transports/history.js';

/** Where a session's frames go: implemented by each transport. */
export interface FrameSink {
  /** Writes one frame. `moved` is true when it moved a channel's position (subscribed, message, snapshot, reset). */
  send(frame: string, moved: boolean): void;
  /**
   * Output the client has not taken yet, bytes: above `maxBufferedBytes` it is a slow consumer. Writes
   * held back on purpose (corked for the rest of a turn) do not count.
   */
  readonly bufferedBytes: number;
  /** Output the client has not taken yet, including this turn's corked writes, bytes: paces catch-up. */
  readonly pendingBytes: number;
  /** Resolves once the output has been written out (or the connection is gone). */
  drained(): Promise<void>;
  /** Says goodbye (`disconnect`, where the transport has such a thing) and closes. */
  end(code: ErrorCode, reason: string, reconnect: boolean): void;
}

export interface SessionOptions {
  request: IncomingMessage;
  identity: Identity;
  sink: FrameSink;
  /** Send `subscribed` frames (long-polls carry start positions in their cursor instead). Default true. */
  announce?: boolean;
  /**
   * Be a member of presence channels and send `join`/`leave` frames. Default true; false for polls, which
   * last one request: a member that comes and goes with every poll would tell the others nothing true.
   */
  presence?: boolean;
}

/**
 * One subscription of a session; the placeholder exists while it is being authorized. It is also what
 * the subscription calls its callbacks on (`this`), so they are functions shared by every session, not
 * closures or bound functions made for each one.
 */
class Entry {
  subscription: Subscription | undefined;
  /** The position after the last frame sent on the channel (or where it started); none for a pattern. */
  position: Position | undefined;
  /** A member of the channel's presence (or on its way to be): leaves with the subscription. */
  member = false;
  /** Its start was announced: `join`/`leave` frames may follow (never before `subscribed`). */
  started = false;
  constructor(
    readonly session: Session,
    readonly channel: string,
    readonly id: number | undefined,
  ) {}
}

const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * What one client connection (a WebSocket, or one HTTP streaming or polling request) can do, whatever
 * the transport: subscribe, unsubscribe, publish and refresh its token, within its identity's rights
 * and the server's limits. Tracks the position of each channel it has sent, for cursors and SSE ids.
 */
export class Session implements ScopeLike {
  /**
   * The connection id the `welcome` frame carries; also the scope id publishes with `echo: false` skip
   * (the session is its subscriptions' scope itself: no Scope object and set of its own).
   */
  readonly id: string = randomUUID();
  identity: Identity;
  readonly #context: ServerContext;
  /** Kept for a token refresh, and only when there is an authenticate hook to hand it to. */
  readonly #request: IncomingMessage | undefined;
  readonly #sink: FrameSink;
  readonly #announce: boolean;
  readonly #presence: boolean;
  /**
   * Subscribed channels (and those being authorized), each holding its channel's position: none, one
   * entry itself (most connections read one channel: a Map for it costs ~250 bytes), or a Map by channel
   * once a second one comes. Read through #entry, #entryCount, #entryList.
   */
  #entries: Entry | Map<string, Entry> | undefined;
  /**
   * Positions of channels not subscribed now: seeded from a request's cursor before their subscription
   * starts, or kept after it ended (cursors still name them). Made on first use: most sessions never do.
   */
  #positions: Map<string, Position> | undefined;
  /** While history waits for the client to take what it was sent: settles on drain, or after the grace. */
  #waiting: Promise<void> | undefined;
  /** Who this client is for limits and idempotency scopes (see ServerContext.clientKey). */
  readonly #client: string;
  #expiry: NodeJS.Timeout | undefined;
  #ended = false;

  constructor(context: ServerContext, options: SessionOptions) {
    this.#context = context;
    this.#request = context.authenticate ? options.request : undefined;
    this.identity = options.identity;
    this.#sink = options.sink;
    this.#announce = options.announce ?? true;
    this.#presence = options.presence ?? true;
    this.#client = context.clientKey(options.identity, options.request);
    this.#arm();
  }

  get ended(): boolean {
    return this.#ended;
  }

  get subscriptions(): number {
    return this.#entryCount();
  }

  /**
   * Whether the session holds exactly one channel's position, asked while it sends a frame that moved a
   * position (whose channel therefore holds one): then the SSE `id:` is that frame's own position, and
   * the same for every session that sends the frame. False may also mean "not known at once" (beside a
   * pattern subscription): the caller then builds the cursor, which is always right.
   */
  get onePosition(): boolean {
    return this.#entries instanceof Entry && (this.#positions === undefined || this.#positions.size === 0);
  }

  /** The position after the last frame sent on each channel (or where it started, or the request's cursor). */
  cursor(): string {
    const positions = new Map<string, Position>();
    for (const entry of this.#entryList()) {
      if (entry.position !== undefined) positions.set(entry.channel, entry.position);
    }
    if (this.#positions !== undefined) for (const [c, p] of this.#positions) positions.set(c, p);
    return encodeCursor(positions);
  }

  /** Seeds a channel's position from a request's cursor, so cursors name it before its subscription starts. */
  seed(channel: string, position: Position): void {
    const entry = this.#entry(channel);
    if (entry !== undefined) entry.position = position;
    else {
      this.#positions ??= new Map();
      this.#positions.set(channel, position);
    }
  }

  /** ScopeLike: a subscription of this session ended; its entry goes with it (see #drop, #end, unsubscribe). */
  forget(_subscription: Subscription): void {}

  /** Handles one parsed client frame (WebSocket). Every failure becomes an `error` frame. */
  handle(frame: ClientFrame): void {
    switch (frame.type) {
      case FrameType.subscribe:
        void this.subscribe(frame.channel, frame.since ?? 'now', frame.id);
        break;
      case FrameType.unsubscribe:
        this.unsubscribe(frame.channel, frame.id);
        break;
      case FrameType.publish:
        void this.publish(frame);
        break;
      case FrameType.refresh:
        void this.refresh(frame.token, frame.id);
        break;
      case FrameType.presence:
        void this.presence(frame.channel, frame.id);
        break;
      case FrameType.history:
        void this.history(frame);
        break;
      case FrameType.pong:
        break;
    }
  }

  /**
   * Subscribes; resolves once the subscription has started (its catch-up delivered) or failed, with
   * its error sent. `authorized` skips the checks a caller has already made.
   */
  async subscribe(channel: string, since: SinceSpec, id?: number, authorized = false): Promise<void> {
    if (this.#ended) return;
    if (this.#entry(channel) !== undefined) {
      return this.fail(
        new TidingsError(ErrorCode.alreadySubscribed, `already subscribed to ${channel}`),
        id,
        channel,
      );
    }
    if (this.#entryCount() >= this.#context.limits.maxSubscriptions) {
      const max = this.#context.limits.maxSubscriptions;
      return this.fail(
        new TidingsError(ErrorCode.tooManySubscriptions, `at most ${max} subscriptions`),
        id,
        channel,
      );
    }
    const entry = new Entry(this, channel, id);
    this.#addEntry(entry);
    // A seeded (or earlier) position moves into the entry while it is subscribed.
    const seeded = this.#positions?.get(channel);
    if (seeded !== undefined) {
      entry.position = seeded;
      this.#positions?.delete(channel);
    }
    if (!authorized) {
      try {
        await authorizeSubscribe(this.#context.hooks, this.identity, channel);
      } catch (error) {
        if (this.#entry(channel) === entry) this.#drop(entry, error);
        return;
      }
      if (this.#entry(channel) !== entry) return;
    }
    const pattern = isPattern(channel);
    // Presence is per channel: a pattern subscription is no member and hears no joins.
    const member = !pattern && this.#presence && this.#context.hasPresence(channel);
    let subscription: Subscription;
    const hub = this.#context.hub;
    try {
      // The callbacks are called on `entry`: shared functions, nothing made per session.
      subscription = pattern
        ? hub.subscribeIn(this, channel, Session.#sendPatternMessage, { since }, entry)
        : hub.subscribeIn(
            this,
            channel,
            Session.#sendMessage,
            {
              since,
              onStart: Session.#started,
              onReset: Session.#sendReset,
              pace: Session.#paceHistory,
              onPresence: member ? Session.#sendPresence : undefined,
            },
            entry,
          );
    } catch (error) {
      this.#drop(entry, error);
      return;
    }
    entry.subscription = subscription;
    // Joined in this same turn, before `subscribed` can reach the client: the engine applies a
    // channel's operations in call order, so a `presence` request after `subscribed` lists this member.
    let joined: Promise<void> | undefined;
    if (member) {
      entry.member = true;
      joined = this.#context.hub.join(channel, this.#member());
    }
    try {
      await Promise.all([subscription.ready, joined]);
      if (pattern && this.#entry(channel) === entry && this.#announce) {
        this.#sink.send(frames.subscribed(channel, id), false);
      }
    } catch (error) {
      if (this.#entry(channel) === entry) this.#drop(entry, error);
    }
  }

  unsubscribe(channel: string, id?: number): void {
    const entry = this.#entry(channel);
    if (entry === undefined) {
      this.fail(new TidingsError(ErrorCode.notSubscribed, `not subscribed to ${channel}`), id, channel);
      return;
    }
    this.#remove(entry);
    this.#sink.send(frames.unsubscribed(channel, id), false);
  }

  /** Answers a `presence` request: authorized like a subscribe, for a channel with presence. */
  async presence(channel: string, id?: number): Promise<void> {
    try {
      await authorizeSubscribe(this.#context.hooks, this.identity, channel);
      if (!this.#context.hasPresence(channel)) {
        throw new TidingsError(ErrorCode.unsupported, `${channel} has no presence`);
      }
      const members = await this.#context.hub.presence(channel);
      if (!this.#ended) this.#sink.send(frames.presence(channel, members, id), false);
    } catch (error) {
      // No `channel` on this error: it is about the request, and must not read as the subscription failing.
      this.fail(error, id);
    }
  }

  /** Answers a `history` request with a page, as `GET /history` does (authorized like a subscribe). */
  async history({ id, channel, ...query }: HistoryRequestFrame): Promise<void> {
    try {
      const fields = JSON.stringify({ type: FrameType.history, id, channel }).slice(1, -1);
      const page = await readHistory(this.#context, this.identity, channel, query, `${fields},`);
      if (!this.#ended) this.#sink.send(page, false);
    } catch (error) {
      // No `channel`, as for `presence`: a refused read is not a subscription failing.
      this.fail(error, id);
    }
  }

  async publish(frame: PublishFrame): Promise<void> {
    const { id, channel } = frame;
    if (!this.#context.publishLimiters.take(this.#client)) {
      this.fail(new TidingsError(ErrorCode.rateLimited, 'too many publishes: slow down'), id, channel);
      return;
    }
    try {
      await authorizePublish(this.#context.hooks, this.identity, channel, frame.data);
      // As a closed scope refuses to publish: a session that ended meanwhile publishes nothing.
      if (this.#ended) return;
      const published = await this.#context.hub.publishIn(this.id, channel, frame.data, {
        id: frame.key,
        ifOffset: frame.ifOffset,
        ttl: frame.ttl,
        echo: frame.echo,
        publisher: this.#client,
      });
      if (!this.#ended) this.#sink.send(frames.ack(published, id), false);
    } catch (error) {
      this.fail(error, id, channel);
    }
  }

  /** A new token for the same identity: extends (or shortens) access; subscriptions it no longer allows end. */
  async refresh(token: string, id?: number): Promise<void> {
    let identity: Identity;
    try {
      identity = await identify(this.#context.authenticate, {
        request: this.#request as IncomingMessage,
        token,
      });
      if (identity.id !== this.identity.id) {
        throw new TidingsError(ErrorCode.forbidden, 'a refresh must be for the same identity');
      }
    } catch (error) {
      this.fail(error, id);
      return;
    }
    if (this.#ended) return;
    this.identity = identity;
    this.#arm();
    this.#sink.send(frames.refreshed(id, identity.expiresAt), false);
    await Promise.all(
      this.#entryList().map(async (entry) => {
        try {
          await authorizeSubscribe(this.#context.hooks, identity, entry.channel);
        } catch (error) {
          if (this.#entry(entry.channel) !== entry) return;
          const { code, message } = frames.toTidingsError(error);
          this.#end(entry, code, message);
        }
      }),
    );
  }

  /** Sends an `error` frame; the session goes on. */
  fail(error: unknown, id?: number, channel?: string): void {
    if (this.#ended) return;
    const cause = frames.toTidingsError(error);
    this.#context.observer?.error?.(cause.code);
    this.#sink.send(frames.error(cause, id, channel), false);
  }

  /** Ends the session from the server side: the client is told why and whether to come back. */
  end(code: ErrorCode, reason: string, reconnect = errorAction(code) !== 'fatal'): void {
    if (this.#ended) return;
    this.close();
    this.#context.observer?.disconnected?.(code);
    this.#sink.end(code, reason, reconnect);
  }

  /** Ends the session quietly: the transport is gone, or done. */
  close(): void {
    if (this.#ended) return;
    this.#ended = true;
    clearTimeout(this.#expiry);
    const entries = this.#entryList();
    this.#entries = undefined;
    for (const entry of entries) {
      entry.subscription?.unsubscribe();
      this.#keepPosition(entry);
    }
    for (const entry of entries) this.#leave(entry);
    this.#context.connectionsPerIdentity.release(this.#client);
  }

  // Delivery. The subscription calls these on the entry (`this`): static, so one function serves every
  // session, where a bound function per session and callback cost ~50 bytes each on every connection.

  static #sendMessage(this: Entry, message: unknown): void {
    // biome-ignore lint/complexity/noThisInStatic lint/complexity/noUselessThisAlias: `this` is the entry, not the class
    const entry: Entry = this;
    const envelope = message as Envelope;
    const session = entry.session;
    entry.position = envelope;
    const sink = session.#sink;
    sink.send(envelope.frame, true);
    session.#context.observer?.delivered?.();
    if (sink.bufferedBytes > session.#context.limits.maxBufferedBytes) session.slowConsumer();
  }

  // A pattern's channels carry no resumable position: their messages move nothing.
  static #sendPatternMessage(this: Entry, message: unknown): void {
    // biome-ignore lint/complexity/noThisInStatic lint/complexity/noUselessThisAlias: `this` is the entry, not the class
    const entry: Entry = this;
    const session = entry.session;
    const sink = session.#sink;
    sink.send((message as Envelope).frame, false);
    session.#context.observer?.delivered?.();
    if (sink.bufferedBytes > session.#context.limits.maxBufferedBytes) session.slowConsumer();
  }

  /**
   * Backpressure for history: a catch-up writes while the client holds little unsent output, then waits
   * for it to take that. One that takes nothing for SLOW_CONSUMER_GRACE_MS is a slow consumer. Live
   * messages are never held back: a client that cannot keep up with them hits `maxBufferedBytes`.
   */
  static #paceHistory(this: Entry): Promise<void> | undefined {
    // biome-ignore lint/complexity/noThisInStatic lint/complexity/noUselessThisAlias: `this` is the entry, not the class
    const entry: Entry = this;
    const session = entry.session;
    const paceBytes = Math.min(PACE_BYTES, Math.floor(session.#context.limits.maxBufferedBytes / 4));
    if (session.#ended || session.#sink.pendingBytes < paceBytes) return undefined;
    session.#waiting ??= session.#waitForDrain();
    return session.#waiting;
  }

  #waitForDrain(): Promise<void> {
    return new Promise<void>((resolve) => {
      const stop = watchStall(
        () => this.#sink.pendingBytes,
        () => {
          this.#waiting = undefined;
          this.slowConsumer();
          resolve();
        },
      );
      this.#sink.drained().then(() => {
        stop();
        this.#waiting = undefined;
        resolve();
      });
    });
  }

  static #sendReset(this: Entry, notice: ResetNotice): void {
    // biome-ignore lint/complexity/noThisInStatic lint/complexity/noUselessThisAlias: `this` is the entry, not the class
    const entry: Entry = this;
    const session = entry.session;
    entry.position = notice;
    session.#sink.send(frames.reset(notice.channel, notice.epoch, notice.offset), true);
    session.#context.observer?.delivered?.();
  }

  // A connection hears of the others; it is in the member list itself.
  static #sendPresence(this: Entry, event: PresenceEvent): void {
    // biome-ignore lint/complexity/noThisInStatic lint/complexity/noUselessThisAlias: `this` is the entry, not the class
    const entry: Entry = this;
    const session = entry.session;
    if (event.member.client === session.id || !entry.started) return;
    session.#sink.send(frames.presenceEvent(event), false);
    if (session.#sink.bufferedBytes > session.#context.limits.maxBufferedBytes) session.slowConsumer();
  }

  #member(): PresenceMember {
    const { id: user, info } = this.identity;
    return info === undefined ? { client: this.id, user } : { client: this.id, user, info };
  }

  /**
   * Takes the entry's member out of the presence. A leave that fails (the engine is unreachable) is
   * not retried: the engine no longer vouches for the member, which expires after the engine's TTL.
   */
  #leave(entry: Entry): void {
    if (!entry.member) return;
    entry.member = false;
    const hub = this.#context.hub;
    if (!hub.closed) hub.leave(entry.channel, this.id).catch(() => {});
  }

  static #started(this: Entry, start: ResetNotice): void {
    // biome-ignore lint/complexity/noThisInStatic lint/complexity/noUselessThisAlias: `this` is the entry, not the class
    const entry: Entry = this;
    const session = entry.session;
    entry.started = true;
    entry.position = start;
    if (session.#announce) {
      session.#sink.send(frames.subscribed(entry.channel, entry.id, start.epoch, start.offset), true);
    }
  }

  /** The client does not read fast enough: drop it; it resumes from its last position. */
  slowConsumer(): void {
    this.end(
      ErrorCode.slowConsumer,
      'the connection could not keep up; resume from your last position',
      true,
    );
  }

  #entry(channel: string): Entry | undefined {
    const entries = this.#entries;
    if (entries instanceof Entry) return entries.channel === channel ? entries : undefined;
    return entries?.get(channel);
  }

  #entryCount(): number {
    const entries = this.#entries;
    return entries === undefined ? 0 : entries instanceof Entry ? 1 : entries.size;
  }

  /** A copy: callers may remove entries while they go through it. */
  #entryList(): Entry[] {
    const entries = this.#entries;
    return entries === undefined ? [] : entries instanceof Entry ? [entries] : [...entries.values()];
  }

  /** Adds an entry for a channel that has none. */
  #addEntry(entry: Entry): void {
    const entries = this.#entries;
    if (entries === undefined) this.#entries = entry;
    else if (entries instanceof Entry) {
      this.#entries = new Map([
        [entries.channel, entries],
        [entry.channel, entry],
      ]);
    } else entries.set(entry.channel, entry);
  }

  #deleteEntry(entry: Entry): void {
    const entries = this.#entries;
    if (entries === entry) this.#entries = undefined;
    else if (entries instanceof Map && entries.get(entry.channel) === entry) entries.delete(entry.channel);
  }

  /** An entry goes: its position stays, for cursors. */
  #keepPosition(entry: Entry): void {
    if (entry.position === undefined) return;
    this.#positions ??= new Map();
    this.#positions.set(entry.channel, entry.position);
  }

  /** Ends an entry's subscription; its position stays, for cursors. */
  #remove(entry: Entry): void {
    this.#deleteEntry(entry);
    this.#keepPosition(entry);
    entry.subscription?.unsubscribe();
    this.#leave(entry);
  }

  /** A subscription that could not start, or was refused: it alone gets the error. */
  #drop(entry: Entry, error: unknown): void {
    this.#remove(entry);
    this.fail(error, entry.id, entry.channel);
  }

  /** A subscription the server ends (token expiry, rights withdrawn): `unsubscribed` with the code. */
  #end(entry: Entry, code: ErrorCode, reason: string): void {
    this.#remove(entry);
    this.#sink.send(frames.unsubscribed(entry.channel, undefined, code, reason), false);
  }

  #arm(): void {
    clearTimeout(this.#expiry);
    this.#expiry = undefined;
    const expiresAt = this.identity.expiresAt;
    if (expiresAt === undefined) return;
    const ms = Math.min(MAX_TIMER_MS, Math.max(0, expiresAt - Date.now()));
    // Only sessions whose token expires have a timer (and this closure): most have neither.
    this.#expiry = setTimeout(() => this.#expireNow(), ms);
    this.#expiry.unref();
  }

  #expireNow(): void {
    const expiresAt = this.identity.expiresAt;
    if (this.#ended || expiresAt === undefined) return;
    if (expiresAt > Date.now()) {
      this.#arm();
      return;
    }
    const reason = 'the token has expired';
    for (const entry of this.#entryList()) this.#end(entry, ErrorCode.tokenExpired, reason);
    this.end(ErrorCode.tokenExpired, reason, true);
  }
}
