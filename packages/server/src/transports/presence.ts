import type { IncomingMessage, ServerResponse } from 'node:http';
import { ErrorCode, TidingsError } from '@tidings/protocol';
import { authorizeSubscribe } from '../auth.js';
import { oneChannel } from '../http/query.js';
import { sendJson } from '../http/respond.js';
import { authenticateRequest, shuttingDown } from './admit.js';
import type { ServerContext } from './context.js';
import { presence } from './frames.js';

/**
 * `GET <mount>/presence?channel=`: who is in a channel, as a `presence` frame. Authorized like a
 * subscribe to the channel; the channel must be one of the server's presence channels.
 */
export async function servePresence(
  context: ServerContext,
  request: IncomingMessage,
  response: ServerResponse,
  query: URLSearchParams,
): Promise<void> {
  const cors = context.origins.headers(request);
  try {
    if (context.closing) throw shuttingDown();
    const channel = oneChannel(query);
    const identity = await authenticateRequest(context, request, query);
    await authorizeSubscribe(context.hooks, identity, channel);
    if (!context.hasPresence(channel)) {
      throw new TidingsError(ErrorCode.unsupported, `${channel} has no presence`);
    }
    const members = await context.hub.presence(channel);
    sendJson(response, 200, presence(channel, members), cors);
  } catch (error) {
    context.sendError(response, error, cors);
  }
}
