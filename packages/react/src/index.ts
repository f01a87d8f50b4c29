/**
 * React bindings of Tidings: a provider for the client and hooks that subscribe components to channels,
 * render the latest messages or who is present, and follow the connection. Correct under StrictMode
 * and concurrent rendering (`useSyncExternalStore`); typed with a channel map through `typedHooks`.
 *
 * @module @tidings/react
 */
export type { ChannelSnapshot, ChannelStatus } from './channel-feed.js';
export { TidingsProvider, type TidingsProviderProps, useClient, useConnectionState } from './context.js';
export type { PresenceSnapshot } from './presence-feed.js';
export { type TidingsHooks, typedHooks } from './typed.js';
export { type ChannelResult, DEFAULT_LIMIT, type UseChannelOptions, useChannel } from './use-channel.js';
export { usePresence } from './use-presence.js';
export { type Publish, usePublish } from './use-publish.js';
export { type SubscriptionStatus, type UseSubscriptionOptions, useSubscription } from './use-subscription.js';
