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
