// Presence on the wire: `presence` requests and replies, `join`/`leave` frames, `GET /presence`, and
// which transports make a connection a member (docs/PROTOCOL.md, "Presence").
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { ErrorCode } from '@tidings/protocol';
import type { Authenticate, TidingsServerOptions } from '@tidings/server';
import { listen } from '@tidings/testing';
import { getJson, StreamClient, until, WsClient } from './protocol-clients.js';

type T = { after(fn: () => unknown): void };

/** The token is the user id; `eve` may read only `public`. Everyone has `info.name`. */
const authenticate: Authenticate = ({ token }) => {
  if (token === undefined) return null;
  const identity = { id: token, info: { name: token.toUpperCase() } };
  return token === 'eve' ? { ...identity, read: ['public'] } : identity;
};

async function server(t: T, options: TidingsServerOptions = {}) {
  const srv = await listen({ authenticate, presence: ['room', 'game.*'], ...options });
  t.after(srv.close);
  return srv;
}

async function ws(t: T, url: string, token: string): Promise<WsClient & { id: string }> {
  const client = await WsClient.open(`${url}/ws?token=${token}`);
  t.after(() => client.close());
  const welcome = client.frames.find((f) => f.type === 'welcome');
  return Object.assign(client, { id: welcome?.client as string });
}

function member(client: { id: string }, user: string) {
  return { client: client.id, user, info: { name: user.toUpperCase() } };
}

let nextId = 1000;

async function ask(client: WsClient, channel: string) {
  return client.request({ type: 'presence', id: nextId++, channel });
}

function byUser<M extends { user: string; client: string }>(members: M[]): M[] {
  return [...members].sort((a, b) => a.user.localeCompare(b.user) || a.client.localeCompare(b.client));
}

/** Frames of these types, without the others. */
function only(frames: { type: string }[], ...types: string[]) {
  return frames.filter((f) => types.includes(f.type));
}

