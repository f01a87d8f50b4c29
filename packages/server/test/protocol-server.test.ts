import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, test } from 'node:test';
import { ErrorCode } from '@tidings/protocol';
import { createTidingsServer } from '@tidings/server';
import { listen } from '@tidings/testing';
import { WebSocket } from 'ws';
import { getJson, isMessage, StreamClient, until, WsClient } from './protocol-clients.js';

type T = { after(fn: () => unknown): void };

async function server(t: T, options: Parameters<typeof listen>[0] = {}) {
  const srv = await listen(options);
  t.after(srv.close);
  return srv;
}

describe('origins', () => {
  test('by default only the same origin (or no Origin) may open a WebSocket', async (t) => {
    let authenticated = 0;
    const srv = await server(t, {
      authenticate: () => {
        authenticated++;
        return { id: 'u' };
      },
    });
    const foreign = new WsClient(`${srv.wsUrl}/ws`, { headers: { origin: 'https://evil.example' } });
    const closed = await foreign.closed;
    assert.deepEqual(
      foreign.frames.map((f) => [f.type, f.code, f.reconnect]),
      [['disconnect', ErrorCode.forbidden, false]],
    );
    assert.deepEqual(closed, { code: 4403, reason: ErrorCode.forbidden });
    assert.equal(authenticated, 0, 'authenticate never runs for a refused origin');

    const same = await WsClient.open(`${srv.wsUrl}/ws`, {
      headers: { origin: `http://127.0.0.1:${srv.port}` },
    });
    t.after(() => same.close());
    const none = await WsClient.open(`${srv.wsUrl}/ws`);
    t.after(() => none.close());
    assert.equal(authenticated, 2);
  });

  test('an allow list admits its origins, and the HTTP endpoints send CORS headers to them only', async (t) => {
    const srv = await server(t, { origins: ['https://app.example'] });
    const allowed = await WsClient.open(`${srv.wsUrl}/ws`, { headers: { origin: 'https://app.example' } });
    t.after(() => allowed.close());
    const refused = new WsClient(`${srv.wsUrl}/ws`, { headers: { origin: 'https://other.example' } });
    assert.equal((await refused.closed).code, 4403);

    const ok = await getJson(`${srv.url}/poll?channel=a`, { headers: { origin: 'https://app.example' } });
    assert.equal(ok.status, 200);
    assert.equal(ok.headers.get('access-control-allow-origin'), 'https://app.example');
    assert.equal(ok.headers.get('access-control-allow-credentials'), 'true');
    assert.match(ok.headers.get('vary') ?? '', /Origin/);

    const no = await getJson(`${srv.url}/poll?channel=a`, { headers: { origin: 'https://other.example' } });
    assert.deepEqual([no.status, no.body.code], [403, ErrorCode.forbidden]);
    assert.equal(no.headers.get('access-control-allow-origin'), null);

    const same = await getJson(`${srv.url}/poll?channel=a`);
    assert.equal(
      same.headers.get('access-control-allow-origin'),
      null,
      'no CORS headers without a foreign Origin',
    );

    const preflight = await fetch(`${srv.url}/publish`, {
      method: 'OPTIONS',
      headers: {
        origin: 'https://app.example',
        'access-control-request-method': 'POST',
        'access-control-request-headers': 'authorization, content-type, idempotency-key',
      },
    });
    assert.equal(preflight.status, 204);
    assert.equal(preflight.headers.get('access-control-allow-origin'), 'https://app.example');
    assert.match(preflight.headers.get('access-control-allow-methods')!, /POST/);
    assert.match(preflight.headers.get('access-control-allow-headers')!, /idempotency-key/);
    const badPreflight = await fetch(`${srv.url}/publish`, {
      method: 'OPTIONS',
      headers: { origin: 'https://other.example', 'access-control-request-method': 'POST' },
    });
    assert.equal(badPreflight.status, 403);
    assert.equal(badPreflight.headers.get('access-control-allow-origin'), null);

    const publish = await fetch(`${srv.url}/publish`, {
      method: 'POST',
      headers: { origin: 'https://other.example', 'content-type': 'text/plain' },
      body: JSON.stringify({ channel: 'a', data: 'csrf' }),
    });
    assert.equal(publish.status, 403, 'a foreign page cannot publish, even without a preflight');
    assert.equal((await srv.hub.position('a')).offset, 0);
  });

  test("'*' admits every origin without lending it credentials; a predicate decides per origin", async (t) => {
    const any = await server(t, { origins: '*' });
    const answer = await getJson(`${any.url}/poll?channel=a`, { headers: { origin: 'https://x.example' } });
    assert.equal(answer.headers.get('access-control-allow-origin'), '*');
    assert.equal(answer.headers.get('access-control-allow-credentials'), null);

    const some = await server(t, { origins: (origin) => origin.endsWith('.good.example') });
    const good = await getJson(`${some.url}/poll?channel=a`, {
      headers: { origin: 'https://a.good.example' },
    });
    assert.equal(good.status, 200);
    const bad = await getJson(`${some.url}/poll?channel=a`, { headers: { origin: 'https://bad.example' } });
    assert.equal(bad.status, 403);
  });
});

