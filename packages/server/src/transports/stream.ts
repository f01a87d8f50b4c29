import type { IncomingMessage, ServerResponse } from 'node:http';
import { ContentType, TransportName } from '@tidings/protocol';
import type { ServerContext } from './context.js';
import { type StreamFormat, serveStream } from './http-stream.js';

let lastFrame = '';
let lastLine = '';

/** `GET <mount>/stream`: newline-delimited JSON, one frame per line; the client keeps its own cursor. */
const ndjson: StreamFormat = {
  transport: TransportName.stream,
  contentType: ContentType.ndjson,
  preamble: '',
  encode(frame) {
    if (frame !== lastFrame) {
      lastLine = `${frame}\n`;
      lastFrame = frame;
    }
    return lastLine;
  },
};

export function serveNdjson(
  context: ServerContext,
  request: IncomingMessage,
  response: ServerResponse,
  query: URLSearchParams,
): Promise<void> {
  return serveStream(context, request, response, query, ndjson);
}
