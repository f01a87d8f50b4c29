import { randomUUID } from 'node:crypto';
import {
  type ChannelMap,
  type ChannelOf,
  type Chosen,
  type DataOf,
  ErrorCode,
  TidingsError,
  type Untyped,
} from '@tidings/protocol';
import type { Hub, Published, PublishOptions, SubscribeOptions } from './hub.js';
import type { Handler, Subscription } from './subscription.js';

/**
 * A group of subscriptions that ends at once, e.g. the channels of one view of a page, dropped
 * together when the view closes. A connection is a scope; its publishes with `echo: false` skip its
 * own subscriptions.
 */
export class Scope<Map extends ChannelMap = Untyped> {
  readonly id: string = randomUUID();
  readonly #hub: Hub;
  /** Made on the first subscribe: a scope that only publishes (or is never used) needs none. */
  #subscriptions: Set<Subscription> | undefined;
  #closed = false;

  constructor(hub: Hub) {
    this.#hub = hub;
  }

  get closed(): boolean {
    return this.#closed;
  }

  get size(): number {
    return this.#subscriptions?.size ?? 0;
  }

  subscribe<T = never, C extends ChannelOf<Map> = ChannelOf<Map>>(
    channel: C,
    handler: Handler<Chosen<NoInfer<T>, DataOf<Map, C>>>,
    options: SubscribeOptions = {},
  ): Subscription {
    if (this.#closed) throw new TidingsError(ErrorCode.closed, 'the scope is closed');
    const subscription = this.#hub.subscribeIn(this, channel, handler as Handler, options);
    this.#subscriptions ??= new Set();
    this.#subscriptions.add(subscription);
    return subscription;
  }

  /** @internal A subscription of this scope ended. */
  forget(subscription: Subscription): void {
    this.#subscriptions?.delete(subscription);
  }

  publish<C extends ChannelOf<Map>>(
    channel: C,
    data: DataOf<Map, C>,
    options?: PublishOptions,
  ): Promise<Published> {
    if (this.#closed) return Promise.reject(new TidingsError(ErrorCode.closed, 'the scope is closed'));
    return this.#hub.publishIn(this.id, channel, data, options);
  }

  /** Ends every subscription of the scope. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#subscriptions === undefined) return;
    for (const subscription of [...this.#subscriptions]) subscription.unsubscribe();
  }
}
