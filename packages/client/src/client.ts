import {
  type AckFrame,
  type ChannelMap,
  type ChannelOf,
  type Chosen,
  type DataOf,
  DEFAULT_MOUNT_PATH,
  Defaults,
  Endpoint,
  ErrorCode,
  type ErrorFrame,
  FrameType,
  type HistoryFrame,
  isPattern,
  type Position,
  PROTOCOL_VERSION,
  type PresenceFrame,
  type PresenceMember,
  type PublishFrame,
  Query,
  type ServerFrame,
  Since,
  type SinceSpec,
  TidingsError,
  TransportName,
  type Untyped,
} from '@tidings/protocol';
import { type Backoff, exponentialBackoff } from './backoff.js';
import { channelQuery, readCursor } from './channel-query.js';
import { assertChannel, errorOf, sinceOf } from './checks.js';
import { Emitter } from './emitter.js';
import { type Handover, handover } from './handover.js';
import { httpGet } from './http-get.js';
import { Persistence, type StorageLike, storageOf } from './persistence.js';
import { randomKey } from './random-key.js';
import { nextRequestId } from './request-id.js';
import { RetryTimer } from './retry-timer.js';
import { DEFAULT_SIZE_LIMITS, type SizeLimits, sizeError } from './size-limits.js';
import {
  type Delivery,
  type Message,
  type MessageHandler,
  Subscription,
  type SubscriptionOwner,
  toMessage,
} from './subscription.js';
import type {
  AskFrame,
  ChannelSpec,
  CloseInfo,
  Platform,
  Transport,
  TransportHost,
  TransportKind,
} from './transport.js';
import { longpoll } from './transports/longpoll.js';
import { poll } from './transports/poll.js';
import { sse } from './transports/sse.js';
import { stream } from './transports/stream.js';
import { websocket } from './transports/websocket.js';

export type ClientState = 'connecting' | 'connected' | 'disconnected';

export interface StateChange {
  oldState: ClientState;
  newState: ClientState;
}

export interface ClientEvents {
  state: StateChange;
  /** Something the app should know: the client stopped for good, or the server reported an error. */
  error: TidingsError;
}

export interface ClientOptions extends Platform {
  /** The transports to use, in order of preference. Default: websocket, sse, stream, longpoll, poll. */
  transports?: TransportName[];
  /**
   * Sent as the `token` query parameter. A function is called again before every connection, and
   * before the token expires (the server's `welcome`, or a poll answer, says when): the WebSocket
   * renews it in band (`refresh`), a stream reopens with it from its positions, polling sends its next
   * request with it at once.
   */
  token?: string | (() => string | Promise<string>);
  /**
   * Where to keep positions so that a reloaded page resumes where it was: a storage, or `true` for the
   * page's `sessionStorage` if it has one (in Node: nothing kept).
   */
  persist?: StorageLike | boolean;
  /** Wait before the n-th reconnect attempt, ms. Default: exponential with full jitter, 250 ms to 10 s. */
  backoff?: Backoff;
  /** The server's mount path. Default `/tidings`. */
  path?: string;
}

export interface SubscribeOptions {
  /** Where to start: `'now'` (default), `'snapshot'`, or after a position. A saved position (`persist`) wins over a mode. */
  since?: SinceSpec;
}

export interface HistoryOptions {
  /** The messages after this position. */
  since?: Position;
  /** The messages before this position (scroll-back). */
  before?: Position;
  /** At most this many (1 to 1000). Default 100. */
  limit?: number;
}

export interface HistoryPage<T = unknown> extends Position {
  /** `epoch` and `offset` are the channel's current position. */
  messages: Message<T>[];
  /** `since` could not be served (history lost or trimmed): the snapshot, if any, and what follows. */
  reset: boolean;
}

export interface PublishOptions {
  /** Publish only if the channel's last offset is still this; otherwise the publish fails with CONFLICT. */
  ifOffset?: number;
  /** Drop the message if it is not delivered within this many ms. */
  ttl?: number;
  /** False: this client's own subscriptions do not receive it (WebSocket only). Default true. */
  echo?: boolean;
}

