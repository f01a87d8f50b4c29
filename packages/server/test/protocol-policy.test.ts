import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ErrorCode } from '@tidings/protocol';
import { createTidingsServer, jwtAuth, signToken, type TidingsServerOptions } from '@tidings/server';
import { listen } from '@tidings/testing';
import { getJson, publishHttp, WsClient } from './protocol-clients.js';

type T = { after(fn: () => unknown): void };

const SECRET = 'a-test-secret-of-at-least-32-bytes!!';

/** A server with the real defaults: `listen()` opens publishing for other tests, so undo that. */
async function server(t: T, options: TidingsServerOptions = {}) {
  const srv = await listen({ publish: undefined, ...options });
  t.after(srv.close);
  return srv;
}

async function ws(t: T, url: string, headers?: Record<string, string>): Promise<WsClient> {
  const client = await WsClient.open(url, { headers });
  t.after(() => client.close());
  return client;
}

let ids = 100;
async function publishWs(client: WsClient, channel: string, data: unknown = 1, key?: string) {
  return client.request({ type: 'publish', id: ids++, channel, data, key });
}

describe('closed by default', () => {
  test('without options a client may subscribe anywhere but publish nowhere (WebSocket and HTTP)', async (t) => {
    const srv = await server(t);
    const client = await ws(t, `${srv.wsUrl}/ws`);
    await client.subscribe('news', 1);
    const refused = await publishWs(client, 'news');
    assert.deepEqual([refused.type, refused.code], ['error', ErrorCode.forbidden]);
    const http = await publishHttp(srv.url, { channel: 'news', data: 1 });
    assert.deepEqual([http.status, http.body.code], [403, ErrorCode.forbidden]);
    assert.equal((await srv.hub.position('news')).offset, 0);
    // The server itself always publishes.
    await srv.hub.publish('news', 'from the server');
    assert.equal((await srv.hub.position('news')).offset, 1);
  });

  test('publish: true opens every channel; a list opens just those', async (t) => {
    const open = await server(t, { publish: true });
    const a = await ws(t, `${open.wsUrl}/ws`);
    assert.equal((await publishWs(a, 'anything')).type, 'ack');

    const some = await server(t, { publish: ['chat.*'] });
    const b = await ws(t, `${some.wsUrl}/ws`);
    assert.equal((await publishWs(b, 'chat.room')).type, 'ack');
    assert.equal((await publishWs(b, 'chat.room.deeper')).code, ErrorCode.forbidden);
    assert.equal((await publishWs(b, 'news')).code, ErrorCode.forbidden);
    assert.equal((await publishHttp(some.url, { channel: 'chat.x', data: 1 })).status, 200);
    assert.equal((await publishHttp(some.url, { channel: 'news', data: 1 })).status, 403);
  });

  test("an identity's own write patterns grant publishing on a closed server; canPublish runs after", async (t) => {
    const seen: string[] = [];
    const srv = await server(t, {
      authenticate: ({ token }) => (token === 'w' ? { id: 'w', write: ['inbox.*'] } : { id: token ?? 'x' }),
      canPublish: (_identity, channel) => {
        seen.push(channel);
        return channel !== 'inbox.blocked';
      },
    });
    const writer = await ws(t, `${srv.wsUrl}/ws?token=w`);
    assert.equal((await publishWs(writer, 'inbox.a')).type, 'ack');
    assert.equal((await publishWs(writer, 'inbox.blocked')).code, ErrorCode.forbidden);
    assert.equal((await publishWs(writer, 'news')).code, ErrorCode.forbidden);
    const plain = await ws(t, `${srv.wsUrl}/ws?token=p`);
    assert.equal((await publishWs(plain, 'inbox.a')).code, ErrorCode.forbidden);
    // The hook saw only what the patterns allowed.
    assert.deepEqual(seen, ['inbox.a', 'inbox.blocked']);
  });

  test('write patterns replace the publish option: [] publishes nowhere even on an open server', async (t) => {
    const srv = await server(t, {
      publish: true,
      authenticate: ({ token }) => ({ id: token ?? 'x', ...(token === 'ro' && { write: [] }) }),
    });
    const readOnly = await ws(t, `${srv.wsUrl}/ws?token=ro`);
    assert.equal((await publishWs(readOnly, 'chat')).code, ErrorCode.forbidden);
    const other = await ws(t, `${srv.wsUrl}/ws?token=rw`);
    assert.equal((await publishWs(other, 'chat')).type, 'ack');
  });

  test('a JWT without a channels claim reads only, even with publish: true, unless jwtAuth says otherwise', async (t) => {
    const token = await signToken({ sub: 'u' }, SECRET);
    const strict = await server(t, { publish: true, authenticate: jwtAuth({ secret: SECRET }) });
    const a = await ws(t, `${strict.wsUrl}/ws?token=${token}`);
    await a.subscribe('chat', 1);
    assert.equal((await publishWs(a, 'chat')).code, ErrorCode.forbidden);

    const lenient = await server(t, {
      publish: true,
      authenticate: jwtAuth({ secret: SECRET, defaultWrite: 'server' }),
    });
    const b = await ws(t, `${lenient.wsUrl}/ws?token=${token}`);
    assert.equal((await publishWs(b, 'chat')).type, 'ack');
  });

  test('subscribe: false closes reading too, except what read patterns grant (every transport)', async (t) => {
    const srv = await server(t, {
      subscribe: false,
      authenticate: ({ token }) => ({ id: token ?? 'x', ...(token === 'r' && { read: ['public.>'] }) }),
    });
    const plain = await ws(t, `${srv.wsUrl}/ws?token=p`);
    assert.equal(
      (await plain.request({ type: 'subscribe', id: 1, channel: 'public.a' })).code,
      ErrorCode.forbidden,
    );
    assert.equal((await getJson(`${srv.url}/poll?channel=public.a&token=p`)).status, 403);
    const reader = await ws(t, `${srv.wsUrl}/ws?token=r`);
    await reader.subscribe('public.a', 1);
    assert.equal((await getJson(`${srv.url}/poll?channel=public.a&token=r`)).status, 200);
  });

  test('subscribe as a list opens just those channels and patterns it covers', async (t) => {
    const srv = await server(t, { subscribe: ['public.>'] });
    const client = await ws(t, `${srv.wsUrl}/ws`);
    await client.subscribe('public.news', 1);
    await client.subscribe('public.*', 2);
    assert.equal(
      (await client.request({ type: 'subscribe', id: 3, channel: 'private' })).code,
      ErrorCode.forbidden,
    );
    assert.equal(
      (await client.request({ type: 'subscribe', id: 4, channel: '>' })).code,
      ErrorCode.forbidden,
    );
  });

  test('bad publish / subscribe options are refused at once', () => {
    assert.throws(() => createTidingsServer({ publish: ['not a channel'] }), /INVALID_CHANNEL|channel/);
    assert.throws(() => createTidingsServer({ subscribe: 'yes' as unknown as boolean }), /subscribe must be/);
  });
});
