import {
  type Client,
  isTidingsError,
  type Message,
  type MessageHandler,
  type Position,
  type SinceSpec,
  type Subscription,
  type TidingsError,
} from '@tidings/client';
import { ExternalStore } from './external-store.js';

/** Where a hook's subscription is: on its way (also the first render), delivering, or refused. */
export type ChannelStatus = 'subscribing' | 'subscribed' | 'failed';

/** What `useChannel` renders from; a new object whenever something in it changed. */
export interface ChannelSnapshot<T> {
  /** The latest messages, oldest first: at most `limit` of them. Emptied by a reset. */
  messages: readonly Message<T>[];
  /** The latest message (the snapshot, until a message follows it), or undefined before any. */
  last: Message<T> | undefined;
  status: ChannelStatus;
  /** Why the subscription failed (FORBIDDEN, INVALID_CHANNEL, …), with `status: 'failed'`. */
  error: TidingsError | undefined;
}

export interface FeedOptions {
  since: SinceSpec | undefined;
  /** How many messages the snapshot keeps; undefined: none, and messages leave the snapshot alone. */
  keep: number | undefined;
}

const INITIAL: ChannelSnapshot<never> = {
  messages: [],
  last: undefined,
  status: 'subscribing',
  error: undefined,
};

/**
 * One hook's view of a channel, kept outside React so that `useSyncExternalStore` reads the same value
 * in every concurrent render. It subscribes when React first listens and releases the subscription
 * after the last listener is gone (see ExternalStore: StrictMode's double mount keeps one
 * subscription). Subscribed again later (a real remount with the same feed, e.g. `<Activity>` showing
 * it again), it resumes after the last message it holds: nothing lost in between, nothing twice.
 */
export class ChannelFeed<T> extends ExternalStore<ChannelSnapshot<T>> {
  /** The latest `onMessage` of the hook, called for each message before the snapshot changes. */
  handler: MessageHandler<T> | undefined;
  readonly #client: Client;
  readonly #channel: string;
  readonly #options: FeedOptions;
  #subscription: Subscription | undefined;
  #offs: (() => void)[] = [];
  /** After the last message this feed saw (a plain channel only: patterns start from now). */
  #position: Position | undefined;

  constructor(client: Client, channel: string, options: FeedOptions) {
    super(INITIAL);
    this.#client = client;
    this.#channel = channel;
    this.#options = options;
  }

  protected override open(): void {
    let subscription: Subscription;
    try {
      subscription = this.#client.subscribe(
        this.#channel,
        (message) => this.#receive(message as Message<T>),
        {
          since: this.#position ?? this.#options.since,
        },
      );
    } catch (error) {
      // A bad name or a closed client: this hook's state, not a crash of the whole tree.
      if (!isTidingsError(error)) throw error;
      this.#set({ status: 'failed', error });
      return;
    }
    this.#subscription = subscription;
    // A handle joining a subscription the client already holds may be on at once, with no event to say so.
    this.#set({
      status: subscription.state === 'subscribed' ? 'subscribed' : 'subscribing',
      error: undefined,
    });
    this.#offs = [
      subscription.on('subscribed', (position) => {
        // Starting from now, the position the server gave is where a later resume must start.
        if (position && !this.#replays()) this.#position ??= position;
        this.#set({ status: 'subscribed', error: undefined });
      }),
      subscription.on('reset', () => {
        if (this.#options.keep !== undefined) this.#set({ messages: [], last: undefined });
      }),
      subscription.on('error', (error) => this.#set({ status: 'failed', error })),
    ];
  }

  protected override close(): void {
    for (const off of this.#offs) off();
    this.#offs = [];
    this.#subscription?.unsubscribe();
    this.#subscription = undefined;
  }

  #receive(message: Message<T>): void {
    if (message.channel === this.#channel) this.#position = { epoch: message.epoch, offset: message.offset };
    // The app's handler first: a hook that only keeps a count sees it before React renders again.
    // One that throws still leaves the message in the state (the client reports the error).
    try {
      this.handler?.(message);
    } finally {
      this.#keep(message);
    }
  }

  #keep(message: Message<T>): void {
    const keep = this.#options.keep;
    if (keep === undefined) return;
    const before = this.getSnapshot().messages;
    const messages = keep <= 0 ? before : [...before.slice(Math.max(0, before.length - keep + 1)), message];
    this.#set({ messages, last: message });
  }

  /** Whether the start asked for something before now (a snapshot, or after a position). */
  #replays(): boolean {
    const since = this.#options.since;
    return since !== undefined && since !== 'now';
  }

  #set(change: Partial<ChannelSnapshot<T>>): void {
    const current = this.getSnapshot();
    const next = { ...current, ...change };
    if ((Object.keys(change) as (keyof ChannelSnapshot<T>)[]).every((k) => next[k] === current[k])) return;
    this.publish(next);
  }
}
