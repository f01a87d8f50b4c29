import type {
  Engine,
  EnginePresence,
  PresenceEvent,
  PresenceListener,
  PublishRequest,
  PublishResult,
  ReadResult,
  RetentionPolicy,
} from '@tidings/engine';
import { MemoryEngine } from '@tidings/engine';
import {
  assertChannelName,
  assertChannelOrPattern,
  type ChannelMap,
  type ChannelOf,
  type Chosen,
  type DataOf,
  type DataOfEach,
  Defaults,
  ErrorCode,
  isPattern,
  type Position,
  type PresenceMember,
  parseSince,
  Since,
  type SinceSpec,
  TidingsError,
  type Untyped,
} from '@tidings/protocol';
import { Channel } from './channel.js';
import { encodeData } from './encode-data.js';
import { toEngineError } from './engine-error.js';
import { Feed, type FeedListener } from './feed.js';
import { Envelope, type Message } from './message.js';
import { PresenceFeed } from './presence-feed.js';
import { toPresenceMember } from './presence-member.js';
import { resume } from './resume.js';
import { type RetentionConfig, RetentionRules } from './retention.js';
import { type Checked, SchemaRules, type Schemas } from './schemas.js';
import { Scope } from './scope.js';
import {
  type Handler,
  type Pace,
  type ResetNotice,
  type ScopeLike,
  type StartFrom,
  type Subscription,
  type SubscriptionHost,
  SubscriptionImpl,
} from './subscription.js';

export interface HubOptions<Map extends ChannelMap = Untyped> {
  /** Where channels live. Default: a new in-memory engine. */
  engine?: Engine;
  /** Retention per channel pattern, first match wins: `{ 'chat.*': { size: 100, ttlMs: 600_000 } }`. */
  history?: RetentionConfig;
  /** Retention for channels no pattern matches. Default: 100 messages, 10 minutes, idempotency keys 2 minutes. */
  defaultHistory?: Partial<RetentionPolicy>;
  /** Largest `data` as JSON bytes. Default 64 KiB. */
  maxMessageBytes?: number;
  /** Called when a handler throws or rejects, or delivery must wait for the engine. Default: console.error. */
  onError?: (error: unknown, context: { channel: string }) => void;
  /** The clock for message expiry, ms. Default Date.now; tests inject their own. */
  now?: () => number;
  /**
   * A Standard Schema (zod, valibot, arktype, …) per channel or pattern: `{ chat: ChatLine, 'orders.*': Order }`.
   * Every publish and `setState`, from clients or server code, must pass every schema whose key matches
   * its channel before anything is stored, else it fails with INVALID_DATA. What the schema returns is
   * stored (its defaults and stripped keys apply). Without a type argument, the hub's channel map is
   * inferred from the schemas' output types.
   */
  schemas?: Schemas<Map>;
}

export interface SubscribeOptions {
  /** Where to start: 'now' (default), 'snapshot', or a position `{ epoch, offset }` to resume after. Channels only. */
  since?: SinceSpec;
  /** Called, in order with messages, when the position could not be served and the snapshot follows. */
  onReset?: (reset: ResetNotice) => void | PromiseLike<void>;
  /** Called first, in order with messages, with the position delivery starts after. */
  onStart?: (start: ResetNotice) => void | PromiseLike<void>;
  /**
   * Called with each join and leave of the channel's (or the pattern's channels') members, as they
   * happen: live only, best effort, not ordered with messages. Needs an engine with presence.
   */
  onPresence?: (event: PresenceEvent) => void;
  /**
   * Backpressure for catch-up: called before each message read from history (or the snapshot) is
   * delivered; while it returns a promise, delivery waits for it. Live messages are not paced. History
   * is read one page (about 256 KiB) at a time, once the previous page has been delivered.
   */
  pace?: Pace;
}

