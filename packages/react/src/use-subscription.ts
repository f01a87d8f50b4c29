import type { MessageHandler, SinceSpec } from '@tidings/client';
import { useSyncExternalStore } from 'react';
import type { ChannelSnapshot } from './channel-feed.js';
import { useFeed, useHandler } from './use-channel.js';

export interface UseSubscriptionOptions {
  /** Where to start: `'now'` (default), `'snapshot'`, or after a position. */
  since?: SinceSpec;
}

/** The state of a hook's subscription. */
export type SubscriptionStatus = Pick<ChannelSnapshot<never>, 'status' | 'error'>;

/**
 * Calls `handler` (always the latest one) for each message of a channel or pattern, once and in order,
 * without keeping them or rendering again per message: for effects such as a toast or a counter kept
 * elsewhere. Renders again only when the subscription's status changes.
 */
export function useSubscription<T = unknown>(
  channel: string,
  handler: MessageHandler<T>,
  options: UseSubscriptionOptions = {},
): SubscriptionStatus {
  const feed = useFeed<T>(channel, options.since, undefined);
  useHandler(feed, handler);
  const { status, error } = useSyncExternalStore(feed.subscribe, feed.getSnapshot, feed.getServerSnapshot);
  return { status, error };
}
