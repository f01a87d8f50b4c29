import type { Chosen, Position } from '@tidings/protocol';
import type {
  HistoryOptions,
  HistoryResult,
  Hub,
  Published,
  PublishOptions,
  SubscribeOptions,
} from './hub.js';
import type { Handler, Subscription } from './subscription.js';

/** One channel of a hub: `hub.channel('chat').send({ text })`. `T` is its data's type (from a typed hub). */
export class Channel<T = unknown> {
  readonly #hub: Hub;
  readonly name: string;

  constructor(hub: Hub, name: string) {
    this.#hub = hub;
    this.name = name;
  }

  send(data: T, options?: PublishOptions): Promise<Published> {
    return this.#hub.publish(this.name, data, options);
  }

  subscribe<U = never>(handler: Handler<Chosen<NoInfer<U>, T>>, options?: SubscribeOptions): Subscription {
    return this.#hub.subscribe(this.name, handler as Handler, options);
  }

  history(options?: HistoryOptions): Promise<HistoryResult<T>> {
    return this.#hub.history(this.name, options) as Promise<HistoryResult<T>>;
  }

  setState(data: T): Promise<Position> {
    return this.#hub.setState(this.name, data);
  }

  position(): Promise<Position> {
    return this.#hub.position(this.name);
  }
}
