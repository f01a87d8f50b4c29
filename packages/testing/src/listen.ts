import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { DEFAULT_MOUNT_PATH } from '@tidings/protocol';
import {
  createHub,
  createTidingsServer,
  type Hub,
  type TidingsServer,
  type TidingsServerOptions,
} from '@tidings/server';

export interface Listening {
  /** `http://127.0.0.1:<port>` and the mount path, e.g. `http://127.0.0.1:40123/tidings`. */
  url: string;
  /** The same with `ws:`, e.g. `ws://127.0.0.1:40123/tidings`. */
  wsUrl: string;
  port: number;
  server: Server;
  tidings: TidingsServer;
  hub: Hub;
  /** Closes the Tidings server (deadline 200 ms), the hub and the http server. Safe to call twice. */
  close(): Promise<void>;
}

/**
 * Starts a node:http server on 127.0.0.1, port 0, with a Tidings server attached, for tests:
 * `const srv = await listen({ … }); t.after(srv.close);`. Without `hub`, a new in-memory hub is used
 * (with `limits.maxMessageBytes`); its errors are not logged. Unlike a real server, clients may publish
 * unless the options say otherwise (`publish: true` by default): most tests publish from a client.
 */
export async function listen(options: TidingsServerOptions = {}): Promise<Listening> {
  const hub =
    options.hub ?? createHub({ maxMessageBytes: options.limits?.maxMessageBytes, onError: () => {} });
  const tidings = createTidingsServer({ publish: true, ...options, hub });
  const server = createServer();
  tidings.attach(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const base = `127.0.0.1:${port}${options.path ?? DEFAULT_MOUNT_PATH}`;
  let closing: Promise<void> | undefined;
  const close = () => {
    closing ??= (async () => {
      await tidings.close({ deadlineMs: 200 });
      await hub.close();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    })();
    return closing;
  };
  return { url: `http://${base}`, wsUrl: `ws://${base}`, port, server, tidings, hub, close };
}
