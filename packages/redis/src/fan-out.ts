import type { EngineMessage } from '@tidings/engine';
import { isPattern, patternMatcher } from '@tidings/protocol';
import type { Redis } from 'ioredis';
import { whenUsable } from './connection.js';
import { closedError, toTidingsError } from './unavailable.js';

/** What a fan-out delivers to. `resync`: the stream was interrupted, and items may have been missed. */
export interface FanOutListener<T> {
  message(item: T): void;
  resync?(): void;
}

/** One kind of item streamed over Redis pub/sub: where a channel's items go, and how they read. */
export interface PubSubStream<T extends { channel: string }> {
  /** The Redis pub/sub channel of a Tidings channel. */
  topic(channel: string): string;
  /** A Redis glob matching at least the topics of every channel of the pattern. */
  glob(pattern: string): string;
  /** Throws on a malformed payload (reported, then skipped). */
  decode(text: string): T;
}

interface Subscription<T> {
  readonly listener: FanOutListener<T>;
  /** Precise filter for a pattern: the Redis glob over-matches. */
  readonly matches: ((channel: string) => boolean) | null;
}

/** One Redis SUBSCRIBE (a channel) or PSUBSCRIBE (a glob), shared by every listener on it. */
interface Topic<T> {
  readonly name: string;
  readonly glob: boolean;
  /** The Tidings channel, for a plain subscription. */
  readonly channel: string | null;
  /** Replaced, never mutated, so delivery iterates without copying and is not disturbed by changes. */
  subscriptions: readonly Subscription<T>[];
  /** Settles when Redis acknowledged the subscription. */
  readonly live: Promise<void>;
}

/** Called when a listener throws; `message` is absent for a presence listener or a malformed payload. */
export type ListenerErrorHandler = (error: unknown, message?: EngineMessage) => void;

/**
 * Streams items (messages, presence events) from Redis pub/sub to listeners over one dedicated
 * connection per engine; fan-outs of different kinds share it, each ignoring the others' topics. Redis
 * subscriptions are reference-counted: any number of listeners on a channel or pattern share one
 * SUBSCRIBE/PSUBSCRIBE, dropped with the last listener.
 *
 * ioredis's own re-subscription is off: after a reconnect this class re-subscribes everything itself,
 * waits for Redis to acknowledge, and only then calls `resync()` on every listener, so that the
 * listeners' re-reads start when the stream is already live again and nothing falls in between.
 */
export class FanOut<T extends { channel: string }> {
  readonly #redis: Redis;
  readonly #stream: PubSubStream<T>;
  readonly #timeoutMs: number;
  readonly #onListenerError: (error: unknown, item?: T) => void;
  readonly #channels = new Map<string, Topic<T>>();
  readonly #globs = new Map<string, Topic<T>>();
  /** Counts connection losses, so a re-subscription overtaken by another loss does not resync. */
  #drops = 0;
  #closed = false;

