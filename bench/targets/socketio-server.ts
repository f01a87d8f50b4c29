import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Server } from 'socket.io';
import type { BenchServer } from './target.js';

/** Socket.IO v4 broadcasting to a room, WebSocket transport only (no long-polling upgrade dance). */
export async function startSocketIoServer(): Promise<BenchServer> {
  const http = createServer();
  const io = new Server(http, { transports: ['websocket'], serveClient: false });

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
