import type { PublishOptions, PublishResult } from '@tidings/client';
import { useCallback } from 'react';
import { useClient } from './context.js';

/** A publish function of the provider's client, the same across renders: `publish(channel, data, options)`. */
export type Publish = (channel: string, data: unknown, options?: PublishOptions) => Promise<PublishResult>;

/** `client.publish` for event handlers: `const publish = usePublish(); publish('chat.lobby', line)`. */
export function usePublish(): Publish {
  const client = useClient();
  return useCallback<Publish>((channel, data, options) => client.publish(channel, data, options), [client]);
}
