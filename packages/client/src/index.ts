/**
 * The browser and Node client of Tidings: `connect(url)`, subscriptions that resume exactly where
 * they stopped, publishing with acknowledgements.
 *
 * @module @tidings/client
 */
export {
  type ChannelMap,
  type DataOf,
  type ErrorAction,
  ErrorCode,
  errorAction,
  isTidingsError,
  type Position,
  type PresenceMember,
  type SinceSpec,
  type Strict,
  TidingsError,
  TransportName,
} from '@tidings/protocol';
export { type Backoff, exponentialBackoff } from './backoff.js';
export {
  Client,
  type ClientEvents,
  type ClientOptions,
  type ClientState,
  connect,
  type HistoryOptions,
  type HistoryPage,
  type PublishOptions,
  type PublishResult,
  type StateChange,
  type SubscribeOptions,
} from './client.js';
export type { StorageLike } from './persistence.js';
export {
  type Message,
  type MessageHandler,
  Subscription,
  type SubscriptionEvents,
  type SubscriptionState,
} from './subscription.js';
