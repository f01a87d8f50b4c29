import type { IncomingMessage, ServerResponse } from 'node:http';
import { ContentType, TransportName } from '@tidings/protocol';
import type { ServerContext } from './context.js';
import { type StreamFormat, serveStream } from './http-stream.js';

/** The browser's EventSource retries after this long; a reconnect resumes from `Last-Event-ID`. */
const RETRY_MS = 1_000;

let lastFrame = '';
let lastEvent = '';
/** `lastEvent` with the `id:` of a one-channel request: that cursor is the position the frame itself names. */
let lastOneChannelEvent = '';

/**
 * `GET <mount>/sse`: one event per frame, `data:` only. A frame that moves a position carries
 * `id:` = the cursor of all the request's channels, so EventSource's own reconnect resumes exactly.
 */
const sse: StreamFormat = {
  transport: TransportName.sse,
  contentType: ContentType.sse,
  preamble: `retry: ${RETRY_MS}\n\n`,
  encode(frame, moved, session) {
    if (frame !== lastFrame) {
      lastEvent = `data: ${frame}\n\n`;
      lastOneChannelEvent = '';
      lastFrame = frame;
    }
    if (!moved) return lastEvent;
    // Every one-channel request that sends this frame has the same cursor: build that event once per frame.
    if (session.onePosition) {
      if (lastOneChannelEvent === '') lastOneChannelEvent = `id: ${session.cursor()}\n${lastEvent}`;
      return lastOneChannelEvent;
    }
    return `id: ${session.cursor()}\n${lastEvent}`;
  },
};

export function serveSse(
  context: ServerContext,
  request: IncomingMessage,
  response: ServerResponse,
  query: URLSearchParams,
): Promise<void> {
  return serveStream(context, request, response, query, sse);
}
