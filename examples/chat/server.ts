// The Tidings chat demo: `npm start`, then open http://localhost:8080/Alice and http://localhost:8080/Bob.
import { readFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { attach, createHub } from '@tidings/server';
import { buildBrowserClient } from './build-client.js';

const port = Number(process.env.PORT ?? 8080);
const host = process.env.HOST ?? '127.0.0.1';

// The chat keeps its last 100 messages for an hour: a newcomer sees them on join.
const hub = createHub({ history: { chat: { size: 100, ttlMs: 60 * 60_000 } } });

const page = await readFile(new URL('./public/index.html', import.meta.url), 'utf8');
const app = await readFile(new URL('./public/app.js', import.meta.url), 'utf8');
const client = await buildBrowserClient();

function send(res: ServerResponse, status: number, type: string, body: string): void {
  res.writeHead(status, { 'content-type': `${type}; charset=utf-8`, 'cache-control': 'no-store' });
  res.end(body);
}

const server = createServer((req: IncomingMessage, res: ServerResponse) => {
  const { pathname } = new URL(req.url ?? '/', 'http://localhost');
  if (pathname === '/tidings.js') return send(res, 200, 'text/javascript', client);
  if (pathname === '/app.js') return send(res, 200, 'text/javascript', app);
  // Every other single-segment path is a chat page: /Alice chats as Alice.
  const name = decodeURIComponent(pathname.slice(1));
  if (/^[^/]{1,40}$/.test(name)) return send(res, 200, 'text/html', page);
  if (pathname === '/') {
    res.writeHead(302, { location: '/Guest' });
    return res.end();
  }
  send(res, 404, 'text/plain', 'not found');
});

// Tidings serves /tidings/* (WebSocket, SSE, streaming, long-polling, polling, publish) on the same server.
const tidings = attach(server, { hub });

server.listen(port, host, () => {
  console.log(`Chat running: open http://localhost:${port}/Alice and http://localhost:${port}/Bob`);
});

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, async () => {
    await tidings.close({ deadlineMs: 2_000, closeHub: true });
    server.close();
  });
}
