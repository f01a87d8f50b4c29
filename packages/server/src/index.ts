/**
 * The Tidings server: the hub (channels, history, snapshots, presence), the transports and `attach`
 * for `node:http`, authorization and JWT.
 *
 * @module @tidings/server
 */

// The engine seam lives in @tidings/engine; re-exported so code written against the server keeps working.
export {
  DEFAULT_RETENTION,
  type Engine,
  type EngineMessage,
  type EnginePresence,
  ListenerRegistry,
  MemoryEngine,
  MemoryPresence,
  type PresenceEvent,
  type PresenceListener,
  type PublishRequest,
  type PublishResult,
  type ReadResult,
  type RetentionPolicy,
  type Snapshot,
  type StreamListener,
  scopedKey,
} from '@tidings/engine';
export {
  type ChannelMap,
  type DataOf,
  ErrorCode,
  isChannelName,
  isPattern,
  type Position,
  type PresenceMember,
  Since,
  type SinceSpec,
  type Strict,
  TidingsError,
} from '@tidings/protocol';
export {
  ANONYMOUS,
  type AuthContext,
  type Authenticate,
  type Authorization,
  type Grant,
  type Identity,
  mayRead,
  mayWrite,
} from './auth.js';
export { Channel } from './channel.js';
export type { TrustProxy } from './http/client-address.js';
export type { Origins } from './http/cors.js';
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
export {
  type JWK,
  type JwksResolver,
  type JwtAuthOptions,
  type JwtPayload,
  jwtAuth,
  signToken,
  type TidingsClaims,
} from './jwt.js';
export { DEFAULT_LIMITS, type Limits } from './limits.js';
export type { Message } from './message.js';
export type { ServerObserver } from './observer.js';
export type { RetentionConfig } from './retention.js';
export type { Schemas } from './schemas.js';
export { Scope } from './scope.js';
export {
  attach,
  createTidingsServer,
  DEFAULT_WRITE_DELAY_MS,
  type DisconnectOptions,
  type TidingsServer,
  type TidingsServerOptions,
} from './server.js';
export type {
  StandardSchemaIssue,
  StandardSchemaResult,
  StandardSchemaV1,
} from './standard-schema.js';
export type { Handler, Pace, ResetNotice, Subscription } from './subscription.js';
