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
import type { ServerObserver } from './observer.js';
import type { Scope } from './scope.js';
import type { ResetNotice, Subscription } from './subscription.js';
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

/** One subscription of a session; the placeholder exists while it is being authorized. */
class Entry {
  subscription: Subscription | undefined;
  /** A member of the channel's presence (or on its way to be): leaves with the subscription. */
  member = false;
  /** Its start was announced: `join`/`leave` frames may follow (never before `subscribed`). */
  started = false;
  constructor(
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
export class Session {
  identity: Identity;
  readonly #context: ServerContext;
  /** Kept for a token refresh, and only when there is an authenticate hook to hand it to. */
  readonly #request: IncomingMessage | undefined;
  readonly #sink: FrameSink;
  readonly #announce: boolean;
  readonly #presence: boolean;
  readonly #scope: Scope;
  readonly #entries = new Map<string, Entry>();
  readonly #positions = new Map<string, Position>();
  readonly #maxBufferedBytes: number;
  readonly #paceBytes: number;
  /** While history waits for the client to take what it was sent: settles on drain, or after the grace. */
  #waiting: Promise<void> | undefined;
  readonly #observer: ServerObserver | undefined;
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
    this.#scope = context.hub.scope();
    this.#maxBufferedBytes = context.limits.maxBufferedBytes;
    this.#paceBytes = Math.min(PACE_BYTES, Math.floor(this.#maxBufferedBytes / 4));
    this.#observer = context.observer;
    this.#client = context.clientKey(options.identity, options.request);
    this.#arm();
  }

  /** The connection id the `welcome` frame carries; also the scope publishes with `echo: false` skip. */
  get id(): string {
    return this.#scope.id;
  }

  get ended(): boolean {
    return this.#ended;
  }

  get subscriptions(): number {
    return this.#entries.size;
  }

  /** The position after the last frame sent on each channel (or where it started, or the request's cursor). */
  get positions(): ReadonlyMap<string, Position> {
    return this.#positions;
  }

  cursor(): string {
    return encodeCursor(this.#positions);
  }

  /** Seeds a channel's position from a request's cursor, so cursors name it before its subscription starts. */
  seed(channel: string, position: Position): void {
    this.#positions.set(channel, position);
  }

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
    if (this.#entries.has(channel)) {
      return this.fail(
        new TidingsError(ErrorCode.alreadySubscribed, `already subscribed to ${channel}`),
        id,
        channel,
      );
    }
    if (this.#entries.size >= this.#context.limits.maxSubscriptions) {
      const max = this.#context.limits.maxSubscriptions;
      return this.fail(
        new TidingsError(ErrorCode.tooManySubscriptions, `at most ${max} subscriptions`),
        id,
        channel,
      );
    }
    const entry = new Entry(channel, id);
    this.#entries.set(channel, entry);
    if (!authorized) {
      try {
        await authorizeSubscribe(this.#context.hooks, this.identity, channel);
      } catch (error) {
        if (this.#entries.get(channel) === entry) this.#drop(entry, error);
        return;
      }
      if (this.#entries.get(channel) !== entry) return;
    }
    const pattern = isPattern(channel);
    // Presence is per channel: a pattern subscription is no member and hears no joins.
    const member = !pattern && this.#presence && this.#context.hasPresence(channel);
    let subscription: Subscription;
    try {
      subscription = pattern
        ? this.#scope.subscribe(channel, this.#onPatternMessage, { since })
        : this.#scope.subscribe(channel, this.#onMessage, {
            since,
            onStart: this.#started.bind(this, entry),
            onReset: this.#onReset,
            pace: this.#pace,
            onPresence: member ? this.#onPresence : undefined,
          });
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
      if (pattern && this.#entries.get(channel) === entry && this.#announce) {
        this.#sink.send(frames.subscribed(channel, id), false);
      }
    } catch (error) {
      if (this.#entries.get(channel) === entry) this.#drop(entry, error);
    }
  }

  unsubscribe(channel: string, id?: number): void {
    const entry = this.#entries.get(channel);
    if (entry === undefined) {
      this.fail(new TidingsError(ErrorCode.notSubscribed, `not subscribed to ${channel}`), id, channel);
      return;
    }
    this.#entries.delete(channel);
    entry.subscription?.unsubscribe();
    this.#leave(entry);
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
      const published = await this.#scope.publish(channel, frame.data, {
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
      [...this.#entries.values()].map(async (entry) => {
        try {
          await authorizeSubscribe(this.#context.hooks, identity, entry.channel);
        } catch (error) {
          if (this.#entries.get(entry.channel) !== entry) return;
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
    this.#observer?.error?.(cause.code);
    this.#sink.send(frames.error(cause, id, channel), false);
  }

  /** Ends the session from the server side: the client is told why and whether to come back. */
  end(code: ErrorCode, reason: string, reconnect = errorAction(code) !== 'fatal'): void {
    if (this.#ended) return;
    this.close();
    this.#observer?.disconnected?.(code);
    this.#sink.end(code, reason, reconnect);
  }

  /** Ends the session quietly: the transport is gone, or done. */
  close(): void {
    if (this.#ended) return;
    this.#ended = true;
    clearTimeout(this.#expiry);
    this.#scope.close();
    for (const entry of this.#entries.values()) this.#leave(entry);
    this.#entries.clear();
    this.#context.connectionsPerIdentity.release(this.#client);
  }

  // Delivery: one bound function per session, no allocation per message.
  // Callbacks are methods bound once per instance, not arrow-function fields: under a loader that
  // keeps function names (tsx) every arrow field grows a property dictionary, ~250 bytes a connection each.
  readonly #onMessage = this.#sendMessage.bind(this);

  #sendMessage(message: unknown): void {
    const envelope = message as Envelope;
    this.#positions.set(envelope.channel, envelope);
    this.#sink.send(envelope.frame, true);
    this.#observer?.delivered?.();
    if (this.#sink.bufferedBytes > this.#maxBufferedBytes) this.slowConsumer();
  }

  // A pattern's channels carry no resumable position: their messages move nothing.
  readonly #onPatternMessage = this.#sendPatternMessage.bind(this);

  #sendPatternMessage(message: unknown): void {
    this.#sink.send((message as Envelope).frame, false);
    this.#observer?.delivered?.();
    if (this.#sink.bufferedBytes > this.#maxBufferedBytes) this.slowConsumer();
  }

  /**
   * Backpressure for history: a catch-up writes while the client holds little unsent output, then waits
   * for it to take that. One that takes nothing for SLOW_CONSUMER_GRACE_MS is a slow consumer. Live
   * messages are never held back: a client that cannot keep up with them hits `maxBufferedBytes`.
   */
  readonly #pace = this.#paceHistory.bind(this);

  #paceHistory(): Promise<void> | undefined {
    if (this.#ended || this.#sink.pendingBytes < this.#paceBytes) return undefined;
    this.#waiting ??= this.#waitForDrain();
    return this.#waiting;
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

  readonly #onReset = this.#sendReset.bind(this);

  #sendReset(notice: ResetNotice): void {
    this.#positions.set(notice.channel, notice);
    this.#sink.send(frames.reset(notice.channel, notice.epoch, notice.offset), true);
    this.#observer?.delivered?.();
  }

  // A connection hears of the others; it is in the member list itself.
  readonly #onPresence = this.#sendPresence.bind(this);

  #sendPresence(event: PresenceEvent): void {
    if (event.member.client === this.id || !this.#entries.get(event.channel)?.started) return;
    this.#sink.send(frames.presenceEvent(event), false);
    if (this.#sink.bufferedBytes > this.#maxBufferedBytes) this.slowConsumer();
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

  #started(entry: Entry, start: ResetNotice): void {
    entry.started = true;
    this.#positions.set(entry.channel, start);
    if (this.#announce) {
      this.#sink.send(frames.subscribed(entry.channel, entry.id, start.epoch, start.offset), true);
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

  /** A subscription that could not start, or was refused: it alone gets the error. */
  #drop(entry: Entry, error: unknown): void {
    this.#entries.delete(entry.channel);
    entry.subscription?.unsubscribe();
    this.#leave(entry);
    this.fail(error, entry.id, entry.channel);
  }

  /** A subscription the server ends (token expiry, rights withdrawn): `unsubscribed` with the code. */
  #end(entry: Entry, code: ErrorCode, reason: string): void {
    this.#entries.delete(entry.channel);
    entry.subscription?.unsubscribe();
    this.#leave(entry);
    this.#sink.send(frames.unsubscribed(entry.channel, undefined, code, reason), false);
  }

  #arm(): void {
    clearTimeout(this.#expiry);
    this.#expiry = undefined;
    const expiresAt = this.identity.expiresAt;
    if (expiresAt === undefined) return;
    this.#expiry = setTimeout(this.#expire, Math.min(MAX_TIMER_MS, Math.max(0, expiresAt - Date.now())));
    this.#expiry.unref();
  }

  readonly #expire = this.#expireNow.bind(this);

  #expireNow(): void {
    const expiresAt = this.identity.expiresAt;
    if (this.#ended || expiresAt === undefined) return;
    if (expiresAt > Date.now()) {
      this.#arm();
      return;
    }
    const reason = 'the token has expired';
    for (const entry of [...this.#entries.values()]) this.#end(entry, ErrorCode.tokenExpired, reason);
    this.end(ErrorCode.tokenExpired, reason, true);
  }
}
