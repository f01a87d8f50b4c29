import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { closeCode, ErrorCode, TidingsError } from '@tidings/protocol';
import type { Authenticate, Identity, TidingsServerOptions } from '@tidings/server';
import { listen } from '@tidings/testing';
import { getJson, isMessage, offsets, publishHttp, StreamClient, WsClient } from './protocol-clients.js';

type T = { after(fn: () => unknown): void };

/** Tokens: `alice` reads public.> and her inbox, writes public.>; `exp<ms>` lasts that long; `expired` is refused. */
const authenticate: Authenticate = ({ token }) => {
  if (token === undefined) return null;
  if (token === 'expired') throw new TidingsError(ErrorCode.tokenExpired, 'token expired');
  const alice: Identity = { id: 'alice', read: ['public.>', 'user:alice.>'], write: ['public.>'] };
  if (token === 'alice') return alice;
  if (token === 'bob') return { id: 'bob' };
  if (token === 'alice-public') return { ...alice, read: ['public.>'] };
  const ttl = /^exp(\d+)$/.exec(token);
  if (ttl) return { ...alice, expiresAt: Date.now() + Number(ttl[1]) };
  return null;
};

async function server(t: T, options: TidingsServerOptions = {}) {
  const srv = await listen({ authenticate, ...options });
  t.after(srv.close);
  return srv;
}

async function ws(t: T, url: string, token?: string): Promise<WsClient> {
  const client = await WsClient.open(token === undefined ? url : `${url}?token=${token}`);
  t.after(() => client.close());
  return client;
}

async function refused(url: string) {
  const client = new WsClient(url);
  await client.opened;
  const closed = await client.closed;
  return { frames: client.frames, closed };
}

const HTTP_READS = ['sse', 'stream', 'longpoll', 'poll'] as const;

describe('authentication', () => {
  test('no credentials: 401 on HTTP, disconnect and close 4401 on the WebSocket', async (t) => {
    const srv = await server(t);
    const { frames, closed } = await refused(`${srv.wsUrl}/ws`);
    assert.deepEqual(frames, [
      { type: 'disconnect', code: ErrorCode.unauthorized, reason: 'not authenticated', reconnect: false },
    ]);
    assert.deepEqual(closed, { code: 4401, reason: ErrorCode.unauthorized });
    for (const endpoint of HTTP_READS) {
      const answer = await getJson(`${srv.url}/${endpoint}?channel=public.news`);
      assert.deepEqual(
        [answer.status, answer.body.type, answer.body.code],
        [401, 'error', ErrorCode.unauthorized],
      );
    }
    const publish = await publishHttp(srv.url, { channel: 'public.news', data: 1 });
    assert.deepEqual([publish.status, publish.body.code], [401, ErrorCode.unauthorized]);
  });

  test('an expired token: TOKEN_EXPIRED, 401 / close 4401, and the client may come back with a new one', async (t) => {
    const srv = await server(t);
    const { frames, closed } = await refused(`${srv.wsUrl}/ws?token=expired`);
    assert.deepEqual(
      frames.map((f) => [f.type, f.code, f.reconnect]),
      [['disconnect', ErrorCode.tokenExpired, true]],
    );
    assert.equal(closed.code, closeCode(ErrorCode.tokenExpired));
    const answer = await getJson(`${srv.url}/sse?channel=public.news&token=expired`);
    assert.deepEqual([answer.status, answer.body.code], [401, ErrorCode.tokenExpired]);
  });

  test('the token comes from Authorization: Bearer, or from ?token=', async (t) => {
    const srv = await server(t);
    const headers = { authorization: 'Bearer alice' };
    const client = await WsClient.open(`${srv.wsUrl}/ws`, { headers });
    t.after(() => client.close());
    await client.subscribe('user:alice.inbox', 1);
    const poll = await getJson(`${srv.url}/poll?channel=user:alice.inbox`, { headers });
    assert.equal(poll.status, 200);
    const byQuery = await getJson(`${srv.url}/poll?channel=user:alice.inbox&token=alice`);
    assert.equal(byQuery.status, 200);
  });
});

