import assert from 'node:assert/strict';
import type { Socket } from 'node:net';
import { describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { closeCode, ErrorCode, PROTOCOL_VERSION } from '@tidings/protocol';
import { createHub } from '@tidings/server';
import { listen } from '@tidings/testing';
import { isMessage, offsets, publishMany, range, until, WsClient } from './protocol-clients.js';

type T = { after(fn: () => unknown): void };

async function server(t: T, options: Parameters<typeof listen>[0] = {}) {
  const srv = await listen(options);
  t.after(srv.close);
  return srv;
}

async function client(t: T, url: string): Promise<WsClient> {
  const ws = await WsClient.open(url);
  t.after(() => ws.close());
  return ws;
}

describe('websocket: delivery', () => {
  test('welcome, then every message from now exactly once, in order', async (t) => {
    const srv = await server(t, { heartbeatMs: 10_000 });
    await publishMany(srv.hub, 'chat', 5);
    const ws = await client(t, `${srv.wsUrl}/ws`);
    const welcome = ws.frames[0];
    assert.equal(welcome.type, 'welcome');
    assert.equal(welcome.version, PROTOCOL_VERSION);
    assert.equal(welcome.heartbeat, 10_000);
    assert.equal(typeof welcome.client, 'string');

    const subscribed = await ws.subscribe('chat', 1);
    assert.equal(subscribed.offset, 5, 'subscribed carries the position delivery continues after');
    await publishMany(srv.hub, 'chat', 200);
    await ws.waitForOffset('chat', 205);
    await sleep(20);
    assert.deepEqual(offsets(ws.frames, 'chat'), range(6, 205));
    const first = ws.frames.find(isMessage('chat'))!;
    assert.deepEqual(first.data, { n: 0 });
    assert.equal(first.epoch, subscribed.epoch);
    assert.ok(
      ws.frames.indexOf(subscribed) < ws.frames.indexOf(first),
      'subscribed comes before any message of the subscription',
    );
  });

  test('from a position: exactly the messages after it', async (t) => {
    const srv = await server(t);
    await publishMany(srv.hub, 'news', 10);
    const { epoch } = await srv.hub.position('news');
    const ws = await client(t, `${srv.wsUrl}/ws`);
    const subscribed = await ws.subscribe('news', 1, { epoch, offset: 4 });
    assert.deepEqual([subscribed.epoch, subscribed.offset], [epoch, 4]);
    await ws.waitForOffset('news', 10);
    await srv.hub.publish('news', 'live');
    await ws.waitForOffset('news', 11);
    assert.deepEqual(offsets(ws.frames, 'news'), range(5, 11));
  });

  test('from the snapshot: the state, then what follows it', async (t) => {
    const srv = await server(t);
    await publishMany(srv.hub, 'doc', 3);
    const state = await srv.hub.setState('doc', { title: 'v3' });
    await publishMany(srv.hub, 'doc', 2);
    const ws = await client(t, `${srv.wsUrl}/ws`);
    const subscribed = await ws.subscribe('doc', 1, 'snapshot');
    assert.equal(subscribed.offset, state.offset);
    const snapshot = await ws.next((f) => f.type === 'snapshot');
    assert.deepEqual([snapshot.offset, snapshot.data], [3, { title: 'v3' }]);
    await ws.waitForOffset('doc', 5);
    assert.deepEqual(offsets(ws.frames, 'doc'), [4, 5]);
  });

  test('a position from another epoch gets a reset, then the retained history', async (t) => {
    const srv = await server(t);
    await publishMany(srv.hub, 'c', 3);
    const ws = await client(t, `${srv.wsUrl}/ws`);
    await ws.subscribe('c', 1, { epoch: 'gone', offset: 2 });
    const reset = await ws.next((f) => f.type === 'reset');
    assert.equal(reset.offset, 0);
    await ws.waitForOffset('c', 3);
    assert.deepEqual(offsets(ws.frames, 'c'), [1, 2, 3]);
    assert.ok(ws.frames.indexOf(reset) < ws.frames.findIndex(isMessage('c')));
  });

  test('a connection cut mid-stream by the server resumes from its last position: nothing lost or repeated', async (t) => {
    const srv = await server(t);
    const sockets: Socket[] = [];
    srv.server.on('connection', (socket) => sockets.push(socket));
    const ws = await client(t, `${srv.wsUrl}/ws`);
    await ws.subscribe('feed', 1);
    const publishing = publishMany(srv.hub, 'feed', 300);
    await ws.waitForOffset('feed', 50);
    for (const socket of sockets) socket.destroy();
    await ws.closed;
    const got = ws.frames.filter(isMessage('feed'));
    const last = got[got.length - 1];

    const again = await client(t, `${srv.wsUrl}/ws`);
    await again.subscribe('feed', 1, { epoch: last.epoch, offset: last.offset });
    await publishing;
    await again.waitForOffset('feed', 300);
    const all = [...offsets(ws.frames, 'feed'), ...offsets(again.frames, 'feed')];
    assert.deepEqual(all, range(1, 300));
  });

  test('a client that drops mid-stream resumes from its last position', async (t) => {
    const srv = await server(t);
    const ws = await client(t, `${srv.wsUrl}/ws`);
    await ws.subscribe('feed', 1);
    const publishing = publishMany(srv.hub, 'feed', 200);
    await ws.waitForOffset('feed', 20);
    ws.close();
    await ws.closed;
    const got = ws.frames.filter(isMessage('feed'));
    const last = got[got.length - 1];
    const again = await client(t, `${srv.wsUrl}/ws`);
    await again.subscribe('feed', 7, { epoch: last.epoch, offset: last.offset });
    await publishing;
    await again.waitForOffset('feed', 200);
    assert.deepEqual([...offsets(ws.frames, 'feed'), ...offsets(again.frames, 'feed')], range(1, 200));
  });

  test('pattern subscriptions: subscribed without a position, then messages of matching channels only', async (t) => {
    const srv = await server(t);
    const ws = await client(t, `${srv.wsUrl}/ws`);
    const subscribed = await ws.subscribe('room.*', 1);
    assert.equal(subscribed.epoch, undefined);
    assert.equal(subscribed.offset, undefined);
    await srv.hub.publish('room.a', 1);
    await srv.hub.publish('lobby', 2);
    await srv.hub.publish('room.b', 3);
    await ws.next(isMessage('room.b'));
    const messages = ws.frames.filter((f) => f.type === 'message');
    assert.deepEqual(
      messages.map((f) => [f.channel, f.data]),
      [
        ['room.a', 1],
        ['room.b', 3],
      ],
    );
  });

  test('a channel subscribed both exactly and through a pattern: one frame per subscription, the pattern named', async (t) => {
    const srv = await server(t);
    const ws = await client(t, `${srv.wsUrl}/ws`);
    await ws.subscribe('room.a', 1);
    await ws.subscribe('room.*', 2);
    for (let i = 1; i <= 3; i++) await srv.hub.publish('room.a', i);
    await until(() => ws.frames.filter(isMessage('room.a')).length === 6);
    const messages = ws.frames.filter(isMessage('room.a'));
    assert.deepEqual(
      messages.filter((f) => f.pattern === undefined).map((f) => f.offset),
      [1, 2, 3],
    );
    assert.deepEqual(
      messages.filter((f) => f.pattern === 'room.*').map((f) => f.offset),
      [1, 2, 3],
    );
  });

  test('unsubscribe ends delivery; unsubscribing twice is NOT_SUBSCRIBED', async (t) => {
    const srv = await server(t);
    const ws = await client(t, `${srv.wsUrl}/ws`);
    await ws.subscribe('a', 1);
    await ws.subscribe('b', 2);
    const reply = await ws.request({ type: 'unsubscribe', id: 3, channel: 'a' });
    assert.deepEqual(reply, { type: 'unsubscribed', id: 3, channel: 'a' });
    await srv.hub.publish('a', 'late');
    await srv.hub.publish('b', 'marker');
    await ws.next(isMessage('b'));
    assert.equal(ws.frames.filter(isMessage('a')).length, 0);
    const again = await ws.request({ type: 'unsubscribe', id: 4, channel: 'a' });
    assert.equal(again.code, ErrorCode.notSubscribed);
    const twice = await ws.request({ type: 'subscribe', id: 5, channel: 'b' });
    assert.deepEqual([twice.type, twice.code, twice.channel], ['error', ErrorCode.alreadySubscribed, 'b']);
  });

  test('publish: ack with the position, echo, idempotency keys, ifOffset conflicts', async (t) => {
    const srv = await server(t);
    const a = await client(t, `${srv.wsUrl}/ws`);
    const b = await client(t, `${srv.wsUrl}/ws`);
    await a.subscribe('chat', 1);
    await b.subscribe('chat', 1);

    const ack = await a.request({ type: 'publish', id: 2, channel: 'chat', data: { text: 'hi' }, key: 'k1' });
    assert.equal(ack.type, 'ack');
    assert.equal(ack.offset, 1);
    assert.equal(ack.duplicate, undefined);
    await a.next(isMessage('chat'));
    const duplicate = await a.request({ type: 'publish', id: 3, channel: 'chat', data: 'again', key: 'k1' });
    assert.deepEqual([duplicate.offset, duplicate.duplicate], [1, true]);

    const quiet = await a.request({
      type: 'publish',
      id: 4,
      channel: 'chat',
      data: 'not to me',
      echo: false,
    });
    assert.equal(quiet.offset, 2);
    await b.waitForOffset('chat', 2);
    const conflict = await a.request({ type: 'publish', id: 5, channel: 'chat', data: 'x', ifOffset: 1 });
    assert.equal(conflict.code, ErrorCode.conflict);
    assert.equal(conflict.channel, 'chat');
    assert.deepEqual((conflict.details as { offset: number }).offset, 2);
    await a.request({ type: 'publish', id: 6, channel: 'chat', data: 'last', ifOffset: 2 });
    await a.waitForOffset('chat', 3);
    await b.waitForOffset('chat', 3);
    assert.deepEqual(offsets(a.frames, 'chat'), [1, 3], 'echo: false skips the publisher only');
    assert.deepEqual(offsets(b.frames, 'chat'), [1, 2, 3]);
  });

  test('an idle connection gets ping frames; pong frames are accepted', async (t) => {
    const srv = await server(t, { heartbeatMs: 60 });
    const ws = await client(t, `${srv.wsUrl}/ws`);
    await ws.next((f) => f.type === 'ping');
    ws.send({ type: 'pong' });
    await srv.hub.publish('x', 1);
    const reply = await ws.request({ type: 'subscribe', id: 1, channel: 'x' });
    assert.equal(reply.type, 'subscribed', 'the connection goes on');
  });

  test('a peer that never answers WebSocket pings is terminated', async (t) => {
    const srv = await server(t, { heartbeatMs: 40 });
    const ws = new WsClient(`${srv.wsUrl}/ws`);
    t.after(() => ws.close());
    await ws.opened;
    // Stop the client's automatic pong replies (and all reading), as a dead peer would.
    const raw = (ws.socket as unknown as { _socket: Socket })._socket;
    raw.pause();
    await until(() => srv.tidings.stats().connections.websocket === 0, 'the server dropped the peer');
    raw.resume();
    const closed = await ws.closed;
    assert.equal(closed.code, 1006, 'cut without a close handshake');
  });

  test('a slow consumer is disconnected with SLOW_CONSUMER, then resumes from its cursor without loss', async (t) => {
    const hub = createHub({ defaultHistory: { size: 100_000 }, onError: () => {} });
    const max = 64 * 1024;
    const srv = await server(t, { hub, limits: { maxBufferedBytes: max } });
    const sockets: Socket[] = [];
    srv.server.on('connection', (socket) => sockets.push(socket));
    const ws = await client(t, `${srv.wsUrl}/ws`);
    await ws.subscribe('firehose', 1);
    const raw = (ws.socket as unknown as { _socket: Socket })._socket;
    raw.pause();
    const payload = 'x'.repeat(4096);
    let published = 0;
    // Until the kernel's buffers are full and the server holds more than it allows: it drops the client then.
    while (sockets[0].writableLength <= max) {
      for (let i = 0; i < 50; i++) await hub.publish('firehose', { n: ++published, payload });
      await sleep(1);
      assert.ok(published < 50_000, 'the server never stopped writing');
    }
    for (let i = 0; i < 100; i++) await hub.publish('firehose', { n: ++published, payload });
    raw.resume();
    const closed = await ws.closed;
    const disconnect = ws.frames.at(-1)!;
    assert.deepEqual(
      [disconnect.type, disconnect.code, disconnect.reconnect],
      ['disconnect', ErrorCode.slowConsumer, true],
    );
    assert.deepEqual(closed, { code: closeCode(ErrorCode.slowConsumer), reason: ErrorCode.slowConsumer });
    const got = ws.frames.filter(isMessage('firehose'));
    assert.ok(got.length < published, 'it fell behind');
    const last = got.at(-1)!;
    const from = { epoch: last.epoch, offset: last.offset };

    const again = await client(t, `${srv.wsUrl}/ws`);
    await again.subscribe('firehose', 1, from);
    await again.waitForOffset('firehose', published);
    assert.deepEqual(
      [...offsets(ws.frames, 'firehose'), ...offsets(again.frames, 'firehose')],
      range(1, published),
    );
  });
});
