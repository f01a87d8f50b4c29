import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { WebSocket, WebSocketServer } from 'ws';
import { Rooms } from './rooms.js';
import type { BenchServer } from './target.js';

/**
 * The practical ceiling: a bare `ws` server doing the naive broadcast loop. Sockets are grouped by the
 * `channel` query parameter; with one channel the group is exactly `wss.clients`.
 */
export async function startWsServer(): Promise<BenchServer> {
  const http = createServer();
  const wss = new WebSocketServer({ server: http });
  const rooms = new Rooms<WebSocket>();

  wss.on('connection', (socket, request) => {
    const channel = new URL(request.url ?? '/', 'http://x').searchParams.get('channel') ?? '';
    socket.on('close', rooms.join(channel, socket));
    socket.on('error', () => socket.terminate());
    socket.send('ok');
  });

  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  return {
    port: (http.address() as AddressInfo).port,
    publish(channel, data) {
      const room = rooms.members(channel);
      if (!room) return;
      const text = JSON.stringify(data);
      for (const c of room) if (c.readyState === WebSocket.OPEN) c.send(text);
    },
    async close() {
      for (const c of wss.clients) c.terminate();
      await new Promise<void>((resolve) => wss.close(() => resolve()));
      await new Promise<void>((resolve) => http.close(() => resolve()));
    },
  };
}
