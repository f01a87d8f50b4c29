import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { createHub, createTidingsServer, type Hub, type TidingsServerOptions } from '@tidings/server';

export interface TestServer {
  /** The server's origin, `http://127.0.0.1:<port>`: what an app passes to `connect`. */
  origin: string;
  port: number;
  hub: Hub;
  /** Cuts every TCP connection at once, as a network failure would (no `disconnect` frame). */
  cut(): void;
  /**
   * Shuts the Tidings server down gracefully and starts a new one on the same hub and port; `down`
   * runs while no server is listening.
   */
  restart(down?: () => Promise<void>): Promise<void>;
  /** Stops everything, the hub too. Safe to call twice. */
  close(): Promise<void>;
}

export interface TestServerOptions extends TidingsServerOptions {
  /** Destroy every WebSocket upgrade, like a proxy that does not pass them (read at each upgrade). */
  refuseWebSocket?: boolean;
  /** Serves what is not under the mount path (a test page). Default: 404. */
  app?: (request: IncomingMessage, response: ServerResponse) => void;
}

/**
 * A real Tidings server on 127.0.0.1 for the integration tests. Unlike `listen()` from
 * `@tidings/testing` it can cut connections and restart on the same port, which the
 * resume tests need.
 */
export async function startServer(options: TestServerOptions = {}): Promise<TestServer> {
  // History long enough that a client catching up after a cut never needs a reset.
  const hub = options.hub ?? createHub({ onError: () => {}, defaultHistory: { size: 10_000 } });
  const sockets = new Set<Socket>();
  let port = 0;
  let current: { server: Server; stop(): Promise<void> } | undefined;

  const start = async () => {
    // The client's tests publish: opened here unless a test says otherwise.
    const tidings = createTidingsServer({
      publish: true,
      ...options,
      hub,
      heartbeatMs: options.heartbeatMs ?? 1_000,
    });
    const app = options.app ?? ((_req: IncomingMessage, res: ServerResponse) => res.writeHead(404).end());
    const server = createServer((req, res) => {
      if (!tidings.handle(req, res)) app(req, res);
    });
    // Read at each upgrade: a test may let them through later.
    server.on(
      'upgrade',
      (req, socket, head) =>
        (!options.refuseWebSocket && tidings.handleUpgrade(req, socket, head)) || socket.destroy(),
    );
    server.on('connection', (socket) => {
      sockets.add(socket);
      socket.once('close', () => sockets.delete(socket));
    });
    await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
    port = (server.address() as AddressInfo).port;
    current = {
      server,
      stop: async () => {
        await tidings.close({ deadlineMs: 200 });
        server.closeAllConnections();
        for (const socket of sockets) socket.destroy();
        await new Promise<void>((resolve) => server.close(() => resolve()));
      },
    };
  };

  await start();
  let closing: Promise<void> | undefined;
  return {
    get origin() {
      return `http://127.0.0.1:${port}`;
    },
    get port() {
      return port;
    },
    hub,
    cut() {
      for (const socket of sockets) socket.destroy();
    },
    async restart(down) {
      await current!.stop();
      await down?.();
      await start();
    },
    close() {
      closing ??= (async () => {
        await current!.stop();
        if (!options.hub) await hub.close();
      })();
      return closing;
    },
  };
}
