import { useSyncExternalStore } from 'react';
import { useClient } from './context.js';
import { useKeyed } from './keyed.js';
import { PresenceFeed, type PresenceSnapshot } from './presence-feed.js';

/**
 * Who is in a channel with presence (the server's `presence` option), kept current: the component
 * subscribes to the channel, which makes this connection a member too. Joins and leaves arrive live on
 * WebSocket, SSE and stream; on long-poll and poll the list is exact as of each (re)subscribe.
 *
 * ```tsx
 * const { members } = usePresence('room.42');
 * ```
 */
export function usePresence(channel: string): PresenceSnapshot {
  const client = useClient();
  const feed = useKeyed([client, channel], () => new PresenceFeed(client, channel));
  return useSyncExternalStore(feed.subscribe, feed.getSnapshot, feed.getServerSnapshot);
}
