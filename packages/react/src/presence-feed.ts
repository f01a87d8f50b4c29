import {
  type Client,
  isTidingsError,
  type PresenceMember,
  type Subscription,
  type TidingsError,
} from '@tidings/client';
import type { ChannelStatus } from './channel-feed.js';
import { ExternalStore } from './external-store.js';

/** What `usePresence` renders from. */
export interface PresenceSnapshot {
  /** One member per connection, this one included once subscribed; empty until the first answer. */
  members: readonly PresenceMember[];
  status: ChannelStatus;
  /** Why it failed: FORBIDDEN, or UNSUPPORTED for a channel without presence. */
  error: TidingsError | undefined;
}

type Change = { type: 'join' | 'leave'; member: PresenceMember };

const INITIAL: PresenceSnapshot = { members: [], status: 'subscribing', error: undefined };

/**
 * The members of a channel for one hook. Being a member takes a subscription, so the feed holds one
 * (its messages ignored). The list is asked for on every `subscribed` (each reconnect, where joins and
 * leaves may have been missed) and kept current with the join and leave events in between; events that
 * come while an answer is on its way are applied on top of it, so none is lost to the race.
 */
export class PresenceFeed extends ExternalStore<PresenceSnapshot> {
  readonly #client: Client;
  readonly #channel: string;
  #subscription: Subscription | undefined;
  #offs: (() => void)[] = [];
  /** Events since the list was last asked for; undefined when no answer is awaited. */
  #pending: Change[] | undefined;

  constructor(client: Client, channel: string) {
    super(INITIAL);
    this.#client = client;
    this.#channel = channel;
  }

  protected override open(): void {
    let subscription: Subscription;
    try {
      subscription = this.#client.subscribe(this.#channel, () => {});
    } catch (error) {
      if (!isTidingsError(error)) throw error;
      this.#set({ status: 'failed', error });
      return;
    }
    this.#subscription = subscription;
    const change = (type: Change['type']) => (member: PresenceMember) => {
      if (this.#pending) this.#pending.push({ type, member });
      this.#set({ members: apply(this.getSnapshot().members, { type, member }) });
    };
    this.#offs = [
      subscription.on('subscribed', () => this.#ask(subscription)),
      subscription.on('join', change('join')),
      subscription.on('leave', change('leave')),
      subscription.on('error', (error) => this.#set({ status: 'failed', error })),
    ];
    // A handle joining a subscription the client already holds may be on at once, with no event to say so.
    if (subscription.state === 'subscribed') this.#ask(subscription);
  }

  #ask(subscription: Subscription): void {
    const pending: Change[] = [];
    this.#pending = pending;
    this.#client.presence(this.#channel).then(
      (members) => {
        if (this.#subscription !== subscription || this.#pending !== pending) return;
        this.#pending = undefined;
        this.#set({ members: pending.reduce(apply, members), status: 'subscribed', error: undefined });
      },
      (error: unknown) => {
        if (this.#subscription !== subscription || !isTidingsError(error)) return;
        this.#set({ status: 'failed', error });
      },
    );
  }

  protected override close(): void {
    for (const off of this.#offs) off();
    this.#offs = [];
    this.#pending = undefined;
    this.#subscription?.unsubscribe();
    this.#subscription = undefined;
  }

  #set(change: Partial<PresenceSnapshot>): void {
    this.publish({ ...this.getSnapshot(), ...change });
  }
}

/** The list after a join (replacing the connection's entry: its info may have changed) or a leave. */
function apply(members: readonly PresenceMember[], { type, member }: Change): PresenceMember[] {
  const others = members.filter((m) => m.client !== member.client);
  return type === 'join' ? [...others, member] : others;
}
