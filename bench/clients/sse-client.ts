import type { BenchClient, ClientOptions } from '../targets/target.js';
import { eventStreamParser } from './event-stream.js';
import { openHttpStream } from './http-stream.js';

/** Subscriber of the bare SSE target. */
export async function connectSse(options: ClientOptions): Promise<BenchClient> {
  const close = await openHttpStream({
    port: options.port,
    path: `/sse?channel=${encodeURIComponent(options.channel)}`,
    headers: { accept: 'text/event-stream' },
    onText: eventStreamParser((text) => {
      const data = JSON.parse(text);
      options.onMessage(data.n, data.sent);
    }),
    onClose: options.onClose,
  });
  return { close };
}
