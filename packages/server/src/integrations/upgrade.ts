import type { EventEmitter } from 'node:events';
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { TidingsServer } from '../server.js';

type UpgradeListener = (req: IncomingMessage, socket: Duplex, head: Buffer) => void;

/**
 * Takes the Tidings WebSocket upgrades (`<path>/ws`) on a server and leaves its requests alone, unlike
 * `tidings.attach(server)`, which also answers the HTTP endpoints ahead of the framework. Use it with a
 * framework middleware so Tidings' HTTP requests go through the framework's own middleware first.
 * Other upgrades go to the listeners the server already had. Returns a function that undoes it.
 *
 * `server` is an http or https server, or anything else that emits node:http `upgrade` events (typed
 * loosely so the union `serve()` of @hono/node-server returns needs no cast).
 */
export function attachWebSocket(tidings: TidingsServer, server: EventEmitter): () => void {
  const others = server.listeners('upgrade') as UpgradeListener[];
  const onUpgrade: UpgradeListener = (req, socket, head) => {
    if (tidings.handleUpgrade(req, socket, head)) return;
    // With no 'upgrade' listener at all, Node would have dropped the socket itself.
    if (others.length === 0) socket.destroy();
    for (const listener of others) listener.call(server, req, socket, head);
  };
  // Taking the others over (rather than adding beside them) keeps them from also answering our upgrades.
  server.removeAllListeners('upgrade').on('upgrade', onUpgrade);
  return () => {
    server.off('upgrade', onUpgrade);
    for (const listener of others) server.on('upgrade', listener);
  };
}
