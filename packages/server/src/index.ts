export {
  ErrorCode,
  isChannelName,
  isPattern,
  type Position,
  Since,
  type SinceSpec,
  TidingsError,
} from '@tidings/protocol';
export { Channel } from './channel.js';
export type {
  Engine,
  EngineMessage,
  PublishRequest,
  PublishResult,
  ReadResult,
  RetentionPolicy,
  Snapshot,
  StreamListener,
} from './engine.js';
export {
  createHub,
  type HistoryOptions,
  type HistoryResult,
  Hub,
  type HubOptions,
  type Published,
  type PublishOptions,
  type SubscribeOptions,
} from './hub.js';
export { MemoryEngine } from './memory-engine.js';
export type { Message } from './message.js';
export { DEFAULT_RETENTION, type RetentionConfig } from './retention.js';
export { Scope } from './scope.js';
export type { Handler, ResetNotice, Subscription } from './subscription.js';
