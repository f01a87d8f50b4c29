import { readFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  type Authenticate,
  attach,
  createHub,
  type Engine,
  type Hub,
  type TidingsServer,
  type TidingsServerOptions,
} from '@tidings/server';
import { buildBrowserClient } from './build-client.js';

export interface ChatOptions {
  port?: number;
  host?: string;
  hub?: Hub;
  /** Where the chat's hub keeps channels when `hub` is not given. Default: in memory. */
  engine?: Engine;
  /** Passed to Tidings (authentication, authorization, limits). Default: the demo's name-as-token, presence on `chat`. */
  tidings?: Omit<TidingsServerOptions, 'hub'>;
}

export interface Chat {
  url: string;
  port: number;
  hub: Hub;
  tidings: TidingsServer;
  close(): Promise<void>;
}

const files = {
  page: readFile(new URL('./public/index.html', import.meta.url), 'utf8'),
  app: readFile(new URL('./public/app.js', import.meta.url), 'utf8'),
  client: buildBrowserClient(),
};

/**
 * The page sends its name as the token, and this takes it at its word: a demo, NOT authentication.
 * Anyone can chat, and be listed online, as anyone. A real app checks a token (`jwtAuth`, a session).
 */
const nameAsIdentity: Authenticate = ({ token }) => ({ id: token || 'Guest' });

/** Starts the chat: the page at /<name>, the browser client at /tidings.js, Tidings at /tidings/*. */
export async function startChat(options: ChatOptions = {}): Promise<Chat> {
  // The chat keeps its last 100 messages for an hour: a newcomer sees them on join.
  const hub =
    options.hub ??
    createHub({
      history: { chat: { size: 100, ttlMs: 60 * 60_000 } },
      ...(options.engine && { engine: options.engine }),
    });
  const [page, app, client] = await Promise.all([files.page, files.app, files.client]);

  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const { pathname } = new URL(req.url ?? '/', 'http://localhost');
    if (pathname === '/tidings.js') return send(res, 200, 'text/javascript', client);
    if (pathname === '/app.js') return send(res, 200, 'text/javascript', app);
    if (pathname === '/') return send(res, 302, 'text/plain', '', { location: '/Guest' });
    // Every other single-segment path is a chat page: /Alice chats as Alice.
    if (/^\/[^/]{1,40}$/.test(pathname)) return send(res, 200, 'text/html', page);
    send(res, 404, 'text/plain', 'not found');
  });
  // Presence on `chat`: each open page is a member, so the page can show who is online.
  const tidings = attach(server, {
    authenticate: nameAsIdentity,
    // Clients may publish nowhere unless allowed: the chat opens exactly its one channel.
    publish: ['chat'],
    presence: ['chat'],
    ...options.tidings,
    hub,
  });

  const host = options.host ?? '127.0.0.1';
  await new Promise<void>((resolve) => server.listen(options.port ?? 0, host, resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://${host}:${port}`,
    port,
    hub,
    tidings,
    async close() {
      await tidings.close({ deadlineMs: 2_000 });
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

function send(
  res: ServerResponse,
  status: number,
  type: string,
  body: string,
  headers: Record<string, string> = {},
): void {
  res.writeHead(status, {
    'content-type': `${type}; charset=utf-8`,
    'cache-control': 'no-store',
    ...headers,
  });
  res.end(body);
}
