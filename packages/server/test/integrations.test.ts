import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, type TestContext, test } from 'node:test';
import { serve } from '@hono/node-server';
import { ErrorCode, FrameType } from '@tidings/protocol';
import { attach, createTidingsServer, jwtAuth, signToken, type TidingsServer } from '@tidings/server';
import { attachWebSocket, tidingsExpress } from '@tidings/server/express';
import { tidingsFastify } from '@tidings/server/fastify';
import { tidingsHono } from '@tidings/server/hono';
import { tidingsKoa } from '@tidings/server/koa';
import { waitFor } from '@tidings/testing';
import express from 'express';
import Fastify from 'fastify';
import { Hono } from 'hono';
import Koa from 'koa';
import WebSocket, { WebSocketServer } from 'ws';

type Frame = { type: string; [field: string]: unknown };

const SECRET = 'integration-test-secret-of-32-bytes-or-more';

function baseUrl(server: Server): string {
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

/** A raw WebSocket client that keeps every frame it receives. */
async function wsClient(t: TestContext, url: string) {
  const ws = new WebSocket(url);
  const frames: Frame[] = [];
  ws.on('message', (data) => frames.push(JSON.parse(String(data))));
  t.after(() => ws.terminate());
  await once(ws, 'open');
  await waitFor(() => frames.find((f) => f.type === FrameType.welcome), 5_000, 'welcome');
  return { ws, frames };
}

/** An SSE reader over fetch that keeps the JSON of every `data:` line. */
async function sseClient(t: TestContext, url: string, headers: Record<string, string> = {}) {
  const abort = new AbortController();
  t.after(() => abort.abort());
  const response = await fetch(url, { signal: abort.signal, headers });
  const frames: Frame[] = [];
  if (response.body) {
    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
    void (async () => {
      let buffer = '';
      try {
        for (;;) {
          const { value, done } = await reader.read();
          if (done) return;
          buffer += value;
          for (let end = buffer.indexOf('\n\n'); end >= 0; end = buffer.indexOf('\n\n')) {
            for (const line of buffer.slice(0, end).split('\n')) {
              if (line.startsWith('data:')) frames.push(JSON.parse(line.slice(5)));
            }
            buffer = buffer.slice(end + 2);
          }
        }
      } catch {
        // Aborted at the end of the test.
      }
    })();
  }
  return { response, frames };
}

async function publish(base: string, body: unknown, headers: Record<string, string> = {}) {
  const response = await fetch(`${base}/tidings/publish`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
  });
  return { status: response.status, frame: (await response.json()) as Frame };
}

/** What every integration must do: leave the app's routes alone and serve WS, SSE and publish. */
async function exercise(t: TestContext, base: string, channel: string): Promise<void> {
  const hello = await fetch(`${base}/hello`);
  assert.equal(hello.status, 200);
  assert.equal(await hello.text(), 'hello');
  assert.equal((await fetch(`${base}/nowhere`)).status, 404);

  const { ws, frames: wsFrames } = await wsClient(t, `${base.replace('http', 'ws')}/tidings/ws`);
  ws.send(JSON.stringify({ type: FrameType.subscribe, id: 1, channel }));
  await waitFor(
    () => wsFrames.find((f) => f.type === FrameType.subscribed && f.id === 1),
    5_000,
    'subscribed',
  );

  const sse = await sseClient(t, `${base}/tidings/sse?channel=${channel}`);
  assert.equal(sse.response.status, 200);
  assert.match(sse.response.headers.get('content-type') ?? '', /^text\/event-stream/);
  await waitFor(() => sse.frames.find((f) => f.type === FrameType.subscribed), 5_000, 'SSE subscribed');

  const { status, frame } = await publish(base, { channel, data: { text: 'hi' } });
  assert.equal(status, 200, JSON.stringify(frame));
  assert.equal(frame.type, FrameType.ack);
  assert.equal(frame.channel, channel);

  for (const [name, frames] of [
    ['ws', wsFrames],
    ['sse', sse.frames],
  ] as const) {
    const message = await waitFor(
      () => frames.find((f) => f.type === FrameType.message && f.channel === channel),
      5_000,
      `${name} message`,
    );
    assert.deepEqual(message.data, { text: 'hi' });
    assert.equal(message.offset, frame.offset);
  }
}

