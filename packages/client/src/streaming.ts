import { FrameType, type ServerFrame } from '@tidings/protocol';
import { channelQuery } from './channel-query.js';
import { type HttpFailure, refuseChannels } from './http-error.js';
import { httpPresence } from './http-presence.js';
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

/**
 * The shared half of the streaming HTTP transports (SSE, ndjson): one request at a time, holding every
 * channel and the cursor. The server keeps no state between requests, so a change of subscriptions is a
 * new request from the current positions; changes within one tick share one reopen.
 */
export function streaming(host: TransportHost, endpoint: string, openStream: OpenStream): Transport {
  let abort: (() => void) | undefined;
  let generation = 0;
  let key: string | undefined;
  let complete = true;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let force = false;

  const reopen = (): void => {
    timer = undefined;
    const query = channelQuery(host.channels());
    const next = query.channels.join();
    if (!force && next === key) return;
    force = false;
    abort?.();
    abort = undefined;
    key = next;
    complete = query.complete;
    const mine = ++generation;
    // Nothing to ask for: there is no request to fail, and publishing still works.
    if (!next) {
      host.open();
      return;
    }
    const live = () => mine === generation;
    let opened = false;
    abort = openStream(host.url(endpoint, query.params), {
      // Open at the first frame, the server's `welcome`, rather than at the response headers: the
      // client then knows the server's limits before it sends what waited for the connection.
      frame: (frame) => {
        if (!live()) return;
        if (frame.type === FrameType.welcome) host.limits(frame);
        if (!opened) {
          opened = true;
          host.open();
        }
        if (frame.type === FrameType.welcome) return;
        host.frame(frame);
        if (!complete && frame.type === FrameType.subscribed) schedule(false);
      },
      fail: (info) => {
        if (!live()) return;
        generation++;
        if (!info || !refuseChannels(host, info, query.channels)) host.close(info);
        // The refused subscriptions are gone: ask again for the others. If none went, something else is
        // wrong, and a plain reconnect (with backoff) beats a tight loop.
        else if (channelQuery(host.channels()).channels.join() !== key) schedule(false);
        else host.close();
      },
    });
  };

  const schedule = (always: boolean): void => {
    force ||= always;
    timer ??= setTimeout(reopen);
  };

  schedule(true);
  return {
    subscribe: () => schedule(true),
    unsubscribe: () => schedule(true),
    publish: (frame) => httpPublish(host, frame),
    presence: (channel) => httpPresence(host, channel),
    close: () => {
      clearTimeout(timer);
      generation++;
      abort?.();
    },
  };
}
