import type { IncomingMessage, ServerResponse } from 'node:http';
import { Defaults, ErrorCode, isPosition, type Position, Query, TidingsError } from '@tidings/protocol';
import { authorizeSubscribe, type Identity } from '../auth.js';
import { oneChannel } from '../http/query.js';
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
    const channel = oneChannel(query);
    const limit = integer(query, Query.limit, 1, Defaults.maxHistoryBatch);
    const since = position(query, Query.since);
    const before = position(query, Query.before);
    const identity = await authenticateRequest(context, request, query);
    sendJson(response, 200, await readHistory(context, identity, channel, { since, before, limit }), cors);
  } catch (error) {
    context.sendError(response, error, cors);
  }
}

/** What a history read asks for; `limit` defaults to 100. */
export interface HistoryQuery {
  since?: Position;
  before?: Position;
  limit?: number;
}

/**
 * Reads a page for `identity`, authorized like a subscribe to the channel, as the JSON of
 * `{epoch, offset, reset, frames}` with `fields` (encoded, with their comma) first: `GET /history`
 * answers with it, a WebSocket `history` request with the same page in a `history` frame.
 */
export async function readHistory(
  context: ServerContext,
  identity: Identity,
  channel: string,
  { since, before, limit = DEFAULT_LIMIT }: HistoryQuery,
  fields = '',
): Promise<string> {
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
  return `{${fields}${head.slice(1, -1)},"frames":[${frames.join(',')}]}`;
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

/** A position as `epoch:offset`, the form a cursor entry has (INVALID_CURSOR otherwise). */
function position(query: URLSearchParams, name: string): Position | undefined {
  const text = query.get(name);
  if (text === null) return undefined;
  const colon = text.lastIndexOf(':');
  const position = { epoch: text.slice(0, colon), offset: Number(text.slice(colon + 1)) };
  if (colon < 1 || text.endsWith(':') || !isPosition(position)) {
    throw new TidingsError(ErrorCode.invalidCursor, `${name} must be a position epoch:offset`, {
      field: name,
    });
  }
  return position;
}
