import { DEFAULT_MOUNT_PATH, Endpoint, Query } from '@tidings/protocol';
import type { BenchClient, ClientOptions } from '../targets/target.js';
import { eventStreamParser } from './event-stream.js';
import { openHttpStream } from './http-stream.js';
import { handleTidingsFrame, resumeCursor } from './tidings-frames.js';

/** Raw-protocol Tidings subscriber over SSE: each event's data is one server frame. */
export async function connectTidingsSse(options: ClientOptions): Promise<BenchClient> {
  const close = await openHttpStream({
    port: options.port,
    path: `${DEFAULT_MOUNT_PATH}${Endpoint.sse}?${Query.channel}=${encodeURIComponent(options.channel)}`,
    // A resume sends the last event id, as EventSource does; the server reads it as a cursor.
    headers: options.since
      ? { accept: 'text/event-stream', 'last-event-id': resumeCursor(options.channel, options.since) }
      : { accept: 'text/event-stream' },
    onText: eventStreamParser((text) => handleTidingsFrame(text, options)),
    onClose: options.onClose,
  });
  return { close };
}