describe('authorization', () => {
  test('a channel outside identity.read is FORBIDDEN alone; the connection and its other channels go on', async (t) => {
    const srv = await server(t);
    const client = await ws(t, `${srv.wsUrl}/ws`, 'alice');
    await client.subscribe('public.news', 1);
    const denied = await client.request({ type: 'subscribe', id: 2, channel: 'user:bob.inbox' });
    assert.deepEqual(
      [denied.type, denied.code, denied.channel],
      ['error', ErrorCode.forbidden, 'user:bob.inbox'],
    );
    for (const pattern of ['>', 'user:*.inbox', 'public.>.x', 'user:alice.>']) {
      const reply = await client.request({ type: 'subscribe', id: 3, channel: pattern });
      const expected = pattern === 'user:alice.>' ? 'subscribed' : 'error';
      assert.equal(reply.type, expected, `${pattern}: ${JSON.stringify(reply)}`);
      if (expected === 'subscribed') await client.request({ type: 'unsubscribe', id: 3, channel: pattern });
    }
    await srv.hub.publish('user:bob.inbox', 'secret');
    await srv.hub.publish('public.news', 'hello');
    await client.next(isMessage('public.news'));
    assert.equal(client.frames.filter((f) => f.type === 'message' && f.channel !== 'public.news').length, 0);
  });

  test('canSubscribe and canPublish refuse on top of the identity', async (t) => {
    const srv = await server(t, {
      canSubscribe: (identity, channel) => !(identity.id === 'alice' && channel === 'public.vip'),
      canPublish: (_identity, channel) => channel !== 'public.readonly',
    });
    const client = await ws(t, `${srv.wsUrl}/ws`, 'alice');
    const vip = await client.request({ type: 'subscribe', id: 1, channel: 'public.vip' });
    assert.deepEqual([vip.code, vip.channel], [ErrorCode.forbidden, 'public.vip']);
    const before = await srv.hub.position('public.readonly');
    const publish = await client.request({ type: 'publish', id: 2, channel: 'public.readonly', data: 1 });
    assert.deepEqual([publish.code, publish.channel], [ErrorCode.forbidden, 'public.readonly']);
    const http = await publishHttp(
      srv.url,
      { channel: 'public.readonly', data: 1 },
      { authorization: 'Bearer alice' },
    );
    assert.deepEqual([http.status, http.body.code], [403, ErrorCode.forbidden]);
    assert.deepEqual(await srv.hub.position('public.readonly'), before, 'nothing was published');
  });

  test('a publish outside identity.write is FORBIDDEN and publishes nothing', async (t) => {
    const srv = await server(t);
    const client = await ws(t, `${srv.wsUrl}/ws`, 'alice');
    const before = await srv.hub.position('user:alice.inbox');
    const reply = await client.request({ type: 'publish', id: 1, channel: 'user:alice.inbox', data: 'x' });
    assert.deepEqual(
      [reply.type, reply.code, reply.channel],
      ['error', ErrorCode.forbidden, 'user:alice.inbox'],
    );
    const http = await publishHttp(
      srv.url,
      { channel: 'user:alice.inbox', data: 'x' },
      { authorization: 'Bearer alice' },
    );
    assert.deepEqual([http.status, http.body.code], [403, ErrorCode.forbidden]);
    assert.deepEqual(await srv.hub.position('user:alice.inbox'), before);
    const allowed = await client.request({ type: 'publish', id: 2, channel: 'public.chat', data: 'x' });
    assert.equal(allowed.type, 'ack');
  });

  test('nothing leaks from a channel the identity may not read, on any HTTP transport', async (t) => {
    const srv = await server(t);
    const query = 'channel=public.news&channel=user:bob.inbox&token=alice&since=snapshot';
    await srv.hub.publish('user:bob.inbox', 'old secret');
    await srv.hub.setState('user:bob.inbox', 'secret state');
    const streams = await Promise.all(
      (['sse', 'stream'] as const).map((kind) => StreamClient.open(`${srv.url}/${kind}?${query}`, kind)),
    );
    t.after(() => {
      for (const s of streams) s.abort();
    });
    const polls = getJson(`${srv.url}/longpoll?${query}&wait=2000`);
    for (const s of streams) await s.next((f) => f.type === 'subscribed' && f.channel === 'public.news');
    await srv.hub.publish('user:bob.inbox', 'new secret');
    await srv.hub.publish('public.news', 'news');
    const poll = await getJson(`${srv.url}/poll?${query}`);
    const answers = [...streams.map((s) => s.frames), (await polls).body.frames, poll.body.frames];
    for (const s of streams) await s.next(isMessage('public.news'));
    for (const frames of answers) {
      const secret = frames.filter((f) => f.channel === 'user:bob.inbox');
      assert.deepEqual(
        secret.map((f) => [f.type, f.code]),
        [['error', ErrorCode.forbidden]],
        'only the refusal mentions the channel',
      );
      assert.ok(!JSON.stringify(frames).includes('secret'), 'no secret data');
    }
    assert.deepEqual(offsets(streams[0].frames, 'public.news'), [1]);
    for (const endpoint of HTTP_READS) {
      const only = await getJson(`${srv.url}/${endpoint}?channel=user:bob.inbox&token=alice`);
      assert.deepEqual([only.status, only.body.code], [403, ErrorCode.forbidden], endpoint);
    }
  });

  test('nothing leaks to a WebSocket either, including through patterns', async (t) => {
    const srv = await server(t);
    const client = await ws(t, `${srv.wsUrl}/ws`, 'alice');
    await client.subscribe('public.*', 1);
    for (const [id, channel] of [
      [2, 'user:bob.inbox'],
      [3, '*.inbox'],
      [4, 'user:bob.>'],
    ] as const) {
      const reply = await client.request({ type: 'subscribe', id, channel, since: 'now' });
      assert.equal(reply.code, ErrorCode.forbidden, channel);
    }
    await srv.hub.publish('user:bob.inbox', 'secret');
    await srv.hub.publish('public.a', 'fine');
    await client.next(isMessage('public.a'));
    assert.ok(!JSON.stringify(client.frames).includes('secret'));
  });
});