export interface PublishResult {
  channel: string;
  epoch: string;
  offset: number;
  ts: number;
  /** True when the server had stored this publish already (a retry): nothing new was published. */
  duplicate: boolean;
}

interface PollAnswer {
  frames: ServerFrame[];
  cursor: string;
}

const KINDS: Record<TransportName, TransportKind> = { websocket, sse, stream, longpoll, poll };

/** Slack past the heartbeat before a silent connection counts as dead. */
const HEARTBEAT_GRACE_MS = 10_000;
/** How long a transport may take to open before it counts as a failure to connect. */
const CONNECT_TIMEOUT_MS = 10_000;
/**
 * Failures to open in a row before moving to the next transport. One that worked before gets more
 * tries: losing the network looks the same as a proxy that blocks it.
 */
const FALLBACK_AFTER = 2;
/** A token is renewed this long before it expires, at most (see `#expires`). */
const REFRESH_EARLY_MS = 30_000;
/** The longest wait between two WebSocket probes after a fallback. */
const PROBE_MAX_MS = 60_000;
const FALLBACK_AFTER_WORKED = 5;

interface Connection {
  name: TransportName;
  transport?: Transport;
  opened: boolean;
}

interface PendingAsk {
  frame: AskFrame;
  // biome-ignore lint/suspicious/noExplicitAny: the answer's type is the caller's (`#request<T>`).
  resolve(answer: any): void;
  reject(error: TidingsError): void;
}

interface PendingPublish {
  frame: PublishFrame & { id: number };
  resolve(result: PublishResult): void;
  reject(error: TidingsError): void;
  tries: number;
  /** The connection it was last sent on. */
  sentOn?: Connection;
}

/**
 * A connection to a Tidings server that stays up: it picks a transport (falling back when one cannot
 * connect), reconnects with backoff, resumes every subscription from its position, and sends publishes
 * when it can, each once. `Map` types each channel's data (see `connect`); without it, data is `unknown`.
 */
