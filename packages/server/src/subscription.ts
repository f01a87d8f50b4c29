import type { Engine, EngineMessage } from '@tidings/engine';
import type { Position } from '@tidings/protocol';
import { toEngineError } from './engine-error.js';
import { Envelope, type Message } from './message.js';
import { type Resumed, resume } from './resume.js';
import { Tracker } from './tracker.js';

export type Handler<T = unknown> = (message: Message<T>) => void | PromiseLike<void>;

/** A subscription's position could not be served (history lost or trimmed): a snapshot and messages after `offset` follow. */
export interface ResetNotice {
  readonly channel: string;
  readonly epoch: string;
  /** The position delivery continues after: the snapshot's, or just before the oldest retained message. */
  readonly offset: number;
}

export interface Subscription {
  /** The channel or pattern subscribed to. */
  readonly channel: string;
  /**
   * Resolves once delivery is live, with the position it started after (null for a pattern). Rejects,
   * and ends the subscription, if it could not start (e.g. ENGINE_UNAVAILABLE).
   */
  readonly ready: Promise<Position | null>;
  readonly closed: boolean;
  unsubscribe(): void;
}

/** What a subscription needs from its hub. */
export interface SubscriptionHost {
  readonly engine: Engine;
  readonly historyBatch: number;
  now(): number;
  report(error: unknown, subscription: Subscription): void;
  detach(subscription: SubscriptionImpl): void;
  /** The envelope of a message read from history: one already made for it (frame encoded), or a new one. */
  envelope(message: EngineMessage): Envelope;
}

/** The group a subscription belongs to (a Scope). */
export interface ScopeLike {
  readonly id: string;
  forget(subscription: Subscription): void;
}

/**
 * Where a channel subscription starts (a pattern's channels each start at their first live message):
 * at a live position known now, with nothing to read; or after a position (perhaps still being asked of
 * the engine), or from the snapshot, reading what follows.
 */
export type StartFrom =
  | { readonly live: Position }
  | { readonly after: Position | 'snapshot' | PromiseLike<Position> };

/** How a subscription starts, as its hub worked it out. */
export interface Start {
  /** Settles once the engine stream the subscription listens to is live. */
  readonly streaming: Promise<void>;
  /** Settles once the presence stream is live too (a subscription with `onPresence`). */
  readonly presence: Promise<void> | undefined;
  /** Undefined for a pattern. */
  readonly from: StartFrom | undefined;
}

/** A position notice in the delivery queue: where a subscription starts, or where it restarts after a reset. */
interface Notice {
  readonly notice: 'start' | 'reset';
  readonly position: ResetNotice;
}

/**
 * A message read from history (or the snapshot) rather than heard live: its delivery waits for `pace`,
 * so a catch-up goes out as fast as the consumer takes it, not all at once.
 */
class Replay {
  constructor(readonly envelope: Envelope) {}
}

type Item = Envelope | Notice | Replay;

/** Holds a live message back while the tracker catches up (its list made on first use). */
function hold(tracker: Tracker, envelope: Envelope): void {
  tracker.pending ??= [];
  tracker.pending.push(envelope);
}
type NoticeHandler = (position: ResetNotice) => void | PromiseLike<void>;
/** Says when the consumer can take more history: undefined now, or a promise that settles when it can. */
export type Pace = () => PromiseLike<void> | undefined;

/**
 * A catch-up reads about this many bytes of history per page: the page sizes adapt to the messages'
 * sizes, so one page of 64 KiB messages is not 64 MiB in memory (the first page, sizes unknown yet, is
 * FIRST_PAGE messages).
 */
const PAGE_BYTES = 256 * 1024;
const FIRST_PAGE = 4;

const RETRY_MIN_MS = 100;
const RETRY_MAX_MS = 5_000;

/**
 * Delivers one channel's (or one pattern's channels') messages to one handler: each message exactly
 * once, in offset order, one handler call at a time. Live messages come from the hub's feed; when one
 * arrives out of sequence (a gap, a new epoch, a resync) the subscription reads history to fill the gap,
 * or resets to the snapshot when history no longer reaches back far enough.
 */
export class SubscriptionImpl implements Subscription {
  readonly channel: string;
  readonly ready: Promise<Position | null>;
  closed = false;