describe('presence over the WebSocket', () => {
  test('a subscriber is a member; the others hear it join and leave, it does not hear itself', async (t) => {
    const srv = await server(t);
    const alice = await ws(t, srv.wsUrl, 'alice');
    await alice.subscribe('room', 1);
    const mine = await ask(alice, 'room');
    assert.deepEqual(mine, {
      type: 'presence',
      id: mine.id,
      channel: 'room',
      members: [member(alice, 'alice')],
    });

    const bob = await ws(t, srv.wsUrl, 'bob');
    await bob.subscribe('room', 1);
    const joined = await alice.next((f) => f.type === 'join');
    assert.deepEqual(joined, { type: 'join', channel: 'room', member: member(bob, 'bob') });
    const both = await ask(bob, 'room');
    assert.deepEqual(byUser(both.members as never[]), [member(alice, 'alice'), member(bob, 'bob')]);

    const from = alice.frames.length;
    const reply = await bob.request({ type: 'unsubscribe', id: 2, channel: 'room' });
    assert.equal(reply.type, 'unsubscribed');
    const left = await alice.next((f) => f.type === 'leave', 'leave', from);
    assert.deepEqual(left, { type: 'leave', channel: 'room', member: member(bob, 'bob') });
    assert.deepEqual((await ask(alice, 'room')).members, [member(alice, 'alice')]);
    assert.deepEqual(only(bob.frames, 'join', 'leave'), [], 'bob never heard of himself');
  });

  test('a connection that goes away leaves; two tabs of one user are two members', async (t) => {
    const srv = await server(t);
    const alice = await ws(t, srv.wsUrl, 'alice');
    await alice.subscribe('room', 1);
    const tab1 = await ws(t, srv.wsUrl, 'bob');
    const tab2 = await ws(t, srv.wsUrl, 'bob');
    await tab1.subscribe('room', 1);
    await tab2.subscribe('room', 1);
    await until(() => only(alice.frames, 'join').length === 2, 'two joins');
    assert.equal(((await ask(alice, 'room')).members as unknown[]).length, 3);
    tab1.close();
    const left = await alice.next((f) => f.type === 'leave');
    assert.deepEqual(left.member, member(tab1, 'bob'));
    assert.deepEqual(byUser((await ask(alice, 'room')).members as never[]), [
      member(alice, 'alice'),
      member(tab2, 'bob'),
    ]);
  });

  test('presence of a pattern-matched channel; a pattern subscription is no member and hears nothing', async (t) => {
    const srv = await server(t);
    const watcher = await ws(t, srv.wsUrl, 'watcher');
    await watcher.subscribe('game.*', 1);
    const alice = await ws(t, srv.wsUrl, 'alice');
    await alice.subscribe('game.chess', 1);
    assert.deepEqual((await ask(watcher, 'game.chess')).members, [member(alice, 'alice')]);
    assert.deepEqual((await ask(alice, 'game.go')).members, []);
    await sleep(50);
    assert.deepEqual(only(watcher.frames, 'join', 'leave'), []);
  });

  test('a channel without presence: subscribers are no members, and a request gets UNSUPPORTED', async (t) => {
    const srv = await server(t);
    const alice = await ws(t, srv.wsUrl, 'alice');
    await alice.subscribe('news', 1);
    const reply = await ask(alice, 'news');
    assert.deepEqual([reply.type, reply.code, reply.channel], ['error', ErrorCode.unsupported, undefined]);
    assert.deepEqual(await srv.hub.presence('news'), []);
    // The error names no channel: the subscription goes on.
    await srv.hub.publish('news', 'still here');
    await alice.waitForOffset('news', 1);
  });

  test('requests are checked and authorized like a subscribe, without subscribing', async (t) => {
    const srv = await server(t);
    const alice = await ws(t, srv.wsUrl, 'alice');
    await alice.subscribe('room', 1);
    const eve = await ws(t, srv.wsUrl, 'eve');
    const forbidden = await ask(eve, 'room');
    assert.deepEqual([forbidden.type, forbidden.code], ['error', ErrorCode.forbidden]);
    const pattern = await ask(eve, 'room.*');
    assert.deepEqual([pattern.type, pattern.code], ['error', ErrorCode.invalidChannel]);
    const bob = await ws(t, srv.wsUrl, 'bob');
    assert.deepEqual((await ask(bob, 'room')).members, [member(alice, 'alice')], 'asked without subscribing');
    const noId = bob.frames.length;
    bob.send({ type: 'presence', channel: 'room' });
    const reply = await bob.next((f) => f.type === 'presence', 'reply', noId);
    assert.equal(reply.id, undefined);
  });

  test('a refused subscription makes no member', async (t) => {
    const srv = await server(t, { canSubscribe: (identity) => identity.id !== 'mallory' });
    const mallory = await ws(t, srv.wsUrl, 'mallory');
    const reply = await mallory.request({ type: 'subscribe', id: 1, channel: 'room' });
    assert.equal(reply.code, ErrorCode.forbidden);
    assert.deepEqual(await srv.hub.presence('room'), []);
  });

  test('a disconnected user leaves', async (t) => {
    const srv = await server(t);
    const alice = await ws(t, srv.wsUrl, 'alice');
    await alice.subscribe('room', 1);
    const bob = await ws(t, srv.wsUrl, 'bob');
    await bob.subscribe('room', 1);
    assert.equal(srv.tidings.disconnect('bob'), 1);
    const left = await alice.next((f) => f.type === 'leave');
    assert.equal((left.member as { user: string }).user, 'bob');
    assert.deepEqual(
      (await srv.hub.presence('room')).map((m) => m.user),
      ['alice'],
    );
  });

  test('members joined by server code are listed and heard like any other', async (t) => {
    const srv = await server(t);
    const alice = await ws(t, srv.wsUrl, 'alice');
    await alice.subscribe('room', 1);
    await srv.hub.join('room', { client: 'bot-1', user: 'bot' });
    const joined = await alice.next((f) => f.type === 'join');
    assert.deepEqual(joined.member, { client: 'bot-1', user: 'bot' });
    await srv.hub.leave('room', 'bot-1');
    await alice.next((f) => f.type === 'leave');
  });
});

