import type { IncomingMessage } from 'node:http';
import {
  assertChannelName,
  assertChannelOrPattern,
  type Cursor,
  decodeCursor,
  ErrorCode,
  Header,
  isPattern,
  PROTOCOL_VERSION,
  Query,
  Since,
  type SinceMode,
  TidingsError,
} from '@tidings/protocol';

/** The path (without the query) and the query of a request. */
export function splitUrl(url: string | undefined): { path: string; query: URLSearchParams } {
  const raw = url ?? '/';
  const mark = raw.indexOf('?');
  return mark < 0
    ? { path: raw, query: new URLSearchParams() }
    : { path: raw.slice(0, mark), query: new URLSearchParams(raw.slice(mark + 1)) };
}

/** Rejects a `v` other than this server's protocol version. */
export function assertVersion(query: URLSearchParams): void {
  const version = query.get(Query.version);
  if (version !== null && version !== String(PROTOCOL_VERSION)) {
    throw new TidingsError(
      ErrorCode.unsupportedVersion,
      `protocol version ${JSON.stringify(version.slice(0, 16))} is not supported; this server speaks ${PROTOCOL_VERSION}`,
    );
  }
}

/** The one channel (not a pattern) a history or presence request names, with the protocol version checked. */
export function oneChannel(query: URLSearchParams): string {
  assertVersion(query);
  const channels = query.getAll(Query.channel);
  if (channels.length !== 1) {
    throw new TidingsError(ErrorCode.invalidField, `name exactly one channel: ?${Query.channel}=…`, {
      field: Query.channel,
    });
  }
  const channel = channels[0];
  assertChannelName(channel);
  return channel;
}

/** What an SSE, stream or poll request asks for. */
export interface SubscriptionQuery {
  channels: string[];
  /** Positions to resume after, for some of `channels`. */
  cursor: Cursor;
  /** Where channels without a cursor entry start. */
  since: SinceMode;
}

/**
 * Reads the common query of the HTTP transports (docs/PROTOCOL.md). `Last-Event-ID`, which a browser's
 * EventSource sends back on its own, takes precedence over `cursor`. Throws a TidingsError (400).
 */
export function parseSubscriptionQuery(
  request: IncomingMessage,
  query: URLSearchParams,
  options: { maxSubscriptions: number; patterns: boolean },
): SubscriptionQuery {
  assertVersion(query);
  const channels = [...new Set(query.getAll(Query.channel))];
  if (channels.length === 0) {
    throw new TidingsError(ErrorCode.invalidField, `name at least one channel: ?${Query.channel}=…`, {
      field: Query.channel,
    });
  }
  if (channels.length > options.maxSubscriptions) {
    throw new TidingsError(
      ErrorCode.tooManySubscriptions,
      `at most ${options.maxSubscriptions} channels per request`,
    );
  }
  for (const channel of channels) {
    if (!options.patterns && isPattern(channel)) {
      throw new TidingsError(
        ErrorCode.invalidChannel,
        `${channel} is a pattern: patterns have no position to poll from; use /sse, /stream or the WebSocket`,
      );
    }
    assertChannelOrPattern(channel);
  }
  const lastEventId = request.headers[Header.lastEventId];
  const cursorText =
    typeof lastEventId === 'string' && lastEventId !== '' ? lastEventId : query.get(Query.cursor);
  const cursor = decodeCursor(cursorText ?? '');
  const since = query.get(Query.since) ?? Since.now;
  if (since !== Since.now && since !== Since.snapshot) {
    throw new TidingsError(ErrorCode.invalidField, `${Query.since} must be "now" or "snapshot"`, {
      field: Query.since,
    });
  }
  return { channels, cursor, since };
}