function closing(t: TestContext, tidings: TidingsServer, close: () => Promise<unknown>) {
  t.after(async () => {
    await tidings.close();
    await close();
  });
}

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}

// Each integration is exercised with a publish from a client: opened explicitly (closed by default).
const OPEN = { publish: true } as const;

describe('framework integrations', () => {
  test('node:http', async (t) => {
    const server = createServer((req, res) => {
      if (req.url === '/hello') res.end('hello');
      else res.writeHead(404).end();
    });
    const tidings = attach(server, OPEN);
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    closing(t, tidings, () => closeServer(server));
    await exercise(t, baseUrl(server), 'it.node');
  });

  test('Express', async (t) => {
    const tidings = createTidingsServer(OPEN);
    const app = express();
    app.use(tidingsExpress(tidings));
    app.get('/hello', (_req, res) => {
      res.send('hello');
    });
    const server = app.listen(0, '127.0.0.1');
    await once(server, 'listening');
    attachWebSocket(tidings, server);
    closing(t, tidings, () => closeServer(server));
    await exercise(t, baseUrl(server), 'it.express');
  });

  test('Express: a body parser after Tidings still parses the app routes', async (t) => {
    const tidings = createTidingsServer(OPEN);
    const app = express();
    app.use(tidingsExpress(tidings));
    app.use(express.json());
    app.post('/echo', (req, res) => {
      res.json(req.body);
    });
    const server = app.listen(0, '127.0.0.1');
    await once(server, 'listening');
    closing(t, tidings, () => closeServer(server));
    const base = baseUrl(server);
    const echo = await fetch(`${base}/echo`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"a":1}',
    });
    assert.deepEqual(await echo.json(), { a: 1 });
    const { status, frame } = await publish(base, { channel: 'it.express-json', data: 1 });
    assert.equal(status, 200, JSON.stringify(frame));
  });

  test('Express: app middleware runs first; a prefixed mount matches the full path', async (t) => {
    const tidings = createTidingsServer({ ...OPEN, path: '/rt/tidings' });
    const app = express();
    app.use((_req, res, next) => {
      res.setHeader('x-app', 'seen');
      next();
    });
    app.use('/rt', tidingsExpress(tidings));
    app.get('/rt/hello', (_req, res) => {
      res.send('hello');
    });
    const server = app.listen(0, '127.0.0.1');
    await once(server, 'listening');
    attachWebSocket(tidings, server);
    closing(t, tidings, () => closeServer(server));
    const base = baseUrl(server);

    const poll = await fetch(`${base}/rt/tidings/poll?channel=it.prefixed`);
    assert.equal(poll.status, 200);
    assert.equal(poll.headers.get('x-app'), 'seen');
    assert.equal(await (await fetch(`${base}/rt/hello`)).text(), 'hello');
    // The same URL prefix as the HTTP endpoints, though upgrades never pass through Express.
    await wsClient(t, `${base.replace('http', 'ws')}/rt/tidings/ws`);
  });

  test('attachWebSocket leaves other upgrades to the listeners the server had, until detached', async (t) => {
    const tidings = createTidingsServer(OPEN);
    const server = createServer((_req, res) => res.writeHead(404).end());
    const other = new WebSocketServer({ noServer: true });
    other.on('connection', (ws) => ws.send('other'));
    server.on('upgrade', (req, socket, head) => {
      if (req.url === '/other')
        other.handleUpgrade(req, socket, head, (ws) => other.emit('connection', ws, req));
      else socket.destroy();
    });
    const detach = attachWebSocket(tidings, server);
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    t.after(() => other.close());
    closing(t, tidings, () => closeServer(server));
    const ws = `ws://127.0.0.1:${(server.address() as AddressInfo).port}`;

    await wsClient(t, `${ws}/tidings/ws`);
    const plain = new WebSocket(`${ws}/other`);
    const [data] = await once(plain, 'message');
    assert.equal(String(data), 'other');
    plain.terminate();

    detach();
    const refused = new WebSocket(`${ws}/tidings/ws`);
    // events.once would reject on the 'error' that precedes 'close' here.
    await new Promise((resolve) => refused.on('error', () => {}).on('close', resolve));
    assert.equal(server.listenerCount('upgrade'), 1);
  });

  test('Fastify', async (t) => {
    const tidings = createTidingsServer(OPEN);
    // Fastify logs it when it tries to answer a request someone else already answered.
    const logged: { level: number; msg: string }[] = [];
    const stream = { write: (line: string) => logged.push(JSON.parse(line)) };
    const app = Fastify({ logger: { level: 'warn', stream } });
    await app.register(tidingsFastify, { tidings });
    app.get('/hello', async () => 'hello');
    // Fastify's JSON parser is on for app routes; Tidings' own POST must still get its raw body.
    app.post('/echo', async (request) => request.body);
    await app.listen({ port: 0, host: '127.0.0.1' });
    t.after(() => app.close());
    const base = baseUrl(app.server);
    await exercise(t, base, 'it.fastify');
    const echo = await fetch(`${base}/echo`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"a":1}',
    });
    assert.deepEqual(await echo.json(), { a: 1 });
    assert.deepEqual(
      logged.map((l) => l.msg),
      [],
    );
  });

  test('Fastify: app.close() ends open streams instead of waiting on them', async (t) => {
    const tidings = createTidingsServer(OPEN);
    const app = Fastify();
    await app.register(tidingsFastify, { tidings });
    await app.listen({ port: 0, host: '127.0.0.1' });
    const base = baseUrl(app.server);
    const { ws, frames } = await wsClient(t, `${base.replace('http', 'ws')}/tidings/ws`);
    const sse = await sseClient(t, `${base}/tidings/sse?channel=it.fastify-close`);
    await waitFor(() => sse.frames.find((f) => f.type === FrameType.subscribed), 5_000, 'SSE subscribed');
    const closed = once(ws, 'close');
    await app.close();
    const [code] = await closed;
    assert.ok(frames.some((f) => f.type === FrameType.disconnect && f.code === ErrorCode.shuttingDown));
    assert.equal(code, 4503);
  });

  test('Koa', async (t) => {
    const tidings = createTidingsServer(OPEN);
    const app = new Koa();
    app.use(tidingsKoa(tidings));
    app.use(async (ctx, next) => {
      if (ctx.path === '/hello') ctx.body = 'hello';
      else await next();
    });
    const server = app.listen(0, '127.0.0.1');
    await once(server, 'listening');
    attachWebSocket(tidings, server);
    closing(t, tidings, () => closeServer(server));
    await exercise(t, baseUrl(server), 'it.koa');
  });

  test('Hono on @hono/node-server', async (t) => {
    const tidings = createTidingsServer(OPEN);
    const app = new Hono();
    app.use(tidingsHono(tidings));
    app.get('/hello', (c) => c.text('hello'));
    const server = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' });
    await once(server, 'listening');
    // No cast needed here: the docs' example attaches the union type serve() returns as it is.
    attachWebSocket(tidings, server);
    const http = server as Server;
    closing(t, tidings, () => closeServer(http));
    await exercise(t, baseUrl(http), 'it.hono');
  });

  test('jwtAuth with read/write claims and canSubscribe/canPublish, through Express', async (t) => {
    const tidings = createTidingsServer({
      authenticate: jwtAuth({ secret: SECRET }),
      // After the token's own channel claims: only room members may read or write a room.
      canSubscribe: (identity, channel) => !channel.startsWith('room.') || channel === `room.${identity.id}`,
      canPublish: (identity, channel) => channel === `room.${identity.id}`,
    });
    const app = express();
    app.use(tidingsExpress(tidings));
    const server = app.listen(0, '127.0.0.1');
    await once(server, 'listening');
    attachWebSocket(tidings, server);
    closing(t, tidings, () => closeServer(server));
    const base = baseUrl(server);

    const token = await signToken(
      { sub: 'alice', channels: { read: ['room.*', 'news'], write: ['room.*'] } },
      SECRET,
      {
        expiresIn: 60,
      },
    );
    const auth = { authorization: `Bearer ${token}` };

    // No token: refused on every transport.
    assert.equal((await publish(base, { channel: 'room.alice', data: 1 })).status, 401);
    const anonymous = await fetch(`${base}/tidings/sse?channel=news`);
    assert.equal(anonymous.status, 401);
    assert.equal(((await anonymous.json()) as Frame).code, ErrorCode.unauthorized);

    // A forged token is refused like no token.
    const forged = await signToken({ sub: 'alice' }, 'another-secret-that-is-32-bytes-or-longer');
    assert.equal(
      (await publish(base, { channel: 'room.alice', data: 1 }, { authorization: `Bearer ${forged}` })).status,
      401,
    );

    // The token's read claim, then canSubscribe.
    assert.equal((await fetch(`${base}/tidings/sse?channel=sports`, { headers: auth })).status, 403);
    assert.equal((await fetch(`${base}/tidings/sse?channel=room.bob`, { headers: auth })).status, 403);

    // The token's write claim, then canPublish.
    assert.equal((await publish(base, { channel: 'news', data: 1 }, auth)).status, 403);
    assert.equal((await publish(base, { channel: 'room.bob', data: 1 }, auth)).status, 403);

    // The WebSocket takes the token from the query; the allowed room works end to end.
    const { ws, frames } = await wsClient(t, `${base.replace('http', 'ws')}/tidings/ws?token=${token}`);
    ws.send(JSON.stringify({ type: FrameType.subscribe, id: 1, channel: 'room.bob' }));
    ws.send(JSON.stringify({ type: FrameType.subscribe, id: 2, channel: 'room.alice' }));
    const denied = await waitFor(() => frames.find((f) => f.type === FrameType.error && f.id === 1));
    assert.equal(denied.code, ErrorCode.forbidden);
    await waitFor(() => frames.find((f) => f.type === FrameType.subscribed && f.id === 2));
    const sent = await publish(base, { channel: 'room.alice', data: 'hello alice' }, auth);
    assert.equal(sent.status, 200, JSON.stringify(sent.frame));
    const message = await waitFor(() => frames.find((f) => f.type === FrameType.message));
    assert.equal(message.data, 'hello alice');

    // A WebSocket without a token is closed with 4401 after a disconnect frame.
    const refused = new WebSocket(`${base.replace('http', 'ws')}/tidings/ws`);
    t.after(() => refused.terminate());
    const [code] = await once(refused, 'close');
    assert.equal(code, 4401);
  });

  test('jwtAuth token lifetime over a WebSocket: expiry disconnects, refresh extends, another sub is refused', async (t) => {
    const tidings = createTidingsServer({ authenticate: jwtAuth({ secret: SECRET }) });
    const server = createServer((_req, res) => res.writeHead(404).end());
    tidings.attach(server);
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    closing(t, tidings, () => closeServer(server));
    const ws = `ws://127.0.0.1:${(server.address() as AddressInfo).port}/tidings/ws`;
    const short = () => signToken({ sub: 'alice' }, SECRET, { expiresIn: 2 });

    const expiring = await wsClient(t, `${ws}?token=${await short()}`);
    const closed = once(expiring.ws, 'close');
    const refreshed = await wsClient(t, `${ws}?token=${await short()}`);
    const longer = await signToken({ sub: 'alice' }, SECRET, { expiresIn: 60 });
    refreshed.ws.send(JSON.stringify({ type: FrameType.refresh, id: 7, token: longer }));
    const ok = await waitFor(() => refreshed.frames.find((f) => f.type === FrameType.refreshed));
    assert.equal(ok.id, 7);
    assert.ok(typeof ok.expiresAt === 'number' && ok.expiresAt > Date.now() + 50_000);
    const mallory = await signToken({ sub: 'mallory' }, SECRET, { expiresIn: 60 });
    refreshed.ws.send(JSON.stringify({ type: FrameType.refresh, id: 8, token: mallory }));
    const refused = await waitFor(() =>
      refreshed.frames.find((f) => f.type === FrameType.error && f.id === 8),
    );
    assert.equal(refused.code, ErrorCode.forbidden);

    const [code] = await closed;
    assert.equal(code, 4401);
    const bye = expiring.frames.find((f) => f.type === FrameType.disconnect);
    assert.equal(bye?.code, ErrorCode.tokenExpired);
    assert.equal(
      refreshed.ws.readyState,
      WebSocket.OPEN,
      'the refreshed connection outlives the first token',
    );
  });
});
