import type { Client, ClientState, MessageHandler, PublishOptions, PublishResult } from '@tidings/client';
import type { ChannelMap, ChannelOf, Chosen, DataOf } from '@tidings/protocol';
import { useClient, useConnectionState } from './context.js';
import type { PresenceSnapshot } from './presence-feed.js';
import { type ChannelResult, type UseChannelOptions, useChannel } from './use-channel.js';
import { usePresence } from './use-presence.js';
import { usePublish } from './use-publish.js';
import { type SubscriptionStatus, type UseSubscriptionOptions, useSubscription } from './use-subscription.js';

/** The data type a hook gives for channel `C`: the one named explicitly, else the map's. */
type Data<Map, T, C extends string> = Chosen<NoInfer<T>, DataOf<Map, C>>;

/**
 * The hooks typed with a channel map: the same functions as the plain exports, checked against the map
 * as `connect<Map>()` checks the client's calls.
 */
export interface TidingsHooks<Map extends ChannelMap> {
  useClient(): Client<Map>;
  useChannel<T = never, C extends ChannelOf<Map> = ChannelOf<Map>>(
    channel: C,
    options?: UseChannelOptions<Data<Map, T, C>>,
  ): ChannelResult<Data<Map, T, C>>;
  useSubscription<T = never, C extends ChannelOf<Map> = ChannelOf<Map>>(
    channel: C,
    handler: MessageHandler<Data<Map, T, C>>,
    options?: UseSubscriptionOptions,
  ): SubscriptionStatus;
  usePublish(): <C extends ChannelOf<Map>>(
    channel: C,
    data: DataOf<Map, C>,
    options?: PublishOptions,
  ) => Promise<PublishResult>;
  usePresence(channel: ChannelOf<Map>): PresenceSnapshot;
  useConnectionState(): ClientState;
}

/**
 * The hooks typed with your channel map, made once beside it (no runtime cost: the same functions):
 *
 * ```ts
 * type Channels = { 'chat.*': ChatLine; cursor: { x: number; y: number } };
 * export const { useChannel, usePublish } = typedHooks<Channels>();
 * // useChannel('chat.lobby').last?.data is a ChatLine; publish('cursor', { x: 1 }) does not compile.
 * ```
 */
export function typedHooks<Map extends ChannelMap>(): TidingsHooks<Map> {
  return {
    useClient,
    useChannel,
    useSubscription,
    usePublish,
    usePresence,
    useConnectionState,
  } as unknown as TidingsHooks<Map>;
}
