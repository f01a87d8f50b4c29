import { FrameType, isPattern, type ServerFrame } from '@tidings/protocol';
import { channelQuery } from './channel-query.js';
import { type Handover, handover } from './handover.js';
import { httpAsk } from './http-ask.js';
import { type HttpFailure, refuseChannels } from './http-error.js';
import { httpPublish } from './http-publish.js';
import type { Transport, TransportHost } from './transport.js';

export interface StreamEvents {
  /** A frame; the first (the server's `welcome`) says the connection works. */
  frame(frame: ServerFrame): void;
  /** The request failed or ended; `info` when the server answered with an error. */
  fail(info?: HttpFailure): void;
}

/** Opens one streaming request; returns what aborts it. Events after the abort are ignored. */
export type OpenStream = (url: string, events: StreamEvents) => () => void;

interface Request {
  channels: string[];
  /** Where its frames go: the client, or a handover to the next request; nowhere once replaced. */
  deliver(frame: ServerFrame): void;
  /** Its end: aborted, or handed over. */
  stop(): void;
}

/**
 * The shared half of the streaming HTTP transports (SSE, ndjson): one request holding every channel and
 * the cursor. The server keeps no state between requests, so a change of subscriptions is a new request
 * from the current positions; changes within one tick share one reopen. Channels resume exactly from
 * their positions, but a pattern has none: while a pattern goes on into the new request, the old one
 * stays open until the new one is live and both deliver the same pattern message (see `handover`),
 * and later changes wait for that.
 */
export function streaming(host: TransportHost, endpoint: string, openStream: OpenStream): Transport {
  let current: Request | undefined;
  let passing: Handover | undefined;
  let key: string | undefined;
  let complete = true;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let force = false;
  let closed = false;

  const reopen = (): void => {
    timer = undefined;
    if (passing) return;
    const query = channelQuery(host.channels());
    const next = query.channels.join();
    if (!force && next === key) return;
    force = false;
    const previous = current;
    key = next;
    complete = query.complete;
    current = undefined;
    const kept = previous?.channels.some((channel) => isPattern(channel) && query.channels.includes(channel));
    if (!kept) previous?.stop();
    // Nothing to ask for: there is no request to fail, and publishing still works.
    if (!next) {
      host.open();
      return;
    }
    const request: Request = { channels: query.channels, deliver: host.frame, stop: () => {} };
    if (kept) {
      const hand = handover(query.channels, host.frame, () => {
        passing = undefined;
        previous!.stop();
        request.deliver = host.frame;
        schedule(false);
      });
      passing = hand;
      previous!.deliver = hand.old;
      request.deliver = hand.next;
    }
    current = request;
    let opened = false;
    const abort = openStream(host.url(endpoint, query.params), {
      // Open at the first frame, the server's `welcome`, rather than at the response headers: the
      // client then knows the server's limits before it sends what waited for the connection.
      frame: (frame) => {
        if (frame.type === FrameType.welcome) {
          if (request === current) host.limits(frame);
        } else request.deliver(frame);
        // A channel that waited (another start than the others) gets asked once the others have positions.
        if (!complete && frame.type === FrameType.subscribed) schedule(false);
        if (request !== current || opened) return;
        opened = true;
        host.open();
      },
      fail: (info) => {
        if (request !== current) {
          // A request being replaced: the next one takes over now.
          if (passing && request === previous) return passing.end();
          return;
        }
        request.stop();
        passing?.end();
        if (!info || !refuseChannels(host, info, query.channels)) host.close(info);
        // The refused subscriptions are gone: ask again for the others. If none went, something else is
        // wrong, and a plain reconnect (with backoff) beats a tight loop.
        else if (channelQuery(host.channels()).channels.join() !== key) schedule(false);
        else host.close();
      },
    });
    request.stop = () => {
      request.deliver = () => {};
      abort();
    };
  };

  const schedule = (always: boolean): void => {
    force ||= always;
    if (!closed) timer ??= setTimeout(reopen);
  };

  schedule(true);
  return {
    subscribe: () => schedule(true),
    unsubscribe: () => schedule(true),
    refresh: () => schedule(true),
    publish: (frame) => httpPublish(host, frame),
    ask: (frame) => httpAsk(host, frame),
    close: () => {
      closed = true;
      clearTimeout(timer);
      passing?.end();
      current?.stop();
    },
  };
}
