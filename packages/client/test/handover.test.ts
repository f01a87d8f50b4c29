// The streaming transports' handover (a change of subscriptions while a pattern is subscribed), made to
// race on purpose: the old request's frames arrive late (a constant lag on its response body), so the
// new request, which replays the plain channel from the client's position, is ahead of it. Nothing of
// the pattern may be lost while the old request is closed and the new one takes over.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { connect, TransportName } from '@tidings/client';
import { waitFor } from '@tidings/testing';
import { NodeEventSource } from './support/event-source.js';
import { startServer } from './support/server.js';

const MESSAGES = 200;
const LAG_MS = 150;

/**
 * The platform of a client whose n-th stream request (SSE or fetch) delivers `lag(n)` ms late, in
 * order, as when a browser hands one response's data to the page later than another's.
 */
function lagging(lag: (request: number) => number) {
  let requests = 0;
  const fetchLagging: typeof fetch = async (input, init) => {
    const ms = String(input).includes('/stream?') ? lag(requests++) : 0;
    const response = await fetch(input, init);
    if (!ms || !response.body) return response;
    const body = response.body.pipeThrough(
      new TransformStream<Uint8Array, Uint8Array>({
        // Not awaited: each chunk is `ms` late, not `ms` after the previous one.
        transform: (chunk, controller) =>
          void setTimeout(() => {
            try {
              controller.enqueue(chunk);
            } catch {}
          }, ms),
        flush: () => sleep(ms),
      }),
    );
    return new Response(body, { status: response.status, headers: response.headers });
  };
  class EventSourceLagging extends NodeEventSource {
    constructor(url: string) {
      super(url);
      const ms = lag(requests++);
      let handler: NodeEventSource['onmessage'] = null;
      Object.defineProperty(this, 'onmessage', {
        get: () => handler && ((event: { data: string }) => setTimeout(() => handler?.(event), ms)),
        set: (next: NodeEventSource['onmessage']) => {
          handler = next;
        },
      });
    }
  }
  return { fetch: fetchLagging, EventSource: EventSourceLagging };
}

for (const transport of [TransportName.stream, TransportName.sse]) {
  for (const lagOld of [true, false]) {
    const which = lagOld ? 'old' : 'new';
    test(`${transport}: a subscription change while the ${which} request lags loses nothing of a pattern`, async (t) => {
      const server = await startServer();
      t.after(() => server.close());
      // The first request lags (the old one behind the new one), or every later one does.
      const platform = lagging((n) => ((n === 0) === lagOld ? LAG_MS : 0));
      const client = connect(server.origin, { ...platform, transports: [transport], backoff: () => 20 });
      t.after(() => client.close());
      const got = { feed: [] as number[], 'feed.*': [] as number[] };
      const handles = (['feed', 'feed.*'] as const).map((name) =>
        client.subscribe(name, (message) => got[name].push(message.data as number)),
      );
      await waitFor(() => handles.every((handle) => handle.state === 'subscribed'), 10_000, 'subscribed');
      for (let i = 0; i < MESSAGES; i++) {
        if (i === MESSAGES / 2) client.subscribe('other', () => {});
        await server.hub.publish('feed', i);
        await server.hub.publish('feed.a', i);
        await sleep(2);
      }
      const all = Array.from({ length: MESSAGES }, (_, i) => i);
      await waitFor(() => got['feed.*'].length >= MESSAGES && got.feed.length >= MESSAGES, 5_000).catch(
        () => {},
      );
      await sleep(300);
      assert.deepEqual(got.feed, all, 'feed: each once, in order');
      assert.deepEqual(got['feed.*'], all, 'feed.*: each once, in order');
    });
  }
}
