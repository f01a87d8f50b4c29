import type { Engine, EngineMessage, StreamListener } from '@tidings/engine';
import { type Position, patternMatcher } from '@tidings/protocol';
import { Envelope } from './message.js';
import type { SubscriptionImpl } from './subscription.js';

/**
 * Something that follows a channel's live messages without a subscription: a long-poll that is caught
 * up and waits. It gets every message the feed hears, and works out order and gaps itself.
 */
export interface FeedListener {
  message(envelope: Envelope): void;
  /** The engine's stream was interrupted: messages may have been missed. */
  resync(): void;
}

/** Most envelopes a channel feed with listeners keeps for history reads, and at most this many frame bytes. */
const RECENT_COUNT = 1_024;
const RECENT_BYTES = 1024 * 1024;

/**
 * One engine stream (a channel or a pattern) shared by every subscription to it in this process: each
 * message becomes one Envelope, offered to each subscription. A channel feed also remembers the newest
 * position it knows, so a new subscription "from now" can start without asking the engine.
 */
export class Feed implements StreamListener {
  readonly key: string;
  readonly subscriptions = new Set<SubscriptionImpl>();
  readonly listeners = new Set<FeedListener>();
  /** Resolves once the engine stream is live. */
  readonly ready: Promise<void>;
  /**
   * Polls use this feed: it stays open a while after its last user leaves (see Hub), since a poller's
   * next request comes right after its answer, and keeps its recent envelopes for their history reads.
   */
  lingers = false;
  /** When it last had no subscription and no listener (hub clock), for the hub's sweep. */
  idleSince = 0;
  #known: Position | undefined;
  #live = false;
  #failed = false;
  #closed = false;
  #stop: (() => void) | undefined;
  readonly #matches: ((channel: string) => boolean) | undefined;
  /** Recent envelopes by offset (one epoch), so many pollers reading the same messages encode each once. */
  #recent: Map<number, Envelope> | undefined;
  #recentBytes = 0;

  constructor(engine: Engine, key: string, pattern: boolean) {
    this.key = key;
    if (pattern) this.#matches = patternMatcher(key);
    this.ready = engine.subscribe(key, this).then((stop) => {
      if (this.#closed) stop();
      else {
        this.#stop = stop;
        this.#live = true;
      }
    });
    this.ready.catch(() => {
      this.#failed = true;
    });
  }

  /** Its engine stream could not start: a new user needs a new feed. */
  get failed(): boolean {
    return this.#failed;
  }

  /** The newest position this process knows, once the stream is live; undefined when it must ask the engine. */
  get known(): Position | undefined {
    return this.#live ? this.#known : undefined;
  }

  get live(): boolean {
    return this.#live;
  }

  get empty(): boolean {
    return this.subscriptions.size === 0 && this.listeners.size === 0;
  }

  /** Records a position learnt elsewhere (a publish from this process, a read). */
  note(position: Position): void {
    const known = this.#known;
    if (known === undefined || known.epoch !== position.epoch || position.offset > known.offset) {
      this.#known = position;
    }
  }

  message(message: EngineMessage): void {
    if (this.#matches !== undefined && !this.#matches(message.channel)) return;
    if (this.#matches === undefined) this.note(message);
    const envelope = new Envelope(message, false, this.#matches === undefined ? undefined : this.key);
    if (this.lingers && this.#matches === undefined) this.#remember(envelope);
    for (const subscription of this.subscriptions) subscription.offer(envelope);
    for (const listener of this.listeners) listener.message(envelope);
  }

  /**
   * The envelope of a message read from history: the one this feed already made for it (its frame
   * encoded once for every reader), else a new one, kept for the next reader.
   */
  envelope(message: EngineMessage): Envelope {
    const recent = this.#recent?.get(message.offset);
    if (recent !== undefined && recent.epoch === message.epoch && recent.ts === message.ts) return recent;
    const envelope = new Envelope(message);
    if (this.lingers && this.#matches === undefined) this.#remember(envelope);
    return envelope;
  }

  #remember(envelope: Envelope): void {
    let recent = this.#recent;
    if (recent === undefined) {
      recent = new Map();
      this.#recent = recent;
    }
    const first = recent.values().next().value;
    // Another epoch: what is kept is of the old one.
    if (first !== undefined && first.epoch !== envelope.epoch) {
      recent.clear();
      this.#recentBytes = 0;
    }
    const old = recent.get(envelope.offset);
    if (old !== undefined) {
      this.#recentBytes -= old.json.length;
      recent.delete(envelope.offset);
    }
    recent.set(envelope.offset, envelope);
    this.#recentBytes += envelope.json.length;
    // Oldest inserted first out: a read of older messages than these makes new envelopes.
    while (recent.size > RECENT_COUNT || (this.#recentBytes > RECENT_BYTES && recent.size > 1)) {
      const [offset, dropped] = recent.entries().next().value as [number, Envelope];
      recent.delete(offset);
      this.#recentBytes -= dropped.json.length;
    }
  }

  resync(): void {
    // What this process knew may be behind now: new subscriptions ask the engine until the next message.
    this.#known = undefined;
    for (const subscription of this.subscriptions) subscription.resync();
    for (const listener of this.listeners) listener.resync();
  }

  close(): void {
    this.#closed = true;
    this.#recent = undefined;
    this.#stop?.();
  }
}
