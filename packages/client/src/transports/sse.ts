import { Endpoint, type ServerFrame } from '@tidings/protocol';
import { type HttpFailure, httpError } from '../http-error.js';
import { streaming } from '../streaming.js';
import type { TransportHost, TransportKind } from '../transport.js';

interface EventSourceLike {
  onopen: (() => void) | null;
  onmessage: ((event: { data: string }) => void) | null;
  onerror: (() => void) | null;
  close(): void;
}

/**
 * Server-Sent Events with the platform's `EventSource`. Its own reconnect is not used: the client
 * reconnects every transport the same way, with backoff and its own positions.
 */
export const sse: TransportKind = {
  needs: 'EventSource',
  open: (host) =>
    streaming(host, Endpoint.sse, (url, events) => {
      const source = new host.platform.EventSource!(url) as EventSourceLike;
      let opened = false;
      source.onopen = () => {
        opened = true;
      };
      source.onmessage = (event) => events.frame(JSON.parse(event.data) as ServerFrame);
      source.onerror = () => {
        source.close();
        if (opened) events.fail();
        else probe(host, url).then(events.fail);
      };
      return () => source.close();
    }),
};

/** An EventSource hides why it could not open; the same request by `fetch` shows the server's error. */
async function probe(host: TransportHost, url: string): Promise<HttpFailure | undefined> {
  try {
    const response = await host.platform.fetch!(url);
    if (!response.ok) return await httpError(response);
    await response.body?.cancel();
  } catch {}
  return undefined;
}
