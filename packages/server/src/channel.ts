import type { Position } from '@tidings/protocol';
import type {
  HistoryOptions,
  HistoryResult,
  Hub,
  Published,
  PublishOptions,
  SubscribeOptions,
} from './hub.js';
import type { Handler, Subscription } from './subscription.js';

/** One channel of a hub: `hub.channel('chat').send({ text })`. */
export class Channel {
  readonly #hub: Hub;
  readonly name: string;

  constructor(hub: Hub, name: string) {
    this.#hub = hub;
    this.name = name;
  }

  send(data: unknown, options?: PublishOptions): Promise<Published> {
    return this.#hub.publish(this.name, data, options);
  }

  subscribe<T = unknown>(handler: Handler<T>, options?: SubscribeOptions): Subscription {
    return this.#hub.subscribe(this.name, handler, options);
  }

  history(options?: HistoryOptions): Promise<HistoryResult> {
    return this.#hub.history(this.name, options);
  }

  setState(data: unknown): Promise<Position> {
    return this.#hub.setState(this.name, data);
  }

  position(): Promise<Position> {
    return this.#hub.position(this.name);
  }
}
