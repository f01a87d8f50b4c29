import { type Cursor, encodeCursor, Query, Since, type SinceMode } from '@tidings/protocol';
import type { ChannelSpec } from './transport.js';

export interface ChannelQuery {
  params: [string, string][];
  /** The channels the request names. */
  channels: string[];
  /** False when some channels wait for a later request (see below). */
  complete: boolean;
}

/**
 * The query of a stateless HTTP request: every channel, a cursor with the positions known, and one
 * `since` for the channels without a position. One request has only one `since`, so when new channels
 * want different starts, those that want `now` wait: once the others have positions the request is
 * reopened with them all.
 */
export function channelQuery(specs: ChannelSpec[]): ChannelQuery {
  const cursor: Cursor = new Map();
  const params: [string, string][] = [];
  const channels: string[] = [];
  const mode: SinceMode = specs.some((s) => s.since === Since.snapshot) ? Since.snapshot : Since.now;
  let complete = true;
  for (const { channel, since } of specs) {
    if (typeof since === 'object') cursor.set(channel, since);
    else if (since !== mode) {
      complete = false;
      continue;
    }
    channels.push(channel);
    params.push([Query.channel, channel]);
  }
  if (cursor.size > 0) params.push([Query.cursor, encodeCursor(cursor)]);
  if (mode === Since.snapshot) params.push([Query.since, mode]);
  return { params, channels, complete };
}

/**
 * A cursor from the server (`channel=epoch:offset,…`), read without the checks the server's own
 * decoder makes: the client trusts what its server says, and stays small.
 */
export function readCursor(text: string): Cursor {
  const cursor: Cursor = new Map();
  for (const entry of text ? text.split(',') : []) {
    const [channel, position] = entry.split('=');
    const [epoch, offset] = position.split(':');
    cursor.set(channel, { epoch, offset: Number(offset) });
  }
  return cursor;
}