export interface PublishOptions {
  /**
   * Idempotency key: the same publisher publishing the same key to the same channel again gets the first
   * result back and delivers nothing.
   */
  id?: string;
  /**
   * Whose idempotency keys these are: keys of different publishers never match, so no one can take a
   * key before its rightful publisher. Default: the server's own scope, which no client shares (the
   * server gives each client identity a scope of its own).
   */
  publisher?: string;
  /** Publish only if the channel's last offset is still this; otherwise reject with CONFLICT. */
  ifOffset?: number;
  /** Drop the message if it has not been delivered within this many ms. */
  ttl?: number;
  /** Whether the publishing scope's own subscriptions receive it. Default true. Needs `scope`. */
  echo?: boolean;
}

export interface Published extends PublishResult {
  channel: string;
}

export interface HistoryOptions {
  /** Return the messages after this position; without it, the newest `limit` retained messages. */
  since?: Position;
  /** At most this many messages. Default 100, at most 1000. */
  limit?: number;
}

export interface HistoryResult<T = unknown> extends Position {
  /** `epoch` and `offset` are the channel's current position. */
  messages: Message<T>[];
  /** True when `since` could not be served: `snapshot` (if any) and the retained messages after it are returned instead. */
  reset: boolean;
  snapshot?: Message<T>;
}

/**
 * The hub: the server side of Tidings. Publish to channels, subscribe handlers, read history, keep
 * snapshots. Every subscription receives each message of its channel exactly once, in publish order.
 * `Map` types each channel's data (see `ChannelMap`); without it, data is `unknown`.
 */
export class Hub<Map extends ChannelMap = Untyped> {
  readonly engine: Engine;
  readonly #retention: RetentionRules;
  readonly #maxMessageBytes: number;
  readonly #schemas: SchemaRules;
  readonly #onError: (error: unknown, context: { channel: string }) => void;
  /** Every open subscription is in its feed's set (a hub-wide set would cost each one ~30 bytes more). */
  readonly #feeds = new Map<string, Feed>();
  readonly #presenceFeeds = new Map<string, PresenceFeed>();
  readonly #presenceListeners = new Map<
    SubscriptionImpl,
    { feed: PresenceFeed; listener: PresenceListener }
  >();
  readonly #host: SubscriptionHost;
  readonly #now: () => number;
  /** Feeds of polls left without users, closed by the sweep once idle for FEED_LINGER_MS. */
  readonly #lingering = new Set<Feed>();
  #sweep: NodeJS.Timeout | undefined;
  #closed = false;