  constructor(
    redis: Redis,
    stream: PubSubStream<T>,
    timeoutMs: number,
    onListenerError: (error: unknown, item?: T) => void,
  ) {
    this.#redis = redis;
    this.#stream = stream;
    this.#timeoutMs = timeoutMs;
    this.#onListenerError = onListenerError;
    redis.on('message', (name: string, text: string) => this.#deliver(this.#channels.get(name), text));
    redis.on('pmessage', (glob: string, _name: string, text: string) =>
      this.#deliver(this.#globs.get(glob), text),
    );
    redis.on('close', () => this.#drops++);
    redis.on('ready', () => {
      if (this.#drops > 0) void this.#recover();
    });
  }

  async subscribe(channelOrPattern: string, listener: FanOutListener<T>): Promise<() => void> {
    if (this.#closed) throw closedError();
    const glob = isPattern(channelOrPattern);
    const name = glob ? this.#stream.glob(channelOrPattern) : this.#stream.topic(channelOrPattern);
    const topics = glob ? this.#globs : this.#channels;
    const subscription: Subscription<T> = {
      listener,
      matches: glob ? patternMatcher(channelOrPattern) : null,
    };
    let topic = topics.get(name);
    if (topic === undefined) {
      topic = {
        name,
        glob,
        channel: glob ? null : channelOrPattern,
        subscriptions: [],
        live: this.#send(glob, name),
      };
      topics.set(name, topic);
    }
    const joined = topic;
    joined.subscriptions = [...joined.subscriptions, subscription];
    try {
      await joined.live;
      if (this.#closed) throw closedError();
    } catch (error) {
      this.#leave(joined, subscription);
      throw toTidingsError(error);
    }
    let active = true;
    return () => {
      if (!active) return;
      active = false;
      this.#leave(joined, subscription);
    };
  }

  /** The plain channels that have a listener here. */
  channels(): string[] {
    const out: string[] = [];
    for (const topic of this.#channels.values()) if (topic.channel !== null) out.push(topic.channel);
    return out;
  }

  /** Whether a listener is on this plain channel. */
  listening(channel: string): boolean {
    return this.#channels.has(this.#stream.topic(channel));
  }

  close(): void {
    this.#closed = true;
    this.#channels.clear();
    this.#globs.clear();
  }

  async #send(glob: boolean, name: string): Promise<void> {
    await whenUsable(this.#redis, this.#timeoutMs);
    await (glob ? this.#redis.psubscribe(name) : this.#redis.subscribe(name));
  }

  #leave(topic: Topic<T>, subscription: Subscription<T>): void {
    topic.subscriptions = topic.subscriptions.filter((s) => s !== subscription);
    const topics = topic.glob ? this.#globs : this.#channels;
    if (topic.subscriptions.length > 0 || topics.get(topic.name) !== topic) return;
    topics.delete(topic.name);
    // While disconnected there is nothing to undo: a reconnect subscribes only to what is still wanted.
    if (this.#redis.status !== 'ready' || this.#closed) return;
    const undo = topic.glob ? this.#redis.punsubscribe(topic.name) : this.#redis.unsubscribe(topic.name);
    undo.catch(() => undefined);
  }

  #deliver(topic: Topic<T> | undefined, text: string): void {
    if (topic === undefined || topic.subscriptions.length === 0) return;
    let item: T;
    try {
      item = this.#stream.decode(text);
    } catch (error) {
      this.#report(error);
      return;
    }
    for (const { listener, matches } of topic.subscriptions) {
      if (matches !== null && !matches(item.channel)) continue;
      try {
        listener.message(item);
      } catch (error) {
        this.#report(error, item);
      }
    }
  }

  /** After a reconnect: subscribe to everything again, then tell every listener it may have missed messages. */
  async #recover(): Promise<void> {
    const drops = this.#drops;
    const channels = [...this.#channels.keys()];
    const globs = [...this.#globs.keys()];
    try {
      await Promise.all([
        channels.length > 0 ? this.#redis.subscribe(...channels) : null,
        globs.length > 0 ? this.#redis.psubscribe(...globs) : null,
      ]);
    } catch (error) {
      // Either the connection dropped again (the next 'ready' retries) or Redis refused: reconnect
      // rather than stream from a connection that is missing subscriptions.
      if (this.#drops === drops && !this.#closed) {
        this.#report(error);
        this.#redis.disconnect(true);
      }
      return;
    }
    if (this.#drops !== drops || this.#closed) return;
    for (const topics of [this.#channels, this.#globs]) {
      for (const topic of topics.values()) {
        for (const { listener } of topic.subscriptions) {
          try {
            listener.resync?.();
          } catch (error) {
            this.#report(error);
          }
        }
      }
    }
  }

  #report(error: unknown, item?: T): void {
    try {
      this.#onListenerError(error, item);
    } catch {
      // A failing error handler must not stop delivery.
    }
  }
}
