import type { Message, MessageHandler, PublishOptions, PublishResult, SinceSpec } from '@tidings/client';
import { useCallback, useInsertionEffect, useMemo, useSyncExternalStore } from 'react';
import { ChannelFeed, type ChannelSnapshot } from './channel-feed.js';
import { useClient } from './context.js';
import { useKeyed } from './keyed.js';

/** How many messages `useChannel` keeps by default. */
export const DEFAULT_LIMIT = 100;

export interface UseChannelOptions<T> {
  /** Where to start: `'now'` (default), `'snapshot'` (the channel's state, then what follows), or after a position. */
  since?: SinceSpec;
  /** How many of the latest messages `messages` keeps. Default 100; 0 keeps only `last`. */
  limit?: number;
  /** Called once for each message, in order, before the component renders it (always the latest function). */
  onMessage?: MessageHandler<T>;
}

export interface ChannelResult<T> extends ChannelSnapshot<T> {
  /** Publishes to this channel: `client.publish(channel, data, options)`. */
  publish(data: T, options?: PublishOptions): Promise<PublishResult>;
}

/**
 * Subscribes the component to a channel (or a pattern) and renders its latest messages: each message
 * once and in order, across reconnects, StrictMode's double mount and concurrent renders.
 * A new `channel`, `since` or `limit` starts a new subscription with an empty list.
 *
 * ```tsx
 * const { messages, status, publish } = useChannel<ChatLine>('chat.lobby', { since: 'snapshot' });
 * ```
 */
export function useChannel<T = unknown>(
  channel: string,
  options: UseChannelOptions<T> = {},
): ChannelResult<T> {
  const { since, limit = DEFAULT_LIMIT, onMessage } = options;
  const client = useClient();
  const feed = useFeed<T>(channel, since, Math.max(0, limit));
  useHandler(feed, onMessage);
  const snapshot = useSyncExternalStore(feed.subscribe, feed.getSnapshot, feed.getServerSnapshot);
  const publish = useCallback(
    (data: T, publishOptions?: PublishOptions) => client.publish(channel, data, publishOptions),
    [client, channel],
  );
  return useMemo(() => ({ ...snapshot, publish }), [snapshot, publish]);
}

/** @internal The feed of one hook, made anew when what it subscribes to changes. */
export function useFeed<T>(
  channel: string,
  since: SinceSpec | undefined,
  keep: number | undefined,
): ChannelFeed<T> {
  const client = useClient();
  // A position written inline is a new object every render: compared by value.
  const start = typeof since === 'object' ? `${since.epoch}:${since.offset}` : since;
  return useKeyed([client, channel, start, keep], () => new ChannelFeed<T>(client, channel, { since, keep }));
}

/**
 * @internal Keeps the feed calling the latest handler without subscribing again when it changes.
 * An insertion effect runs before any other effect of the commit, so before React subscribes the feed.
 */
export function useHandler<T>(
  feed: ChannelFeed<T>,
  handler: ((message: Message<T>) => void) | undefined,
): void {
  useInsertionEffect(() => {
    feed.handler = handler;
  });
}
