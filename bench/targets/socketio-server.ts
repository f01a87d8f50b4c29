import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Server } from 'socket.io';
import type { BenchServer } from './target.js';

type Transport = 'websocket' | 'polling';

/** Socket.IO v4 broadcasting to a room, over one transport only (no upgrade dance). */
async function startSocketIo(transport: Transport): Promise<BenchServer> {
  const http = createServer();
  const io = new Server(http, { transports: [transport], serveClient: false });

  io.on('connection', (socket) => {
    const channel = String(socket.handshake.query.channel ?? '');
    socket.join(channel);
    socket.emit('ok');
  });

  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  return {
    port: (http.address() as AddressInfo).port,
    publish(channel, data) {
      io.to(channel).emit('m', data);
    },
    async close() {
      io.disconnectSockets(true);
      await io.close();
    },
  };
}

/** The `socketio` target: WebSocket transport only. */
export function startSocketIoServer(): Promise<BenchServer> {
  return startSocketIo('websocket');
}

/** The `socketio-polling` target: HTTP long-polling only (Engine.IO's `polling` transport). */
export function startSocketIoPollingServer(): Promise<BenchServer> {
  return startSocketIo('polling');
}
