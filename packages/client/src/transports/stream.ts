import { Endpoint, type ServerFrame } from '@tidings/protocol';
import { httpError } from '../http-error.js';
import { streaming } from '../streaming.js';
import type { TransportKind } from '../transport.js';

/** HTTP streaming: newline-delimited JSON frames read from a `fetch` response body. */
export const stream: TransportKind = {
  needs: 'fetch',
  open: (host) =>
    streaming(host, Endpoint.stream, (url, events) => {
      const controller = new AbortController();
      (async () => {
        const response = await host.platform.fetch!(url, { signal: controller.signal });
        if (!response.ok) return events.fail(await httpError(response));
        const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader();
        let buffered = '';
        for (;;) {
          const { done, value } = await reader.read();
          if (done) break;
          const lines = (buffered + value).split('\n');
          buffered = lines.pop()!;
          for (const line of lines) if (line) events.frame(JSON.parse(line) as ServerFrame);
        }
        events.fail();
      })().catch(() => events.fail());
      return () => controller.abort();
    }),
};
