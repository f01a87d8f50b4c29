import {
  type Cursor,
  ErrorCode,
  FrameType,
  Header,
  isPattern,
  Query,
  type ServerFrame,
} from '@tidings/protocol';
import { channelQuery, readCursor } from './channel-query.js';
import { httpAsk } from './http-ask.js';
import { httpError, refuseChannels } from './http-error.js';
import { httpPublish } from './http-publish.js';
import { parseSizeLimits } from './size-limits.js';
import type { Transport, TransportHost } from './transport.js';

interface PollAnswer {
  frames: ServerFrame[];
  cursor: string;
}

/**
 * The shared half of long-polling and polling: a loop of requests, each naming every channel with the
 * cursor the last answer gave. `wait` is the long-poll wait to ask for (none: the server's default), and
 * `interval` the pause between requests. The first request never waits, so the client learns at once
 * that the transport works and where its new channels start.
 */
export function polling(host: TransportHost, endpoint: string, interval: number, wait?: number): Transport {
  let controller: AbortController | undefined;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let first = true;
  let closed = false;

  const next = (delay: number): void => {
    if (closed) return;
    clearTimeout(timer);
    controller?.abort();
    controller = undefined;
    timer = setTimeout(request, delay);
  };

  const request = async (): Promise<void> => {
    const specs = host.channels().filter(({ channel }) => {
      const pattern = isPattern(channel);
      if (pattern) {
        host.frame({
          type: FrameType.error,
          channel,
          code: ErrorCode.invalidChannel,
          message: 'patterns need websocket, sse or stream',
        });
      }
      return !pattern;
    });
    const query = channelQuery(specs);
    if (query.channels.length === 0) {
      host.open();
      return;
    }
    if (wait !== undefined || first) query.params.push([Query.wait, String(first ? 0 : wait)]);
    const mine = new AbortController();
    controller = mine;
    let answer: PollAnswer;
    let cursor: Cursor;
    try {
      const response = await host.platform.fetch!(host.url(endpoint, query.params), { signal: mine.signal });
      if (!response.ok) {
        const info = await httpError(response);
        if (mine !== controller) return;
        if (!refuseChannels(host, info, query.channels)) return host.close(info);
        // The refused subscriptions are gone: ask again for the others (if none went, reconnect).
        if (channelQuery(host.channels()).channels.join() !== query.channels.join()) return next(0);
        return host.close();
      }
      host.limits(parseSizeLimits(response.headers.get(Header.limits)));
      answer = (await response.json()) as PollAnswer;
      cursor = readCursor(answer.cursor);
    } catch {
      if (mine === controller) host.close();
      return;
    }
    if (mine !== controller) return;
    first = false;
    host.open();
    // An answer carries no `subscribed` frames; they are put back where the streaming transports get
    // them from the server, so the subscription sees the same events in the same order on every
    // transport. A channel asked from a position starts there (a `reset` may follow, as on a stream);
    // one asked from `now` or `snapshot` just before its first frame, or at the answer's cursor, which
    // also moves every channel past what the frames covered.
    const started = new Set<string>();
    for (const frame of answer.frames) {
      if ('epoch' in frame && !started.has(frame.channel)) {
        started.add(frame.channel);
        const { channel, epoch } = frame;
        const asked = specs.find((spec) => spec.channel === channel)?.since;
        const offset = frame.type === FrameType.message ? frame.offset - 1 : frame.offset;
        host.frame({
          type: FrameType.subscribed,
          channel,
          ...(typeof asked === 'object' ? asked : { epoch, offset }),
        });
      }
      host.frame(frame);
    }
    for (const [channel, position] of cursor) {
      host.frame({ type: FrameType.subscribed, channel, ...position });
    }
    next(query.complete ? interval : 0);
  };

  next(0);
  return {
    subscribe: () => next(0),
    unsubscribe: () => next(0),
    // A new request sends it now: a long-poll waiting with the old token would end when it expires.
    refresh: () => next(0),
    publish: (frame) => httpPublish(host, frame),
    ask: (frame) => httpAsk(host, frame),
    close: () => {
      closed = true;
      clearTimeout(timer);
      controller?.abort();
      controller = undefined;
    },
  };
}