describe('token expiry and refresh', () => {
  test('at expiry a WebSocket gets unsubscribed and disconnect TOKEN_EXPIRED, then close 4401', async (t) => {
    const srv = await server(t);
    const client = await ws(t, `${srv.wsUrl}/ws`, 'exp300');
    await client.subscribe('public.news', 1);
    const closed = await client.closed;
    assert.deepEqual(
      client.frames.slice(-2).map((f) => [f.type, f.channel, f.code, f.reconnect]),
      [
        ['unsubscribed', 'public.news', ErrorCode.tokenExpired, undefined],
        ['disconnect', undefined, ErrorCode.tokenExpired, true],
      ],
    );
    assert.deepEqual(closed, { code: 4401, reason: ErrorCode.tokenExpired });
  });

  test('at expiry HTTP streams end and long-polls answer with disconnect TOKEN_EXPIRED', async (t) => {
    const srv = await server(t);
    const sse = await StreamClient.open(`${srv.url}/sse?channel=public.news&token=exp300`, 'sse');
    t.after(() => sse.abort());
    const poll = await getJson(`${srv.url}/longpoll?channel=public.news&token=exp300&wait=10000`);
    assert.deepEqual(
      poll.body.frames.map((f) => [f.type, f.code]),
      [
        ['unsubscribed', ErrorCode.tokenExpired],
        ['disconnect', ErrorCode.tokenExpired],
      ],
    );
    await sse.waitEnded();
    assert.deepEqual(sse.frames.at(-1)?.code, ErrorCode.tokenExpired);
    await srv.hub.publish('public.news', 'after');
    assert.equal(sse.frames.filter(isMessage('public.news')).length, 0);
  });

  test('a refresh with a new token extends access; a bad one is an error and changes nothing', async (t) => {
    const srv = await server(t);
    const client = await ws(t, `${srv.wsUrl}/ws`, 'exp300');
    await client.subscribe('public.news', 1);
    const bad = await client.request({ type: 'refresh', id: 2, token: 'nobody' });
    assert.deepEqual([bad.type, bad.code], ['error', ErrorCode.unauthorized]);
    const other = await client.request({ type: 'refresh', id: 3, token: 'bob' });
    assert.deepEqual(
      [other.type, other.code],
      ['error', ErrorCode.forbidden],
      'a refresh keeps the identity',
    );
    const refreshed = await client.request({ type: 'refresh', id: 4, token: 'exp60000' });
    assert.equal(refreshed.type, 'refreshed');
    assert.ok((refreshed.expiresAt as number) > Date.now() + 50_000);
    await sleep(450);
    await srv.hub.publish('public.news', 'still here');
    await client.next(isMessage('public.news'));
    assert.equal(client.frames.filter((f) => f.type === 'disconnect').length, 0);
  });

  test('a refresh whose identity no longer reads a channel ends that subscription with FORBIDDEN', async (t) => {
    const srv = await server(t);
    const client = await ws(t, `${srv.wsUrl}/ws`, 'alice');
    await client.subscribe('user:alice.inbox', 1);
    await client.subscribe('public.news', 2);
    await client.request({ type: 'refresh', id: 3, token: 'alice-public' });
    const ended = await client.next((f) => f.type === 'unsubscribed');
    assert.deepEqual([ended.channel, ended.code], ['user:alice.inbox', ErrorCode.forbidden]);
    await srv.hub.publish('user:alice.inbox', 'private');
    await srv.hub.publish('public.news', 'public');
    await client.next(isMessage('public.news'));
    assert.equal(client.frames.filter(isMessage('user:alice.inbox')).length, 0);
  });
});