describe('graceful shutdown', () => {
  test('every client is told SHUTTING_DOWN (reconnect), streams end, long-polls answer, close() resolves', async (t) => {
    const srv = await server(t);
    const ws = await WsClient.open(`${srv.wsUrl}/ws`);
    await ws.subscribe('chat', 1);
    const sse = await StreamClient.open(`${srv.url}/sse?channel=chat`, 'sse');
    const ndjson = await StreamClient.open(`${srv.url}/stream?channel=chat`, 'stream');
    t.after(() => {
      sse.abort();
      ndjson.abort();
    });
    await sse.next((f) => f.type === 'subscribed');
    await ndjson.next((f) => f.type === 'subscribed');
    const poll = getJson(`${srv.url}/longpoll?channel=chat&wait=30000`);
    await until(() => srv.tidings.stats().connections.longpoll === 1, 'the long-poll is waiting');
    assert.deepEqual(srv.tidings.stats().connections, {
      websocket: 1,
      sse: 1,
      stream: 1,
      longpoll: 1,
      poll: 0,
    });

    await srv.tidings.close({ deadlineMs: 3_000 });
    const shuttingDown = ['disconnect', ErrorCode.shuttingDown, true];
    const last = (frames: { type: string; code?: unknown; reconnect?: unknown }[]) => {
      const f = frames.at(-1)!;
      return [f.type, f.code, f.reconnect];
    };
    assert.deepEqual(last(ws.frames), shuttingDown);
    assert.deepEqual(await ws.closed, { code: 4503, reason: ErrorCode.shuttingDown });
    await sse.waitEnded();
    await ndjson.waitEnded();
    assert.deepEqual(last(sse.frames), shuttingDown);
    assert.deepEqual(last(ndjson.frames), shuttingDown);
    const answer = await poll;
    assert.equal(answer.status, 200);
    assert.deepEqual(last(answer.body.frames), shuttingDown);
    assert.match(answer.body.cursor, /^chat=/, 'the long-poll still hands back its cursor');
    assert.deepEqual(srv.tidings.stats().connections, {
      websocket: 0,
      sse: 0,
      stream: 0,
      longpoll: 0,
      poll: 0,
    });
    assert.equal(srv.hub.closed, false, 'the hub stays open unless asked');

    const late = await getJson(`${srv.url}/poll?channel=chat`);
    assert.deepEqual([late.status, late.body.code], [503, ErrorCode.shuttingDown]);
    const lateWs = new WsClient(`${srv.wsUrl}/ws`);
    assert.equal((await lateWs.closed).code, 4503);
  });

  test('a client that ignores the goodbye is cut at the deadline; closeHub closes the hub', async (t) => {
    const srv = await server(t);
    const ws = new WebSocket(`${srv.wsUrl}/ws`, { autoPong: false });
    t.after(() => ws.terminate());
    await new Promise((resolve) => ws.once('open', resolve));
    // Never complete the close handshake.
    (ws as unknown as { _receiver: { removeAllListeners(): void } })._receiver.removeAllListeners();
    await until(() => srv.tidings.stats().connections.websocket === 1, 'connected');
    await srv.tidings.close({ deadlineMs: 100, closeHub: true });
    assert.equal(srv.tidings.stats().connections.websocket, 0);
    assert.equal(srv.hub.closed, true);
  });
});

describe('mounting', () => {
  test('attach serves the mount path and leaves every other request and upgrade to the listeners before it', async (t) => {
    const http = createServer((_req, res) => {
      res.end('app');
    });
    http.on('upgrade', (_req, socket) => {
      socket.end('HTTP/1.1 418 I am a teapot\r\n\r\n');
    });
    const tidings = createTidingsServer({ path: '/rt/' });
    const detach = tidings.attach(http);
    await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
    t.after(async () => {
      await tidings.close({ deadlineMs: 100, closeHub: true });
      http.closeAllConnections();
      await new Promise((resolve) => http.close(resolve));
    });
    const base = `127.0.0.1:${(http.address() as AddressInfo).port}`;
    assert.equal(await (await fetch(`http://${base}/`)).text(), 'app');
    assert.equal(
      await (await fetch(`http://${base}/rtx/poll`)).text(),
      'app',
      'a prefix match is not the mount path',
    );
    assert.equal((await fetch(`http://${base}/rt/poll?channel=a`)).status, 200);
    const ws = await WsClient.open(`ws://${base}/rt/ws`);
    await ws.subscribe('a', 1);
    await tidings.hub.publish('a', 'via attach');
    await ws.next(isMessage('a'));
    ws.close();
    const other = new WebSocket(`ws://${base}/elsewhere`);
    const status = await new Promise((resolve) => {
      other.once('unexpected-response', (_req, res) => resolve(res.statusCode));
      other.once('error', () => resolve('error'));
    });
    assert.equal(status, 418);

    detach();
    assert.equal(await (await fetch(`http://${base}/rt/poll?channel=a`)).text(), 'app', 'detached');
  });

  test('handle() returns false and touches nothing outside the mount path', async () => {
    const tidings = createTidingsServer();
    const req = { url: '/elsewhere', headers: {}, method: 'GET' } as never;
    const res = {
      writeHead: () => assert.fail('touched'),
      end: () => assert.fail('touched'),
    } as never;
    assert.equal(tidings.handle(req, res), false);
    assert.equal(tidings.handleUpgrade(req, {} as never, Buffer.alloc(0)), false);
    await tidings.close({ closeHub: true });
  });

  test('a GET on /ws without an upgrade is told to upgrade', async (t) => {
    const srv = await server(t);
    const answer = await getJson(`${srv.url}/ws`);
    assert.equal(answer.status, 426);
    assert.equal(answer.body.type, 'error');
  });
});
