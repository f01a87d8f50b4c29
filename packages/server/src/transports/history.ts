import type { IncomingMessage, ServerResponse } from 'node:http';
import {
  assertChannelName,
  Defaults,
  ErrorCode,
  type Position,
  Query,
  TidingsError,
} from '@tidings/protocol';
import { authorizeSubscribe } from '../auth.js';
import { assertVersion } from '../http/query.js';
import { sendJson } from '../http/respond.js';
import type { Envelope } from '../message.js';
import { authenticateRequest, shuttingDown } from './admit.js';
import type { ServerContext } from './context.js';

/** Page size when the request names none. */
const DEFAULT_LIMIT = 100;

/**
 * `GET <mount>/history?channel=&since=|before=&limit=`: a page of a channel's retained history, for
 * scroll-back and "what did I miss". Authorized like a subscribe to the channel. Answers
 * `{epoch, offset, reset, frames}`: the channel's current position, and its `message` frames (after a
 * `snapshot` frame when `since` could not be served and `reset` is true).
 */
export async function serveHistory(
  context: ServerContext,
  request: IncomingMessage,
  response: ServerResponse,
  query: URLSearchParams,
): Promise<void> {
  const cors = context.origins.headers(request);
  try {
    if (context.closing) throw shuttingDown();
    assertVersion(query);
    const channels = query.getAll(Query.channel);
    if (channels.length !== 1) {
      throw new TidingsError(ErrorCode.invalidField, `name exactly one channel: ?${Query.channel}=…`, {
        field: Query.channel,
      });
    }
    const channel = channels[0];
    assertChannelName(channel);
    const limit = integer(query, Query.limit, 1, Defaults.maxHistoryBatch) ?? DEFAULT_LIMIT;
    let since = position(query, Query.since);
    const before = position(query, Query.before);
    const identity = await authenticateRequest(context, request, query);
    await authorizeSubscribe(context.hooks, identity, channel);
    // Offsets have no gaps: the `limit` messages before a position are those after `limit + 1` back.
    if (before) since = { epoch: before.epoch, offset: Math.max(0, before.offset - 1 - limit) };
    const page = await context.hub.history(channel, { since, limit });
    const messages =
      before && !page.reset ? page.messages.filter((m) => m.offset < before.offset) : page.messages;
    const frames = [...(page.snapshot ? [page.snapshot] : []), ...messages].map(
      (message) => (message as Envelope).frame,
    );
    const head = JSON.stringify({ epoch: page.epoch, offset: page.offset, reset: page.reset });
    sendJson(response, 200, `${head.slice(0, -1)},"frames":[${frames.join(',')}]}`, cors);
  } catch (error) {
    context.sendError(response, error, cors);
  }
}

function integer(query: URLSearchParams, name: string, min: number, max: number): number | undefined {
  const text = query.get(name);
  if (text === null) return undefined;
  const value = Number(text);
  if (text === '' || !Number.isSafeInteger(value) || value < min || value > max) {
    throw new TidingsError(ErrorCode.invalidField, `${name} must be an integer from ${min} to ${max}`, {
      field: name,
    });
  }
  return value;
}

/** A position as `epoch:offset`, the form a cursor entry has. */
function position(query: URLSearchParams, name: string): Position | undefined {
  const text = query.get(name);
  if (text === null) return undefined;
  const colon = text.lastIndexOf(':');
  const epoch = text.slice(0, colon);
  const offset = Number(text.slice(colon + 1));
  if (colon < 1 || !Number.isSafeInteger(offset) || offset < 0) {
    throw new TidingsError(ErrorCode.invalidField, `${name} must be a position epoch:offset`, {
      field: name,
    });
  }
  return { epoch, offset };
}