  readonly #host: SubscriptionHost;
  /** `this` of every callback: lets a caller pass shared functions instead of a closure per subscription. */
  readonly #receiver: unknown;
  readonly #handler: Handler;
  readonly #onReset: NoticeHandler | undefined;
  readonly #onStart: NoticeHandler | undefined;
  readonly #pace: Pace | undefined;
  readonly scope: ScopeLike | undefined;
  /** The one tracker of a channel subscription; undefined for a pattern. */
  readonly #tracker: Tracker | undefined;
  /** A pattern subscription's trackers, one per channel seen. */
  readonly #trackers: Map<string, Tracker> | undefined;

  /**
   * Delivered slots are cleared at once: a catch-up's envelopes (and their frames) are not kept to the
   * end. Made when first needed: an idle subscription, or one whose deliveries never overlap, has none.
   */
  #queue: (Item | undefined)[] | undefined;
  #head = 0;
  #draining = false;
  #retries = 0;
  /** Settles when the queue is next empty (or the subscription ends): a catch-up reads its next page then. */
  #idle: { promise: Promise<void>; resolve: () => void } | undefined;

  constructor(
    host: SubscriptionHost,
    channel: string,
    pattern: boolean,
    handler: Handler,
    options: { onReset?: NoticeHandler; onStart?: NoticeHandler; pace?: Pace; scope?: ScopeLike },
    start: Start,
    receiver?: unknown,
  ) {
    this.#host = host;
    this.#receiver = receiver;
    this.channel = channel;
    this.#handler = handler;
    this.#onReset = options.onReset;
    this.#onStart = options.onStart;
    this.#pace = options.pace;
    this.scope = options.scope;
    if (pattern) this.#trackers = new Map();
    else this.#tracker = new Tracker(channel);
    this.ready = this.#start(start);
    // The caller may never look at `ready`; failure is also reported through the hub.
    this.ready.catch(() => {});
  }

  unsubscribe(): void {
    if (this.closed) return;
    this.closed = true;
    this.#queue = undefined;
    this.#head = 0;
    this.#settleIdle();
    this.#host.detach(this);
    this.scope?.forget(this);
  }

