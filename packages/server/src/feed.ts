import type { Engine, EngineMessage, StreamListener } from '@tidings/engine';
import { type Position, patternMatcher } from '@tidings/protocol';
import { Envelope } from './message.js';
import type { SubscriptionImpl } from './subscription.js';

/**
 * One engine stream (a channel or a pattern) shared by every subscription to it in this process: each
 * message becomes one Envelope, offered to each subscription. A channel feed also remembers the newest
 * position it knows, so a new subscription "from now" can start without asking the engine.
 */
export class Feed implements StreamListener {
  readonly key: string;
  readonly subscriptions = new Set<SubscriptionImpl>();
  /** Resolves once the engine stream is live. */
  readonly ready: Promise<void>;
  #known: Position | undefined;
  #live = false;
  #closed = false;
  #stop: (() => void) | undefined;
  readonly #matches: ((channel: string) => boolean) | undefined;

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
    this.ready.catch(() => {});
  }

  /** The newest position this process knows, once the stream is live; undefined when it must ask the engine. */
  get known(): Position | undefined {
    return this.#live ? this.#known : undefined;
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
    for (const subscription of this.subscriptions) subscription.offer(envelope);
  }

  resync(): void {
    // What this process knew may be behind now: new subscriptions ask the engine until the next message.
    this.#known = undefined;
    for (const subscription of this.subscriptions) subscription.resync();
  }

  close(): void {
    this.#closed = true;
    this.#stop?.();
  }
}
