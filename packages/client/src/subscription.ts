import {
  FrameType,
  type JoinFrame,
  type LeaveFrame,
  type MessageFrame,
  type Position,
  type PresenceMember,
  type ResetFrame,
  type SinceSpec,
  type SnapshotFrame,
  type SubscribedFrame,
  type TidingsError,
} from '@tidings/protocol';
import { Emitter, rethrow } from './emitter.js';
import type { Persistence } from './persistence.js';
import type { ChannelSpec } from './transport.js';

export type SubscriptionState = 'subscribing' | 'subscribed' | 'unsubscribed' | 'failed';

export interface Message<T = unknown> {
  /** The channel it was published to (for a pattern subscription, the matching channel). */
  channel: string;
  data: T;
  epoch: string;
  offset: number;
  /** Server time of the publish, ms since the Unix epoch. */
  ts: number;
  /** True for the channel's snapshot (its state as of `offset`), delivered before the messages after it. */
  snapshot: boolean;
}

/** The app's view of a `message` or `snapshot` frame. */
export function toMessage({ channel, data, epoch, offset, ts, type }: MessageFrame | SnapshotFrame): Message {
  return { channel, data, epoch, offset, ts, snapshot: type === FrameType.snapshot };
}

export type MessageHandler<T = unknown> = (message: Message<T>) => void;

export interface SubscriptionEvents {
  /** The subscription is on, delivering after this position (none for a pattern). */
  subscribed: Position | undefined;
  /** What the app had for the channel is no more: redraw from what follows (a snapshot, then messages). */
  reset: Position;
  /** The server refused or ended the subscription; its state is now `failed`. */
  error: TidingsError;
  /** Someone else came into the channel (a channel with presence; WebSocket, SSE and stream transports). */
  join: PresenceMember;
  /** Someone else left the channel. */
  leave: PresenceMember;
}

/** @internal What a subscription needs from its client. */
export interface SubscriptionOwner {
  unsubscribe(subscription: Subscription): void;
  presence(channel: string): Promise<PresenceMember[]>;
}

export type Delivery = SubscribedFrame | MessageFrame | SnapshotFrame | ResetFrame;

/**
 * One subscription of a client. It keeps the position of its channel (of each matching channel, for a
 * pattern), resumes from it on every reconnect, and drops anything at or before it, so the handler
 * sees each message once and in order.
 */
export class Subscription extends Emitter<SubscriptionEvents> {
  readonly channel: string;
  #state: SubscriptionState = 'subscribing';
  readonly #owner: SubscriptionOwner;
  readonly #handler: MessageHandler<never>;
  readonly #since: SinceSpec;
  readonly #positions = new Map<string, Position>();
  readonly #persistence: Persistence | undefined;
  /** @internal Refusals in a row that asked to retry, for the backoff. */
  tries = 0;
  /** Live frames that wait while a replay of its own is read (see `hold`). */
  #held: Delivery[] | undefined;

  /** @internal Use `client.subscribe`. */
  constructor(
    owner: SubscriptionOwner,
    channel: string,
    handler: MessageHandler<never>,
    since: SinceSpec,
    persistence?: Persistence,
    resume = true,
  ) {
    super();
    this.#owner = owner;
    this.channel = channel;
    this.#handler = handler;
    this.#since = since;
    this.#persistence = persistence;
    const start = typeof since === 'object' ? since : resume ? persistence?.position(channel) : undefined;
    if (start) this.#positions.set(channel, start);
  }

  get state(): SubscriptionState {
    return this.#state;
  }

  /** The last position received: every message up to it was delivered. */
  get position(): Position | undefined {
    return this.#positions.get(this.channel);
  }

  unsubscribe(): void {
    this.#owner.unsubscribe(this);
  }

  /**
   * Who is in the channel now (a channel with presence): one member per connection, this one included
   * once subscribed. Join and leave events are best effort; this list is the truth, so fetch it again on
   * `subscribed` (every reconnect) to stay exact.
   */
  presence(): Promise<PresenceMember[]> {
    return this.#owner.presence(this.channel);
  }

  /** @internal A `join` or `leave` of the channel. */
  heard(frame: JoinFrame | LeaveFrame): void {
    this.emit(frame.type, frame.member);
  }

  /** @internal Where to (re)start: after the position if there is one. */
  spec(): ChannelSpec {
    return { channel: this.channel, since: this.position ?? this.#since };
  }

  /**
   * @internal A handle that joined a channel already subscribed, with a start of its own: the live
   * frames wait until `replay` (the channel from that start to now) is delivered, then follow it, with
   * what both have dropped once. A failed replay fails the handle.
   */
  hold(replay: Promise<Delivery[]>): void {
    const held: Delivery[] = [];
    this.#held = held;
    replay.then(
      (frames) => {
        this.#held = undefined;
        for (const frame of [...frames, ...held]) if (this.#state !== 'unsubscribed') this.receive(frame);
      },
      (error) => {
        this.#held = undefined;
        this.fail(error);
      },
    );
  }

  /** @internal */
  receive(frame: Delivery): void {
    if (this.#held) return void this.#held.push(frame);
    const known = this.#positions.get(frame.channel);
    const same = known?.epoch === frame.epoch;
    switch (frame.type) {
      case FrameType.subscribed:
        if (frame.epoch !== undefined && !(same && known!.offset >= frame.offset!)) {
          this.#move(frame.channel, frame.epoch, frame.offset!);
        }
        if (this.#state === 'subscribing') {
          this.#state = 'subscribed';
          this.tries = 0;
          this.emit('subscribed', this.position);
        }
        return;
      case FrameType.reset:
        this.#move(frame.channel, frame.epoch, frame.offset);
        this.emit('reset', { epoch: frame.epoch, offset: frame.offset });
        return;
      default: {
        const snapshot = frame.type === FrameType.snapshot;
        // A snapshot sits at its offset (the position a reset or `since: snapshot` gave); a message after it.
        if (same && (frame.offset < known!.offset || (frame.offset === known!.offset && !snapshot))) return;
        this.#move(frame.channel, frame.epoch, frame.offset);
        try {
          (this.#handler as MessageHandler)(toMessage(frame));
        } catch (error) {
          rethrow(error);
        }
      }
    }
  }

  /** @internal The connection is gone; a new one will subscribe again. */
  interrupt(): void {
    if (this.#state === 'subscribed') this.#state = 'subscribing';
  }

  /** @internal */
  fail(error: TidingsError): void {
    this.#state = 'failed';
    this.emit('error', error);
  }

  /** @internal Ended by the app: a later subscription to the channel starts afresh, not from here. */
  end(forget: boolean): void {
    this.#state = 'unsubscribed';
    if (forget) this.#persistence?.forget(this.channel);
  }

  #move(channel: string, epoch: string, offset: number): void {
    this.#positions.set(channel, { epoch, offset });
    if (channel === this.channel) this.#persistence?.save(channel, { epoch, offset });
  }
}