export class Client<Map extends ChannelMap = Untyped>
  extends Emitter<ClientEvents>
  implements SubscriptionOwner
{
  #state: ClientState = 'connecting';
  #transport: TransportName;
  #connection: Connection | undefined;
  #index: number;
  #failures = 0;
  #worked: TransportName | undefined;
  #heartbeat: number = Defaults.heartbeatMs;
  #watchdog: ReturnType<typeof setTimeout> | undefined;
  /** Bumped on every connect and stop, so a connect that awaited a token knows if it is still wanted. */
  #attempt = 0;
  /** Every handle per channel or pattern, oldest first: one subscription on the wire, from the oldest's position. */
  readonly #subscriptions = new Map<string, Subscription[]>();
  readonly #pending = new Map<number, PendingPublish>();
  readonly #asks = new Set<PendingAsk>();
  /** What the server accepts, as it last said. */
  #limits: SizeLimits | undefined;
  readonly #root: string;
  readonly #names: TransportName[];
  readonly #platform: Platform;
  readonly #token: ClientOptions['token'];
  /** The token in use: every new request and connection sends it. */
  #current: string | undefined;
  #renewal: ReturnType<typeof setTimeout> | undefined;
  /** The next WebSocket probe after a fallback, and the one under way. */
  #upgrade: ReturnType<typeof setTimeout> | undefined;
  #probing: Connection | undefined;
  #route: ((frame: ServerFrame) => void) | undefined;
  readonly #backoff: Backoff;
  readonly #retry: RetryTimer;
  readonly #persistence: Persistence | undefined;

  constructor(url: string, options: ClientOptions = {}) {
    super();
    const root = new URL(url, globalThis.location?.href).href.replace(/^ws/, 'http').replace(/\/$/, '');
    const path = options.path ?? DEFAULT_MOUNT_PATH;
    // Either the server's origin, or its full mount URL (as test helpers and docs often give it).
    this.#root = root.endsWith(path) ? root : root + path;
    const fetch = options.fetch ?? globalThis.fetch;
    this.#platform = {
      WebSocket: options.WebSocket ?? globalThis.WebSocket,
      EventSource: options.EventSource ?? globalThis.EventSource,
      // Called as a plain function: a browser's fetch refuses any other `this` than the window.
      fetch: fetch && ((input, init) => fetch(input, init)),
    };
    this.#names = (options.transports ?? Object.values(TransportName)).filter(
      (name) => KINDS[name] && this.#platform[KINDS[name].needs],
    );
    if (this.#names.length === 0) {
      throw new TidingsError(ErrorCode.invalidField, 'no WebSocket, EventSource or fetch');
    }
    this.#token = options.token;
    this.#backoff = options.backoff ?? exponentialBackoff();
    this.#retry = new RetryTimer(() => this.#connect(), this.#backoff);
    const storage = storageOf(options.persist);
    if (storage) this.#persistence = new Persistence(storage, `tidings:${this.#root}`);
    this.#worked = this.#persistence?.transport;
    this.#index = Math.max(0, this.#names.indexOf(this.#worked!));
    this.#transport = this.#names[this.#index];
    // Not before the app has had a chance to listen: a token function may fail at once.
    queueMicrotask(() => this.#connect());
  }

  get state(): ClientState {
    return this.#state;
  }

  /** The transport in use, or being tried. */
  get transport(): TransportName {
    return this.#transport;
  }

  /**
   * Subscribes `handler` to a channel, or a pattern (`chat.*`, `chat.>`). It sees each message once,
   * in order, across reconnects. Any number of handlers may share a channel: one subscription on the
   * wire, and each handle's `unsubscribe()` stops only its handler. One that asks for `'snapshot'` or a
   * position while the channel is already subscribed gets that replay by itself (a poll read), then the
   * live messages. Throws a TidingsError for a bad name, or a pattern with another start than `'now'`.
   */
  subscribe<T = never, C extends ChannelOf<Map> = ChannelOf<Map>>(
    channel: C,
    handler: MessageHandler<Chosen<NoInfer<T>, DataOf<Map, C>>>,
    options: SubscribeOptions = {},
  ): Subscription {
    this.#assertOpen();
    assertChannel(channel, true);
    const since = sinceOf(options.since);
    if (isPattern(channel) && since !== Since.now) {
      throw new TidingsError(ErrorCode.invalidField, 'a pattern starts "now"');
    }
    const handles = this.#subscriptions.get(channel) ?? [];
    const lead = handles[0];
    const subscription = new Subscription(this, channel, handler, since, this.#persistence, !lead);
    this.#subscriptions.set(channel, [...handles, subscription]);
    if (!lead) this.#wire((transport) => transport.subscribe(subscription.spec()));
    else if (since !== Since.now) subscription.hold(this.#replay(channel, since));
    // It starts where the others are: the wire said `subscribed` already. After a microtask (no frame
    // comes before), so that the caller can listen to `subscribed` first.
    else if (lead.state === 'subscribed')
      queueMicrotask(
        () =>
          subscription.state === 'subscribing' &&
          subscription.receive({ type: FrameType.subscribed, channel, ...lead.position }),
      );
    return subscription;
  }

  /** Stops one handle (or, by name, every handle of the channel); the wire subscription ends with the last. */
  unsubscribe(target: Subscription | string): void {
    const channel = typeof target === 'string' ? target : target.channel;
    const handles = this.#subscriptions.get(channel) ?? [];
    const rest = handles.filter((handle) => handle !== target && typeof target !== 'string');
    if (rest.length === handles.length) return;
    for (const handle of handles) if (!rest.includes(handle)) handle.end(rest.length === 0);
    if (rest.length > 0) return void this.#subscriptions.set(channel, rest);
    this.#subscriptions.delete(channel);
    this.#wire((transport) => transport.unsubscribe(channel));
  }

  /**
   * What a handle that joins a subscribed channel asked to see first: the channel from `since` to now,
   * read by `poll` (following its cursor), ending with its position as a `subscribed` frame.
   */
  async #replay(channel: string, since: SinceSpec): Promise<Delivery[]> {
    const frames: Delivery[] = [];
    for (;;) {
      // `/poll` answers at once (unlike `/longpoll`).
      const answer = await this.#get<PollAnswer>(Endpoint.poll, channelQuery([{ channel, since }]).params);
      const position = readCursor(answer.cursor).get(channel)!;
      // Only what a subscription takes: not the `disconnect` of an expired token, say.
      frames.push(...(answer.frames.filter((frame) => 'epoch' in frame) as Delivery[]));
      if (!answer.frames.some((frame) => frame.type === FrameType.message)) {
        frames.push({ type: FrameType.subscribed, channel, ...position });
        return frames;
      }
      since = position;
    }
  }

  /**
   * A page of a channel's retained history, authorized like a subscription: the newest `limit`
   * messages (default 100), those after `since` ("what did I miss"), or those before `before`
   * (scroll-back: pass the oldest position shown). `reset` says `since` could not be served: the
   * channel's snapshot (if any) and the messages retained after it come instead. Asked in band over
   * WebSocket, by `GET /history` on the HTTP transports; waits while disconnected, as `presence` does.
   */
  async history<C extends ChannelOf<Map>>(
    channel: C,
    { since, before, limit }: HistoryOptions = {},
  ): Promise<HistoryPage<DataOf<Map, C>>> {
    // Only the position of what is passed (a Message, say) goes on the wire.
    const at = (position?: Position) => position && { epoch: position.epoch, offset: position.offset };
    const { epoch, offset, reset, frames } = await this.#request<HistoryFrame>({
      type: FrameType.history,
      channel,
      since: at(since),
      before: at(before),
      limit,
    });
    return { epoch, offset, reset, messages: frames.map(toMessage) as Message<DataOf<Map, C>>[] };
  }

  /** GETs an endpoint (with a token, even before the first connection fetched one). */
  async #get<T>(endpoint: string, params: [string, string][]): Promise<T> {
    this.#current ??= typeof this.#token === 'function' ? await this.#token() : this.#token;
    return httpGet<T>(this.#platform.fetch!, this.#url(endpoint, params));
  }

  /**
   * Publishes `data`; resolves once the server stored it. Waits while disconnected, and is sent again
   * after a reconnect with the same idempotency key, so it is stored once. Rejects with a TidingsError
   * on an error that retrying cannot fix (FORBIDDEN, CONFLICT, INVALID_DATA when the server's schema
   * refuses the data: `error.details.issues` says why), and without sending it when it is over the
   * server's size limits (MESSAGE_TOO_LARGE) or not JSON (NOT_SERIALIZABLE).
   */
  publish<C extends ChannelOf<Map>>(
    channel: C,
    data: DataOf<Map, C>,
    options: PublishOptions = {},
  ): Promise<PublishResult> {
    return new Promise((resolve, reject) => {
      this.#assertOpen();
      assertChannel(channel);
      const { ifOffset, ttl, echo } = options;
      const frame = {
        type: FrameType.publish,
        id: nextRequestId(),
        channel,
        data,
        key: randomKey(),
        ifOffset,
        ttl,
        echo,
      };
      const pending: PendingPublish = { frame, resolve, reject, tries: 0 };
      this.#pending.set(frame.id, pending);
      if (this.#state === 'connected') this.#send(pending);
      // Checked when sent, against what the server will have said by then.
      else if (this.#limits) this.#check(pending);
    });
  }

  /** Sends a pending publish on the current connection, unless it is over the limits the server gave. */
  #send(pending: PendingPublish): void {
    if (!this.#check(pending)) return;
    pending.sentOn = this.#connection;
    this.#connection!.transport!.publish(pending.frame);
  }

  /** False (and the publish rejected) when the server cannot take it. */
  #check(pending: PendingPublish): boolean {
    const error = sizeError(pending.frame, this.#limits ?? DEFAULT_SIZE_LIMITS);
    if (!error) return true;
    this.#pending.delete(pending.frame.id);
    pending.reject(error);
    return false;
  }

  /**
   * Who is in a channel with presence: one member per connection. Waits while disconnected, and asks
   * again if the connection is lost first. Rejects with a TidingsError on a refusal (FORBIDDEN, or
   * UNSUPPORTED for a channel without presence). Authorized like a subscribe; no subscription needed.
   */
  async presence(channel: string): Promise<PresenceMember[]> {
    return (await this.#request<PresenceFrame>({ type: FrameType.presence, channel })).members;
  }

  /** Asks the server on the connection, once connected; asks again on the next one if it is lost first. */
  #request<T>(frame: AskFrame): Promise<T> {
    return new Promise((resolve, reject) => {
      this.#assertOpen();
      assertChannel(frame.channel);
      frame.id = nextRequestId();
      const ask: PendingAsk = { frame, resolve, reject };
      this.#asks.add(ask);
      if (this.#state === 'connected') this.#ask(ask);
    });
  }

  #ask(ask: PendingAsk): void {
    this.#connection!.transport!.ask(ask.frame).then(
      (answer) => {
        this.#asks.delete(ask);
        ask.resolve(answer);
      },
      (error) => {
        // Anything but the server's refusal is a lost connection: the next one asks again.
        if (!(error instanceof TidingsError)) return;
        this.#asks.delete(ask);
        ask.reject(error);
      },
    );
  }

  /** Closes the connection for good. Pending publishes reject with CLOSED; saved positions stay. */
  close(): void {
    if (this.#state === 'disconnected') return;
    this.#stop(new TidingsError(ErrorCode.closed, 'closed'));
    for (const subscription of this.#handles()) subscription.end(false);
    this.#subscriptions.clear();
  }

  async #connect(): Promise<void> {
    if (this.#state === 'disconnected') return;
    const attempt = ++this.#attempt;
    let token: string | undefined;
    try {
      token = typeof this.#token === 'function' ? await this.#token() : this.#token;
    } catch (cause) {
      if (attempt !== this.#attempt) return;
      const error =
        cause instanceof TidingsError
          ? cause
          : new TidingsError(ErrorCode.internal, `token function: ${cause}`, undefined, {
              cause,
            });
      this.emit('error', error);
      // Its own fatal error stops the client; anything else (the app's server is down) is tried again.
      if (cause instanceof TidingsError && error.action === 'fatal') return this.#fail(error);
      return this.#retry.schedule();
    }
    if (attempt !== this.#attempt) return;
    this.#current = token;
    const connection: Connection = { name: this.#names[this.#index], opened: false };
    const live = () => this.#connection === connection;
    const host: TransportHost = {
      ...this.#common(),
      open: (heartbeat) => live() && this.#opened(connection, heartbeat),
      limits: ({ expiresAt, ...limits }) => {
        if (!live()) return;
        this.#limits = { ...DEFAULT_SIZE_LIMITS, ...this.#limits, ...limits };
        // Not every answer says (a publish's does not): only a `welcome` or a poll answer moves the renewal.
        if (expiresAt) this.#expires(expiresAt);
      },
      // While a WebSocket takes over (see `#probe`), this connection's frames go through the handover.
      frame: (frame) => live() && (this.#route ?? this.#frame.bind(this))(frame),
      close: (info) => live() && this.#lost(info),
    };
    this.#transport = connection.name;
    this.#connection = connection;
    this.#watch(CONNECT_TIMEOUT_MS);
    try {
      connection.transport = KINDS[connection.name].open(host);
    } catch {
      this.#lost();
    }
  }

  #opened(connection: Connection, heartbeat?: number): void {
    this.#heartbeat = heartbeat ?? Defaults.heartbeatMs;
    this.#watch();
    if (connection.opened) return;
    connection.opened = true;
    this.#failures = 0;
    this.#retry.reset();
    if (this.#persistence) this.#persistence.transport = connection.name;
    this.#worked = connection.name;
    for (const pending of this.#pending.values()) this.#send(pending);
    this.#setState('connected');
    for (const ask of this.#asks) this.#ask(ask);
    this.#probe();
  }

  /**
   * After a fallback, tries the WebSocket again in the background, less often each time (4 backoffs,
   * at most a minute), as Socket.IO's upgrade does. When it opens, the handover moves every
   * subscription over: the old connection delivers until the WebSocket has them all and both deliver
   * the same pattern message (or, with none, for a short grace), so nothing is lost (patterns
   * included) or doubled. Publishes not yet answered are sent again with their keys (the server
   * answers a duplicate with its original).
   */
  #probe(tries = 1): void {
    const from = this.#connection;
    const ws = TransportName.websocket;
    if (from?.name === ws || !this.#names.includes(ws)) return;
    this.#upgrade = setTimeout(
      () => {
        const probe: Connection = { name: ws, opened: false };
        let hand: Handover | undefined;
        this.#probing = probe;
        probe.transport = KINDS[ws].open({
          ...this.#common(),
          // The same server: its limits, heartbeat and token expiry are those the client has.
          limits: () => {},
          open: () => {
            if (this.#probing !== probe || hand) return;
            hand = handover(
              [...this.#subscriptions.keys()],
              (frame) => this.#frame(frame),
              () => {
                if (this.#probing !== probe) return;
                this.#probing = this.#route = undefined;
                from!.transport!.close();
                this.#connection = probe;
                probe.opened = true;
                this.#transport = this.#worked = ws;
                this.#index = this.#names.indexOf(ws);
                if (this.#persistence) this.#persistence.transport = ws;
                this.#watch();
                for (const pending of this.#pending.values())
                  if (pending.sentOn === from) this.#send(pending);
                for (const ask of this.#asks) this.#ask(ask);
              },
            );
            this.#route = hand.old;
          },
          frame: (frame) => hand?.next(frame),
          close: (info) => {
            if (this.#connection === probe) return this.#lost(info);
            if (this.#probing !== probe) return;
            this.#probing = this.#route = undefined;
            this.#probe(tries + 1);
          },
        });
      },
      Math.min(PROBE_MAX_MS, 4 * this.#backoff(tries)),
    );
  }

  /** The connection is gone: reconnect (to the next transport if this one never opened), or stop. */
  #lost(info: CloseInfo = {}): void {
    const connection = this.#connection;
    if (!connection) return;
    this.#drop();
    if (info.frameTooLarge) this.#tooLarge(connection);
    for (const subscription of this.#handles()) subscription.interrupt();
    if (info.code) {
      const error = new TidingsError(info.code as ErrorCode, info.message || info.code);
      if (info.reconnect === false || error.action === 'fatal') {
        this.#fail(error);
        return;
      }
    } else if (
      !connection.opened &&
      ++this.#failures >= (connection.name === this.#worked ? FALLBACK_AFTER_WORKED : FALLBACK_AFTER)
    ) {
      this.#failures = 0;
      this.#index = (this.#index + 1) % this.#names.length;
    }
    this.#setState('connecting');
    this.#retry.schedule();
  }

  /**
   * The server closed the connection on a frame too large to read (WebSocket 1009): the largest
   * publish sent on it and not answered is that frame, or one as large. It fails instead of being
   * sent again after the reconnect, which would close that connection too, and the next, for ever.
   */
  #tooLarge(connection: Connection): void {
    const bytes = (pending: PendingPublish) => JSON.stringify(pending.frame).length;
    const [largest] = [...this.#pending.values()]
      .filter((pending) => pending.sentOn === connection)
      .sort((a, b) => bytes(b) - bytes(a));
    if (!largest) return;
    this.#pending.delete(largest.frame.id);
    largest.reject(new TidingsError(ErrorCode.frameTooLarge, 'too large'));
  }

  #frame(frame: ServerFrame): void {
    this.#watch();
    switch (frame.type) {
      case FrameType.subscribed:
      case FrameType.reset:
        for (const handle of this.#handles(frame.channel)) handle.receive(frame);
        break;
      case FrameType.join:
      case FrameType.leave:
        for (const handle of this.#handles(frame.channel)) handle.heard(frame);
        break;
      case FrameType.message:
      case FrameType.snapshot:
        // A pattern's messages name it, so a channel subscribed both ways gets each message once per subscription.
        for (const handle of this.#handles(frame.pattern ?? frame.channel)) handle.receive(frame);
        break;
      case FrameType.refreshed:
        this.#expires(frame.expiresAt);
        break;
      case FrameType.disconnect:
        // Every transport ends with this frame when the server ends it on purpose (and a long-poll
        // answer may hold it after its messages): act now rather than on the close that follows.
        this.#lost({ code: frame.code, message: frame.reason, reconnect: frame.reconnect });
        break;
      case FrameType.unsubscribed:
        if (frame.code)
          this.#refused(frame.channel, new TidingsError(frame.code, frame.reason ?? frame.code));
        break;
      case FrameType.ack:
      case FrameType.error: {
        const pending = frame.id === undefined ? undefined : this.#pending.get(frame.id);
        if (pending) this.#settle(pending, frame);
        else if (frame.type === FrameType.error) {
          const error = errorOf(frame);
          if (frame.channel) this.#refused(frame.channel, error);
          else if (error.action === 'reconnect') this.#lost();
          else this.emit('error', error);
        }
      }
    }
  }

  /** The server refused or ended one subscription; the others go on. */
  #refused(channel: string, error: TidingsError): void {
    const handles = this.#subscriptions.get(channel);
    if (!handles) return;
    if (error.action === 'fatal') {
      this.#subscriptions.delete(channel);
      for (const handle of handles) handle.fail(error);
    } else if (error.action === 'reconnect') this.#lost();
    else {
      const lead = handles[0];
      setTimeout(
        () => {
          if (this.#subscriptions.get(channel)?.[0] === lead) {
            this.#wire((transport) => transport.subscribe(lead.spec()));
          }
        },
        this.#backoff(++lead.tries),
      );
    }
  }

  /**
   * Renews the token in band before it expires (a token function only): a fifth of its life early, at
   * most 30 s, so a slow token endpoint still answers in time. A failure leaves it to expire: the
   * server then ends the connection, and the reconnect asks for a token again.
   */
  #expires(expiresAt?: number): void {
    clearTimeout(this.#renewal);
    if (!expiresAt || typeof this.#token !== 'function') return;
    const left = expiresAt - Date.now();
    this.#renewal = setTimeout(
      async () => {
        try {
          this.#current = await (this.#token as () => string | Promise<string>)();
          // The connection now (a WebSocket may have taken over since).
          this.#connection?.transport?.refresh(this.#current);
        } catch {}
      },
      Math.max(0, left - Math.min(REFRESH_EARLY_MS, left / 5)),
    );
  }

  #settle(pending: PendingPublish, frame: AckFrame | ErrorFrame): void {
    const { id } = pending.frame;
    if (frame.type === FrameType.ack) {
      this.#pending.delete(id);
      const { channel, epoch, offset, ts } = frame;
      pending.resolve({ channel, epoch, offset, ts, duplicate: frame.duplicate === true });
      return;
    }
    const error = errorOf(frame);
    if (error.action === 'fatal') {
      this.#pending.delete(id);
      pending.reject(error);
    } else if (error.action === 'reconnect') this.#lost();
    else {
      // Sent again with the same key: if the first did get stored, the server answers with its result.
      setTimeout(
        () => {
          if (this.#pending.get(id) === pending && this.#state === 'connected') this.#send(pending);
        },
        this.#backoff(++pending.tries),
      );
    }
  }

  /** Restarts the dead-connection timer: a connection silent for this long is dropped and replaced. */
  #watch(ms = this.#heartbeat + HEARTBEAT_GRACE_MS): void {
    clearTimeout(this.#watchdog);
    this.#watchdog = setTimeout(() => {
      const connection = this.#connection;
      // An HTTP transport with no subscription has no request open, so its silence says nothing.
      const idle =
        connection?.opened && connection.name !== TransportName.websocket && this.#subscriptions.size === 0;
      if (idle) this.#watch();
      else this.#lost();
    }, ms);
  }

  #drop(): void {
    clearTimeout(this.#watchdog);
    clearTimeout(this.#renewal);
    clearTimeout(this.#upgrade);
    this.#route = undefined;
    if (this.#probing !== this.#connection) this.#probing?.transport?.close();
    this.#probing = undefined;
    const connection = this.#connection;
    this.#connection = undefined;
    connection?.transport?.close();
  }

  #fail(error: TidingsError): void {
    this.#stop(error);
    for (const subscription of this.#handles()) subscription.fail(error);
    this.#subscriptions.clear();
    // The client stops for good here (refused origin, credentials, …): an app that listens to nothing
    // would see only `disconnected`, so the console says why.
    if (!this.hasListener('error')) console.error(`Tidings: disconnected: ${error.code}: ${error.message}`);
    this.emit('error', error);
  }

  /** Stops for good; what is still pending fails with `error`. */
  #stop(error: TidingsError): void {
    this.#attempt++;
    this.#retry.cancel();
    this.#drop();
    this.#setState('disconnected');
    for (const pending of this.#pending.values()) pending.reject(error);
    this.#pending.clear();
    for (const ask of this.#asks) ask.reject(error);
    this.#asks.clear();
  }

  /** The handles of one channel or pattern (a copy: a handler may unsubscribe), or of all. */
  #handles(channel?: string): Subscription[] {
    return channel === undefined
      ? [...this.#subscriptions.values()].flat()
      : [...(this.#subscriptions.get(channel) ?? [])];
  }

  /** A change of subscriptions, told to the connection and to a WebSocket about to take over. */
  #wire(change: (transport: Transport) => void): void {
    for (const connection of [this.#connection, this.#probing])
      if (connection?.transport) change(connection.transport);
  }

  /** What every transport the client opens is given, whatever its events go to. */
  #common(): Pick<TransportHost, 'platform' | 'url' | 'channels'> {
    return {
      platform: this.#platform,
      url: (endpoint, params) => this.#url(endpoint, params),
      channels: () => this.#specs(),
    };
  }

  /** What the wire subscriptions are: each channel's or pattern's oldest handle, at its position or start. */
  #specs(): ChannelSpec[] {
    return Array.from(this.#subscriptions.values(), (handles) => handles[0].spec());
  }

  /** An endpoint's URL with the common query (version, the current token) and `params`. */
  #url(endpoint: string, params: [string, string][] = []): string {
    const query = new URLSearchParams(params);
    query.set(Query.version, String(PROTOCOL_VERSION));
    if (this.#current) query.set(Query.token, this.#current);
    return `${this.#root}${endpoint}?${query}`;
  }

  #assertOpen(): void {
    if (this.#state === 'disconnected') throw new TidingsError(ErrorCode.closed, 'closed');
  }

  #setState(newState: ClientState): void {
    const oldState = this.#state;
    if (oldState === newState) return;
    this.#state = newState;
    this.emit('state', { oldState, newState });
  }
}

/**
 * Connects to a Tidings server, e.g. `connect('https://example.com')` (mounted at `/tidings`).
 * `connect<{ chat: ChatLine; 'orders.*': Order }>(url)` types each channel's data: the same map as the
 * server's `createHub<…>()`, shared as a type, so no server code comes along.
 */
export function connect<Map extends ChannelMap = Untyped>(url: string, options?: ClientOptions): Client<Map> {
  return new Client<Map>(url, options);
}
