import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Rooms } from './rooms.js';
import type { BenchServer } from './target.js';

/** A bare node:http Server-Sent Events server: each message is written to every open response. */
export async function startSseServer(): Promise<BenchServer> {
  const rooms = new Rooms<ServerResponse>();
  const http = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    if (url.pathname !== '/sse') {
      res.writeHead(404).end();
      return;
    }
    const channel = url.searchParams.get('channel') ?? '';
    res.socket?.setNoDelay(true);
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
    res.write(': ok\n\n');
    res.on('close', rooms.join(channel, res));
  });

  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  return {
    port: (http.address() as AddressInfo).port,
    publish(channel, data) {
      const room = rooms.members(channel);
      if (!room) return;
      const text = `id: ${data.n}\ndata: ${JSON.stringify(data)}\n\n`;
      for (const res of room) res.write(text);
    },
    async close() {
      for (const res of rooms.all()) res.destroy();
      http.closeAllConnections();
      await new Promise<void>((resolve) => http.close(() => resolve()));
    },
  };
}
