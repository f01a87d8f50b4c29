import assert from 'node:assert/strict';
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, describe, test } from 'node:test';
import { signToken } from '@tidings/server';
import { api, closedPort, openSse, openWs, startInProcess } from './support.js';

interface Call {
  path: string;
  hook: string | undefined;
  secret: string | undefined;
  body: Record<string, unknown>;
}

type Answer = { status?: number; body?: unknown; raw?: string; delayMs?: number };

/** The app's backend, in miniature: records each hook call and answers as the test says. */
async function backend(answer: (call: Call) => Answer) {
  const calls: Call[] = [];
  const server = createServer(async (request: IncomingMessage, response) => {
    let text = '';
    for await (const chunk of request) text += chunk;
    const call: Call = {
      path: request.url ?? '',
      hook: request.headers['x-tidings-hook'] as string | undefined,
      secret: request.headers['x-hook-secret'] as string | undefined,
      body: JSON.parse(text),
    };
    calls.push(call);
    const { status = 200, body, raw, delayMs = 0 } = answer(call);
    const timer = setTimeout(() => {
      if (response.destroyed) return;
      response
        .writeHead(status, { 'content-type': 'application/json' })
        .end(raw ?? JSON.stringify(body ?? {}));
    }, delayMs);
    response.on('close', () => clearTimeout(timer));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  after(() => {
    server.closeAllConnections();
    return new Promise<void>((resolve) => server.close(() => resolve()));
  });
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}`, calls };
}

const SECRET = 'a-shared-secret-of-at-least-32-bytes!';

describe('backend hooks', () => {
  test('connect: the backend sees the token and forwarded headers, and names the identity', async () => {
    const app = await backend(({ body }) =>
      body.token === 'session-alice'
        ? { body: { allow: true, identity: { id: 'alice', read: ['chat.*'], info: { name: 'Alice' } } } }
        : { status: 403 },
    );
    const { url } = await startInProcess({
      hooks: {
        connect: `${app.url}/tidings/connect`,
        headers: { 'X-Hook-Secret': 'between-us' },
        forwardHeaders: ['cookie', 'user-agent'],
      },
    });
    const sse = await openSse(`${url}/tidings/sse?channel=chat.a&token=session-alice`, { cookie: 'sid=42' });
    assert.equal(sse.status, 200);
    await sse.next((frame) => frame.type === 'subscribed');
    const call = app.calls[0]!;
    assert.equal(call.path, '/tidings/connect');
    assert.equal(call.hook, 'connect');
    assert.equal(call.secret, 'between-us');
    assert.equal(call.body.token, 'session-alice');
    assert.equal(call.body.remoteAddress, '127.0.0.1');
    assert.equal((call.body.headers as Record<string, string>).cookie, 'sid=42');

    // The identity the backend gave is the one the server enforces and knows.
    const outside = await openSse(`${url}/tidings/sse?channel=news&token=session-alice`);
    assert.equal(outside.status, 403);
    const disconnected = await api(url, 'POST', '/disconnect', { user: 'alice' });
    assert.equal(disconnected.body.disconnected, 1);

    const refused = await openSse(`${url}/tidings/sse?channel=chat.a&token=session-mallory`);
    assert.equal(refused.status, 401);
    assert.deepEqual(refused.frames[0], {
      type: 'error',
      code: 'UNAUTHORIZED',
      message: 'the backend refused the connection',
    });
  });

  test('connect: {"allow": false} refuses a WebSocket with disconnect UNAUTHORIZED, close 4401', async () => {
    const app = await backend(() => ({ body: { allow: false } }));
    const { url } = await startInProcess({ hooks: { connect: app.url } });
    const ws = await openWs(url, '?token=whatever');
    const frame = await ws.next((f) => f.type === 'disconnect');
    assert.equal(frame.code, 'UNAUTHORIZED');
    assert.deepEqual(await ws.closed, { code: 4401, reason: 'UNAUTHORIZED' });
  });

  test('connect after JWT: the hook sees the verified identity and may keep it', async () => {
    const app = await backend(() => ({ body: { allow: true } }));
    const { url } = await startInProcess({ jwt: { secret: SECRET }, hooks: { connect: app.url } });
    const token = await signToken({ sub: 'carol', channels: { read: ['news'] } }, SECRET, { expiresIn: 600 });
    const sse = await openSse(`${url}/tidings/sse?channel=news`, { authorization: `Bearer ${token}` });
    await sse.next((frame) => frame.type === 'subscribed');
    const identity = app.calls[0]!.body.identity as Record<string, unknown>;
    assert.equal(identity.id, 'carol');
    assert.deepEqual(identity.read, ['news']);
    assert.equal((await api(url, 'POST', '/disconnect', { user: 'carol' })).body.disconnected, 1);
    // An invalid token is refused by the JWT check before the backend is asked.
    const bad = await openSse(`${url}/tidings/sse?channel=news&token=not-a-jwt`);
    assert.equal(bad.status, 401);
    assert.equal(app.calls.length, 1);
  });

  test('subscribe: allowed and refused per channel (403 FORBIDDEN; an error frame on a WebSocket)', async () => {
    const app = await backend(({ body }) => ({ body: { allow: body.channel !== 'secret' } }));
    const { url } = await startInProcess({ hooks: { subscribe: app.url } });
    const refused = await openSse(`${url}/tidings/sse?channel=secret`);
    assert.equal(refused.status, 403);
    assert.equal(refused.frames[0]!.code, 'FORBIDDEN');
    const mixed = await openSse(`${url}/tidings/sse?channel=public&channel=secret`);
    assert.equal(mixed.status, 200);
    const error = await mixed.next((frame) => frame.type === 'error');
    assert.deepEqual([error.channel, error.code], ['secret', 'FORBIDDEN']);
    await mixed.next((frame) => frame.type === 'subscribed' && frame.channel === 'public');

    const ws = await openWs(url);
    ws.send({ type: 'subscribe', id: 1, channel: 'secret' });
    const wsError = await ws.next((frame) => frame.type === 'error' && frame.id === 1);
    assert.equal(wsError.code, 'FORBIDDEN');
    const call = app.calls.find((c) => c.body.channel === 'secret')!;
    assert.equal(call.hook, 'subscribe');
    assert.deepEqual(call.body.identity, { id: 'anonymous', anonymous: true });
  });

  test('publish: the backend sees the data and may refuse it; API publishes do not ask', async () => {
    const app = await backend(({ body }) => ({
      body: { allow: !String((body.data as { text?: string }).text ?? '').includes('spam') },
    }));
    const { url } = await startInProcess({ publish: true, hooks: { publish: app.url } });
    const post = (data: unknown) =>
      fetch(`${url}/tidings/publish`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ channel: 'chat', data }),
      });
    assert.equal((await post({ text: 'hello' })).status, 200);
    const refused = await post({ text: 'buy spam' });
    assert.equal(refused.status, 403);
    assert.equal(((await refused.json()) as { code: string }).code, 'FORBIDDEN');
    assert.deepEqual(
      app.calls.map((c) => [c.hook, c.body.channel, c.body.data]),
      [
        ['publish', 'chat', { text: 'hello' }],
        ['publish', 'chat', { text: 'buy spam' }],
      ],
    );
    assert.equal(
      (await api(url, 'POST', '/publish', { channel: 'chat', data: { text: 'spam' } })).status,
      200,
    );
    assert.equal(app.calls.length, 2);
  });

  test('a backend that does not answer in time: refused with TIMEOUT (logged), or let through with failOpen', async () => {
    const app = await backend(() => ({ body: { allow: true }, delayMs: 2_000 }));
    const logs: Record<string, unknown>[] = [];
    const closed = await startInProcess({ hooks: { subscribe: app.url, timeoutMs: 150 } }, logs);
    const started = Date.now();
    const refused = await openSse(`${closed.url}/tidings/sse?channel=news`);
    assert.ok(Date.now() - started < 1_500, 'the timeout, not the backend, decided');
    assert.equal(refused.status, 504);
    assert.equal(refused.frames[0]!.code, 'TIMEOUT');
    const warning = logs.find(
      (entry) => entry.msg === 'subscribe hook failed: the subscribe hook did not answer within 150 ms',
    );
    assert.ok(warning, JSON.stringify(logs));
    assert.equal(warning.code, 'TIMEOUT');
    assert.equal(warning.failOpen, false);

    const open = await startInProcess({ hooks: { subscribe: app.url, timeoutMs: 150, failOpen: true } });
    const allowed = await openSse(`${open.url}/tidings/sse?channel=news`);
    assert.equal(allowed.status, 200);
  });

  test('an unreachable backend, a 5xx and an unreadable answer are failures, not refusals', async () => {
    const down = await startInProcess({
      hooks: { connect: `http://127.0.0.1:${await closedPort()}/connect` },
    });
    const unreachable = await openSse(`${down.url}/tidings/sse?channel=news`);
    assert.equal(unreachable.status, 503);
    assert.equal(unreachable.frames[0]!.code, 'ENGINE_UNAVAILABLE');
    assert.match(
      String(unreachable.frames[0]!.message),
      /^the connect hook is unreachable \(ECONNREFUSED\)$/,
    );

    const failing = await backend(({ body }) =>
      body.channel === 'five'
        ? { status: 500 }
        : { raw: body.channel === 'text' ? 'yes' : '{"allowed":true}' },
    );
    const { url } = await startInProcess({ hooks: { subscribe: failing.url } });
    const five = await openSse(`${url}/tidings/sse?channel=five`);
    assert.deepEqual(
      [five.status, five.frames[0]!.code, five.frames[0]!.message],
      [503, 'ENGINE_UNAVAILABLE', 'the subscribe hook answered HTTP 500'],
    );
    const text = await openSse(`${url}/tidings/sse?channel=text`);
    assert.deepEqual([text.status, text.frames[0]!.code], [500, 'INTERNAL']);
    const shape = await openSse(`${url}/tidings/sse?channel=shape`);
    assert.equal(shape.status, 500);
    assert.match(String(shape.frames[0]!.message), /^the subscribe hook answered an invalid body at "allow"/);

    const metrics = await (await fetch(`${url}/metrics`)).text();
    assert.match(metrics, /tidings_hook_calls_total\{hook="subscribe",outcome="ENGINE_UNAVAILABLE"\} 1/);
    assert.match(metrics, /tidings_hook_calls_total\{hook="subscribe",outcome="INTERNAL"\} 2/);
  });
});