  /** Starts delivery; on failure the subscription ends and `ready` rejects with the engine's error. */
  async #start(start: Start): Promise<Position | null> {
    try {
      const started = this.#startStream(start.streaming, start.from);
      if (start.presence === undefined) return await started;
      // Ready means both streams are live; the message stream starts exactly as without presence.
      const [position] = await Promise.all([started, start.presence]);
      return position;
    } catch (error) {
      this.unsubscribe();
      throw toEngineError(error);
    }
  }

  async #startStream(streaming: Promise<void>, from: StartFrom | undefined): Promise<Position | null> {
    const tracker = this.#tracker;
    if (tracker === undefined || from === undefined) {
      await streaming;
      return null;
    }
    if ('live' in from) {
      // Synchronously, inside the subscribe call: no live message can slip in before the position.
      tracker.epoch = from.live.epoch;
      tracker.offset = from.live.offset;
      tracker.live = true;
      this.#notify('start', tracker);
      return from.live;
    }
    // Only the live stream and this process's publishes teach the feed positions: a read may
    // already be stale when the stream goes live.
    const after = await from.after;
    await streaming;
    await this.#startFrom(tracker, after, true);
    return { epoch: tracker.epoch, offset: tracker.offset };
  }

  /**
   * Starts after a position (or from the snapshot), or recovers after a gap: reads what was missed. A
   * start is announced before any message, a reset where it happens.
   */
  async #startFrom(tracker: Tracker, from: Position | 'snapshot', initial: boolean): Promise<void> {
    if (from !== 'snapshot') {
      tracker.epoch = from.epoch;
      tracker.offset = from.offset;
      if (initial) this.#notify('start', tracker);
    }
    await this.#catchUp(tracker, from);
    this.#goLive(tracker);
  }

  #notify(notice: Notice['notice'], tracker: Tracker): void {
    this.#enqueue({
      notice,
      position: { channel: tracker.channel, epoch: tracker.epoch, offset: tracker.offset },
    });
  }

  /** A live message from the feed. */
  offer(envelope: Envelope): void {
    if (this.closed) return;
    let tracker = this.#tracker;
    if (tracker === undefined) {
      tracker = this.#trackers!.get(envelope.channel);
      if (tracker === undefined) {
        // First message seen on this channel by a pattern subscription: it starts here.
        tracker = new Tracker(envelope.channel, envelope.epoch, envelope.offset - 1);
        tracker.live = true;
        this.#trackers!.set(envelope.channel, tracker);
      }
    }
    if (tracker.live) this.#accept(tracker, envelope);
    else hold(tracker, envelope);
  }

  /** The engine's stream was interrupted: re-read every channel from where it stands. */
  resync(): void {
    if (this.closed) return;
    const trackers = this.#tracker ? [this.#tracker] : this.#trackers!.values();
    for (const tracker of trackers) {
      if (tracker.live) this.#recover(tracker);
      else tracker.again = true;
    }
  }

  /** `held`: it waited in `pending` during a catch-up, and is paced like the history it follows. */
  #accept(tracker: Tracker, envelope: Envelope, held = false): void {
    if (envelope.epoch === tracker.epoch) {
      if (envelope.offset <= tracker.offset) return;
      if (envelope.offset === tracker.offset + 1) {
        tracker.offset = envelope.offset;
        this.#enqueue(held ? new Replay(envelope) : envelope);
        return;
      }
    }
    hold(tracker, envelope);
    this.#recover(tracker);
  }

  #recover(tracker: Tracker): void {
    tracker.live = false;
    this.#startFrom(tracker, { epoch: tracker.epoch, offset: tracker.offset }, false).then(
      () => {
        this.#retries = 0;
      },
      (error: unknown) => {
        if (this.closed) return;
        this.#host.report(error, this);
        const delay = Math.min(RETRY_MAX_MS, RETRY_MIN_MS * 2 ** this.#retries++) * (0.5 + Math.random() / 2);
        setTimeout(() => {
          if (!this.closed && !tracker.live) this.#recover(tracker);
        }, delay).unref();
      },
    );
  }

  /**
   * Reads history after `from`, one page at a time: the next page is read once the last one has been
   * delivered, so a consumer that does not take its messages holds at most one page. Each page asks
   * `resume`, so a position history no longer reaches (at the start, or trimmed while a slow consumer
   * catches up) resets to the snapshot the same way everywhere.
   */
  async #catchUp(tracker: Tracker, from: Position | 'snapshot'): Promise<void> {
    const engine = this.#host.engine;
    const batch = this.#host.historyBatch;
    let limit = Math.min(FIRST_PAGE, batch);
    let since = from;
    for (;;) {
      const resumed = await resume(engine, tracker.channel, since, limit);
      if (this.closed) return;
      if (resumed.reset) this.#reset(tracker, resumed, since === 'snapshot' ? 'start' : 'reset');
      const read = resumed.read;
      let bytes = 0;
      for (const message of read.messages) {
        bytes += message.data.length;
        if (message.offset !== tracker.offset + 1) continue;
        tracker.offset = message.offset;
        this.#enqueue(new Replay(this.#host.envelope(message)));
      }
      if (tracker.offset >= read.offset || read.messages.length === 0) return;
      const average = bytes / read.messages.length;
      limit = Math.max(1, Math.min(batch, Math.floor(PAGE_BYTES / Math.max(1, average))));
      await this.#whenIdle();
      if (this.closed) return;
      since = { epoch: tracker.epoch, offset: tracker.offset };
    }
  }

  /** Moves to where a reset puts the subscription, announced, then the snapshot (if any) first. */
  #reset(tracker: Tracker, resumed: Extract<Resumed, { reset: true }>, notice: Notice['notice']): void {
    tracker.epoch = resumed.position.epoch;
    tracker.offset = resumed.position.offset;
    this.#notify(notice, tracker);
    const snapshot = resumed.snapshot;
    if (snapshot !== null)
      this.#enqueue(new Replay(new Envelope({ ...snapshot, channel: tracker.channel }, true)));
    // A snapshot older than the retained history still wins: it is the state the app chose to keep.
    tracker.offset = Math.max(tracker.offset, resumed.read.firstOffset - 1);
  }

  /** Resolves once every queued item has been delivered (at once when nothing is queued). */
  #whenIdle(): Promise<void> | undefined {
    if (!this.#draining) return undefined;
    if (this.#idle === undefined) {
      let resolve!: () => void;
      const promise = new Promise<void>((r) => {
        resolve = r;
      });
      this.#idle = { promise, resolve };
    }
    return this.#idle.promise;
  }

  #settleIdle(): void {
    const idle = this.#idle;
    if (idle === undefined) return;
    this.#idle = undefined;
    idle.resolve();
  }

  #goLive(tracker: Tracker): void {
    if (this.closed) return;
    if (tracker.again) {
      tracker.again = false;
      this.#recover(tracker);
      return;
    }
    tracker.live = true;
    const pending = tracker.pending;
    if (pending === undefined) return;
    tracker.pending = undefined;
    for (let i = 0; i < pending.length; i++) {
      if (!tracker.live) {
        for (let j = i; j < pending.length; j++) hold(tracker, pending[j]);
        return;
      }
      this.#accept(tracker, pending[i], true);
    }
  }

  #enqueue(item: Item): void {
    if (this.closed) return;
    if (this.#draining) {
      this.#queue ??= [];
      this.#queue.push(item);
      return;
    }
    // Nothing queued, nothing running: deliver at once, without touching the queue (history is paced).
    this.#draining = true;
    if (item instanceof Replay && this.#pace !== undefined) {
      this.#queue ??= [];
      this.#queue.push(item);
      this.#drain();
    } else if (this.#run(item)) this.#drain();
  }

  /** Delivers one item; false when an async handler took over (the drain resumes once it settles). */
  #run(item: Item): boolean {
    let result: void | PromiseLike<void>;
    try {
      result = this.#deliver(item);
    } catch (error) {
      this.#host.report(error, this);
      return true;
    }
    if (result !== undefined && typeof result.then === 'function') {
      this.#resumeAfter(result);
      return false;
    }
    return true;
  }

  /**
   * Runs queued handler calls one at a time; a sync handler costs no promise. History waits while
   * `pace` says the consumer is full (live messages behind it wait too: order is kept). Called while
   * `#draining`.
   */
  #drain(): void {
    const queue = this.#queue;
    if (queue !== undefined) {
      while (this.#head < queue.length) {
        if (this.closed) break;
        const item = queue[this.#head] as Item;
        if (item instanceof Replay && this.#pace !== undefined) {
          const wait = this.#pace.call(this.#receiver);
          if (wait !== undefined) {
            this.#resumeAfter(wait);
            return;
          }
        }
        queue[this.#head++] = undefined;
        if (!this.#run(item)) return;
      }
      // Kept (emptied) once made: a subscription whose deliveries overlap once will again.
      if (this.#queue !== undefined) this.#queue.length = 0;
    }
    this.#head = 0;
    this.#draining = false;
    this.#settleIdle();
  }

  /**
   * Resumes the drain once `wait` (an async handler, or the pace) settles. The callbacks are made here,
   * when a drain does wait, not up front for every subscription: most never wait.
   */
  #resumeAfter(wait: PromiseLike<void>): void {
    wait.then(
      () => this.#resumeDrain(),
      (error: unknown) => {
        this.#host.report(error, this);
        this.#resumeDrain();
      },
    );
  }

  #resumeDrain(): void {
    this.#compact();
    this.#drain();
  }

  #compact(): void {
    const queue = this.#queue;
    if (queue !== undefined && this.#head > 1024 && this.#head * 2 > queue.length) {
      this.#queue = queue.slice(this.#head);
      this.#head = 0;
    }
  }

  #deliver(queued: Item): void | PromiseLike<void> {
    const item = queued instanceof Replay ? queued.envelope : queued;
    if (!(item instanceof Envelope)) {
      return item.notice === 'start'
        ? this.#onStart?.call(this.#receiver, item.position)
        : this.#onReset?.call(this.#receiver, item.position);
    }
    if (item.origin !== undefined && item.origin === this.scope?.id) return;
    if (item.expiresAt !== undefined && item.expiresAt <= this.#host.now()) return;
    return this.#handler.call(this.#receiver, item);
  }
}