describe('GET /presence', () => {
  test('answers a presence frame, authorized like a subscribe', async (t) => {
    const srv = await server(t);
    const alice = await ws(t, srv.wsUrl, 'alice');
    await alice.subscribe('room', 1);
    const answer = await getJson(`${srv.url}/presence?channel=room&token=bob&v=1`);
    assert.equal(answer.status, 200);
    assert.equal(answer.headers.get('cache-control'), 'no-store');
    assert.deepEqual(answer.body, { type: 'presence', channel: 'room', members: [member(alice, 'alice')] });
    const bearer = await getJson(`${srv.url}/presence?channel=room`, {
      headers: { authorization: 'Bearer bob' },
    });
    assert.equal(bearer.status, 200);
  });

  test('refusals: 401, 403, UNSUPPORTED, bad or missing channel, wrong method', async (t) => {
    const srv = await server(t);
    const cases: [string, number, string][] = [
      ['channel=room', 401, ErrorCode.unauthorized],
      ['channel=room&token=eve', 403, ErrorCode.forbidden],
      ['channel=news&token=bob', 400, ErrorCode.unsupported],
      ['token=bob', 400, ErrorCode.invalidField],
      ['channel=room&channel=game.go&token=bob', 400, ErrorCode.invalidField],
      ['channel=room.*&token=bob', 400, ErrorCode.invalidChannel],
      ['channel=room&token=bob&v=2', 400, ErrorCode.unsupportedVersion],
    ];
    for (const [query, status, errorCode] of cases) {
      const answer = await getJson(`${srv.url}/presence?${query}`);
      assert.deepEqual(
        [query, answer.status, answer.body.type, answer.body.code],
        [query, status, 'error', errorCode],
      );
    }
    const post = await fetch(`${srv.url}/presence?channel=room&token=bob`, { method: 'POST' });
    assert.equal(post.status, 405);
    await post.body?.cancel();
  });
});

describe('presence over the HTTP transports', () => {
  for (const kind of ['sse', 'stream'] as const) {
    test(`an ${kind} request is a member while it lasts and carries join and leave frames`, async (t) => {
      const srv = await server(t);
      const reader = await StreamClient.open(`${srv.url}/${kind}?channel=room&token=alice`, kind);
      t.after(() => reader.abort());
      await reader.next((f) => f.type === 'subscribed');
      const [listed] = await srv.hub.presence('room');
      assert.equal(listed?.user, 'alice');

      const bob = await ws(t, srv.wsUrl, 'bob');
      await bob.subscribe('room', 1);
      const joined = await reader.next((f) => f.type === 'join');
      assert.deepEqual(joined, { type: 'join', channel: 'room', member: member(bob, 'bob') });
      bob.close();
      await reader.next((f) => f.type === 'leave');
      if (kind === 'sse') {
        const at = reader.frames.findIndex((f) => f.type === 'join');
        assert.equal(reader.ids[at], undefined, 'presence frames move no position: no SSE id');
      }
      const from = only(bob.frames, 'join').length;
      assert.equal(from, 0);
      const watcher = await ws(t, srv.wsUrl, 'carol');
      await watcher.subscribe('room', 1);
      reader.abort();
      const left = await watcher.next((f) => f.type === 'leave');
      assert.equal((left.member as { user: string }).user, 'alice');
    });
  }

  for (const kind of ['longpoll', 'poll'] as const) {
    test(`a ${kind} request is no member and carries no presence frames`, async (t) => {
      const srv = await server(t);
      const waiting = getJson(`${srv.url}/${kind}?channel=room&token=alice&wait=300`);
      await sleep(100);
      assert.deepEqual(await srv.hub.presence('room'), []);
      await srv.hub.join('room', { client: 'bot-1', user: 'bot' });
      const answer = await waiting;
      assert.equal(answer.status, 200);
      assert.deepEqual(only(answer.body.frames, 'join', 'leave'), []);
    });
  }
});