  constructor(options: HubOptions<Map> = {}) {
    this.engine = options.engine ?? new MemoryEngine();
    this.#retention = new RetentionRules(options.history, options.defaultHistory);
    this.#maxMessageBytes = options.maxMessageBytes ?? Defaults.maxMessageBytes;
    this.#schemas = new SchemaRules(options.schemas as Schemas);
    this.#onError =
      options.onError ??
      ((error, { channel }) => console.error(`[tidings] subscription to ${channel}:`, error));
    this.#now = options.now ?? Date.now;
    this.#host = {
      engine: this.engine,
      now: this.#now,
      historyBatch: Defaults.maxHistoryBatch,
      report: (error, subscription) => this.#report(error, subscription.channel),
      detach: (subscription) => this.#detach(subscription),
      envelope: (message) => this.#feeds.get(message.channel)?.envelope(message) ?? new Envelope(message),
    };
  }

  /** A handle on one channel (`hub.channel('chat').send(data)`), for code that works with one channel. */
  channel<C extends ChannelOf<Map>>(name: C): Channel<DataOf<Map, C>> {
    assertChannelName(name);
    return new Channel(this, name);
  }

  /** A group of subscriptions that ends together (a page view, a connection). */
  scope(): Scope<Map> {
    return new Scope<Map>(this);
  }

  /**
   * Subscribes a handler to a channel or a pattern (`chat.*` one segment, `chat.>` any depth). The
   * handler gets each message once, in order; an async handler finishes before the next call.
   */
  subscribe<T = never, C extends ChannelOf<Map> = ChannelOf<Map>>(
    channel: C,
    handler: Handler<Chosen<NoInfer<T>, DataOf<Map, C>>>,
    options: SubscribeOptions = {},
  ): Subscription {
    return this.subscribeIn(undefined, channel, handler as Handler, options);
  }

  /**
   * @internal Scope-aware subscribe. `receiver` is `this` of the handler and of every callback in
   * `options`, so a caller with many subscriptions (the server: one per connection) passes shared
   * functions rather than closures made for each.
   */
  subscribeIn(
    scope: ScopeLike | undefined,
    channel: string,
    handler: Handler,
    options: SubscribeOptions,
    receiver?: unknown,
  ): Subscription {
    this.#assertOpen();
    assertChannelOrPattern(channel);
    if (typeof handler !== 'function')
      throw new TidingsError(ErrorCode.invalidField, 'handler must be a function');
    const since = parseSince(options.since);
    const pattern = isPattern(channel);
    if (pattern && since !== Since.now) {
      throw new TidingsError(ErrorCode.invalidField, 'a pattern subscription can only start from "now"');
    }
    const { onPresence } = options;
    if (onPresence !== undefined && typeof onPresence !== 'function')
      throw new TidingsError(ErrorCode.invalidField, 'onPresence must be a function');
    const presence = onPresence === undefined ? undefined : this.#presenceFeed(channel);
    const joined = this.#feed(channel, pattern);
    const subscription = new SubscriptionImpl(
      this.#host,
      channel,
      pattern,
      handler,
      { onReset: options.onReset, onStart: options.onStart, pace: options.pace, scope },
      {
        streaming: joined.ready,
        presence: presence?.ready,
        from: pattern ? undefined : startFrom(since, joined.known, () => this.engine.position(channel)),
      },
      receiver,
    );
    joined.subscriptions.add(subscription);
    if (presence !== undefined && onPresence !== undefined) {
      const listener: PresenceListener = (event) => {
        if (!subscription.closed) onPresence.call(receiver, event);
      };
      presence.listeners.add(listener);
      this.#presenceListeners.set(subscription, { feed: presence, listener });
    }
    return subscription;
  }

  /**
   * @internal Follows a channel's live messages without a subscription (a long-poll that is caught up),
   * through its feed: the feed's `known` position says whether a cursor is caught up, `ready` when its
   * stream is live, `envelope` gives history reads the frames it already encoded. The feed stays open
   * for FEED_LINGER_MS after its last user leaves: a poller comes right back. Stop with `unlisten`.
   */
  listen(channel: string, listener: FeedListener): Feed {
    this.#assertOpen();
    const feed = this.#feed(channel, false);
    feed.lingers = true;
    feed.listeners.add(listener);
    return feed;
  }

  /** @internal */
  unlisten(feed: Feed, listener: FeedListener): void {
    if (feed.listeners.delete(listener)) this.#release(feed);
  }

  #feed(channel: string, pattern: boolean): Feed {
    let feed = this.#feeds.get(channel);
    if (feed === undefined || feed.failed) {
      if (feed !== undefined) this.#closeFeed(feed);
      feed = new Feed(this.engine, channel, pattern);
      this.#feeds.set(channel, feed);
    }
    return feed;
  }

  /** A feed lost a user: closed at once when empty, unless polls use it (then after FEED_LINGER_MS). */
  #release(feed: Feed): void {
    if (!feed.empty) return;
    if (!feed.lingers || this.#closed) {
      this.#closeFeed(feed);
      return;
    }
    feed.idleSince = this.#now();
    this.#lingering.add(feed);
    if (this.#sweep === undefined) {
      this.#sweep = setInterval(() => this.#sweepFeeds(), FEED_LINGER_MS / 2);
      this.#sweep.unref();
    }
  }

  #sweepFeeds(): void {
    const before = this.#now() - FEED_LINGER_MS;
    for (const feed of this.#lingering) {
      if (!feed.empty) this.#lingering.delete(feed);
      else if (feed.idleSince <= before) this.#closeFeed(feed);
    }
    if (this.#lingering.size === 0) {
      clearInterval(this.#sweep);
      this.#sweep = undefined;
    }
  }

  #closeFeed(feed: Feed): void {
    this.#lingering.delete(feed);
    if (this.#feeds.get(feed.key) === feed) this.#feeds.delete(feed.key);
    feed.close();
  }

  /** Publishes to one channel; resolves with the message's position once the engine has stored it. */
  publish<C extends ChannelOf<Map>>(
    channel: C,
    data: DataOf<Map, C>,
    options: PublishOptions = {},
  ): Promise<Published> {
    return this.publishIn(undefined, channel, data, options);
  }

  /** @internal Scope-aware publish. */
  async publishIn(
    scopeId: string | undefined,
    channel: string,
    data: unknown,
    options: PublishOptions = {},
  ): Promise<Published> {
    this.#assertOpen();
    if (typeof channel === 'string' && isPattern(channel)) {
      throw new TidingsError(
        ErrorCode.invalidChannel,
        `cannot publish to the pattern ${channel}: use broadcast()`,
      );
    }
    assertChannelName(channel);
    const checked = this.#schemas.check(channel, data);
    const json = this.#encode(checked instanceof Promise ? await checked : checked, data);
    const request = this.#request(channel, json, options, scopeId);
    const result = await this.#engineCall(this.engine.publish(request));
    // A duplicate's position is its original's (or unknown: offset 0), not where the channel stands.
    if (!result.duplicate) this.#feeds.get(channel)?.note(result);
    return { channel, ...result };
  }

  /**
   * Publishes one message to many channels: a list of names, or every known channel matching a pattern
   * (a channel the engine holds a position for: published to, given a snapshot, or subscribed to, and
   * not yet forgotten after its retention time).
   */
  async broadcast<C extends ChannelOf<Map>>(
    target: C | readonly C[],
    data: DataOfEach<Map, C>,
    options: Omit<PublishOptions, 'ifOffset'> = {},
  ): Promise<Published[]> {
    this.#assertOpen();
    if ((options as PublishOptions).ifOffset !== undefined) {
      throw new TidingsError(ErrorCode.invalidField, 'ifOffset applies to one channel: use publish()');
    }
    const json = encodeData(data, this.#maxMessageBytes);
    let channels: readonly string[];
    if (typeof target === 'string') {
      assertChannelOrPattern(target);
      channels = isPattern(target) ? await this.#engineCall(this.engine.channels(target)) : [target];
    } else {
      for (const channel of target) assertChannelName(channel);
      channels = target;
    }
    // Every channel's schemas pass before anything is stored.
    const checked = await Promise.all(channels.map((channel) => this.#schemas.check(channel, data)));
    const requests = channels.map((channel, i) =>
      this.#request(
        channel,
        checked[i] === undefined ? json : this.#encode(checked[i], data),
        options,
        undefined,
      ),
    );
    return Promise.all(
      requests.map(async (request) => {
        const result = await this.#engineCall(this.engine.publish(request));
        if (!result.duplicate) this.#feeds.get(request.channel)?.note(result);
        return { channel: request.channel, ...result };
      }),
    );
  }

  #request(
    channel: string,
    json: string,
    options: PublishOptions,
    scopeId: string | undefined,
  ): PublishRequest {
    const request: PublishRequest = { channel, data: json, policy: this.#retention.for(channel) };
    const { id, ifOffset, ttl, echo } = options;
    if (id !== undefined) {
      if (typeof id !== 'string' || id.length === 0 || id.length > 128) {
        throw new TidingsError(ErrorCode.invalidField, 'id must be a string of 1-128 characters');
      }
      request.id = id;
    }
    const { publisher } = options;
    if (publisher !== undefined) {
      if (typeof publisher !== 'string' || publisher === '')
        throw new TidingsError(ErrorCode.invalidField, 'publisher must be a non-empty string');
      request.publisher = publisher;
    }
    if (ifOffset !== undefined) {
      if (!Number.isSafeInteger(ifOffset) || ifOffset < 0)
        throw new TidingsError(ErrorCode.invalidField, 'ifOffset must be a non-negative integer');
      request.ifOffset = ifOffset;
    }
    if (ttl !== undefined) {
      if (!Number.isSafeInteger(ttl) || ttl <= 0)
        throw new TidingsError(ErrorCode.invalidField, 'ttl must be a positive integer (ms)');
      request.expiresAt = this.#now() + ttl;
    }
    if (echo === false) {
      if (scopeId === undefined)
        throw new TidingsError(ErrorCode.invalidField, 'echo: false needs a scope: use scope.publish()');
      request.origin = scopeId;
    }
    return request;
  }

  /** Records the channel's state (its snapshot): new subscribers from the snapshot, or reset ones, get it first. */
  async setState<C extends ChannelOf<Map>>(channel: C, data: DataOf<Map, C>): Promise<Position> {
    this.#assertOpen();
    assertChannelName(channel);
    // Subscribers get the state through the same handler as messages: the same schemas hold.
    const checked = this.#schemas.check(channel, data);
    const json = this.#encode(checked instanceof Promise ? await checked : checked, data);
    return this.#engineCall(this.engine.setSnapshot(channel, json, this.#retention.for(channel)));
  }

  /** The channel's current position. */
  async position(channel: string): Promise<Position> {
    this.#assertOpen();
    assertChannelName(channel);
    return this.#engineCall(this.engine.position(channel));
  }

  /** Reads history: exactly the messages after `since`, or (`reset: true`) the snapshot and what follows it. */
  async history<C extends ChannelOf<Map>>(
    channel: C,
    options: HistoryOptions = {},
  ): Promise<HistoryResult<DataOf<Map, C>>> {
    this.#assertOpen();
    assertChannelName(channel);
    const limit = options.limit ?? 100;
    if (!Number.isSafeInteger(limit) || limit < 1 || limit > Defaults.maxHistoryBatch) {
      throw new TidingsError(
        ErrorCode.invalidField,
        `limit must be an integer from 1 to ${Defaults.maxHistoryBatch}`,
      );
    }
    const since = options.since === undefined ? undefined : parseSince(options.since);
    if (typeof since === 'string')
      throw new TidingsError(ErrorCode.invalidField, 'since must be a position { epoch, offset }');
    const engine = this.engine;
    if (since !== undefined) {
      const resumed = await this.#engineCall(resume(engine, channel, since, limit));
      const result: HistoryResult<DataOf<Map, C>> = { ...this.#page(resumed.read), reset: resumed.reset };
      if (resumed.reset && resumed.snapshot !== null) {
        result.snapshot = new Envelope({ ...resumed.snapshot, channel }, true) as Message<DataOf<Map, C>>;
      }
      return result;
    }
    const head = await this.#engineCall(engine.read(channel, 0, 1));
    const after = Math.max(head.firstOffset - 1, head.offset - limit);
    return { ...this.#page(await this.#engineCall(engine.read(channel, after, limit))), reset: false };
  }

  /** The data as JSON: as the schemas returned it, or as given when none applies. */
  #encode(checked: Checked | undefined, data: unknown): string {
    return encodeData(checked === undefined ? data : checked.value, this.#maxMessageBytes);
  }

  /** A page of history, without expired messages: those are never delivered late, here either. */
  #page<T>(read: ReadResult): Omit<HistoryResult<T>, 'reset'> {
    const now = this.#now();
    const messages: Message<T>[] = [];
    for (const message of read.messages) {
      if (message.expiresAt === undefined || message.expiresAt > now)
        messages.push(new Envelope(message) as Message<T>);
    }
    return { epoch: read.epoch, offset: read.offset, messages };
  }

  /**
   * Who is in the channel now, in every process: one member per connection (or `join` call). Rejects
   * with UNSUPPORTED when the engine has no presence.
   */
  async presence(channel: string): Promise<PresenceMember[]> {
    this.#assertOpen();
    assertChannelName(channel);
    return this.#engineCall(this.#presence().members(channel));
  }

  /**
   * Adds a member to the channel's presence (again: updates its `info`). It stays until `leave`, or until
   * this process stops vouching for it (the engine closes, or the process dies: after the engine's TTL).
   * A server does this for each connection subscribed to a channel of its `presence` option.
   */
  async join(channel: string, member: PresenceMember): Promise<void> {
    this.#assertOpen();
    assertChannelName(channel);
    const plain = toPresenceMember(member, this.#maxMessageBytes);
    return this.#engineCall(this.#presence().join(channel, plain));
  }

  /** Removes the member with this `client` from the channel's presence. */
  async leave(channel: string, client: string): Promise<void> {
    this.#assertOpen();
    assertChannelName(channel);
    if (typeof client !== 'string' || client === '')
      throw new TidingsError(ErrorCode.invalidField, 'client must be a non-empty string');
    return this.#engineCall(this.#presence().leave(channel, client));
  }

  /** @internal The hub's clock, ms: what message expiry is measured by. */
  now(): number {
    return this.#now();
  }

  /** How many subscriptions of this process follow exactly this channel (or pattern): clients and handlers alike. */
  subscriberCount(channel: string): number {
    const feed = this.#feeds.get(channel);
    return feed === undefined ? 0 : feed.subscriptions.size + feed.listeners.size;
  }

  /** Largest `data` a publish may carry, JSON bytes: what the server tells its clients. */
  get maxMessageBytes(): number {
    return this.#maxMessageBytes;
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Ends every subscription and closes the engine. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const subscriptions = [...this.#feeds.values()].flatMap((feed) => [...feed.subscriptions]);
    for (const subscription of subscriptions) subscription.unsubscribe();
    clearInterval(this.#sweep);
    for (const feed of [...this.#lingering]) this.#closeFeed(feed);
    await this.engine.close();
  }

  #detach(subscription: SubscriptionImpl): void {
    const presence = this.#presenceListeners.get(subscription);
    if (presence !== undefined) {
      this.#presenceListeners.delete(subscription);
      presence.feed.listeners.delete(presence.listener);
      if (
        presence.feed.listeners.size === 0 &&
        this.#presenceFeeds.get(subscription.channel) === presence.feed
      ) {
        this.#presenceFeeds.delete(subscription.channel);
        presence.feed.close();
      }
    }
    const feed = this.#feeds.get(subscription.channel);
    if (feed === undefined) return;
    if (feed.subscriptions.delete(subscription)) this.#release(feed);
  }

  #presence(): EnginePresence {
    const presence = this.engine.presence;
    if (presence === undefined) {
      throw new TidingsError(ErrorCode.unsupported, 'this engine does not track presence');
    }
    return presence;
  }

  #presenceFeed(channel: string): PresenceFeed {
    let feed = this.#presenceFeeds.get(channel);
    if (feed === undefined) {
      feed = new PresenceFeed(this.#presence(), channel, (error) => this.#report(error, channel));
      this.#presenceFeeds.set(channel, feed);
    }
    return feed;
  }

  #report(error: unknown, channel: string): void {
    try {
      this.#onError(error, { channel });
    } catch {
      // An error hook that throws must not stop delivery.
    }
  }

  #assertOpen(): void {
    if (this.#closed) throw new TidingsError(ErrorCode.closed, 'the hub is closed');
  }

  async #engineCall<T>(call: Promise<T>): Promise<T> {
    try {
      return await call;
    } catch (error) {
      throw toEngineError(error);
    }
  }
}

/** How long the feed of a polled channel stays open after its last user: polls come back within it. */
const FEED_LINGER_MS = 10_000;

/**
 * A new hub. `createHub<{ chat: ChatLine; 'orders.*': Order }>()` types each channel's data; with
 * `schemas` and no type argument, the types come from the schemas.
 */
export function createHub<Map extends ChannelMap = Untyped>(options?: HubOptions<Map>): Hub<Map> {
  return new Hub<Map>(options);
}

/**
 * Where a channel subscription starts: at the live position this process knows (nothing to read), or
 * after a position: the one asked for, or the channel's, asked of the engine now (before anything
 * published after the subscribe call, so none of that is missed), or from the snapshot.
 */
function startFrom(
  since: SinceSpec,
  known: Position | undefined,
  position: () => Promise<Position>,
): StartFrom {
  if (since !== Since.now) return { after: since };
  if (known !== undefined) return { live: known };
  return { after: position() };
}
