import assert from 'node:assert/strict';
import type { Socket } from 'node:net';
import { describe, test } from 'node:test';
import { ErrorCode } from '@tidings/protocol';
import { createHub } from '@tidings/server';
import { listen } from '@tidings/server/testing';
import {
  cursorOf,
  getJson,
  isMessage,
  offsets,
  publishHttp,
  publishMany,
  range,
  StreamClient,
  WsClient,
} from './protocol-clients.js';

type T = { after(fn: () => unknown): void };

async function server(t: T, options: Parameters<typeof listen>[0] = {}) {
  const srv = await listen(options);
  t.after(srv.close);
  return srv;
}

async function stream(t: T, url: string, kind: 'sse' | 'stream', headers?: Record<string, string>) {
  const client = await StreamClient.open(url, kind, headers);
  t.after(() => client.abort());
  return client;
}

type Frames = Awaited<ReturnType<typeof getJson>>['body']['frames'];

/** Long-polls from `cursor` until a message with offset `last` of `channel` arrived; returns frames and the cursor. */
async function longPollUntil(url: string, channel: string, cursor: string, last: number) {
  const frames: Frames = [];
  for (;;) {
    const answer = await getJson(`${url}/longpoll?channel=${channel}&cursor=${cursor}&wait=2000`);
    assert.equal(answer.status, 200, JSON.stringify(answer.body));
    frames.push(...answer.body.frames);
    cursor = answer.body.cursor;
    if ((offsets(frames, channel).at(-1) ?? 0) >= last) return { frames, cursor };
  }
}

describe('sse', () => {
  test('headers, retry, and every message from now once, in order, each with the full cursor as id', async (t) => {
    const srv = await server(t);
    await publishMany(srv.hub, 'a', 3);
    await srv.hub.publish('b', 'b1');
    const sse = await stream(t, `${srv.url}/sse?channel=a&channel=b`, 'sse');
    assert.equal(sse.status, 200);
    assert.match(sse.headers!.get('content-type')!, /^text\/event-stream/);
    assert.equal(sse.headers!.get('cache-control'), 'no-store');
    assert.equal(sse.headers!.get('x-accel-buffering'), 'no');
    await sse.next((f) => f.type === 'subscribed' && f.channel === 'b');
    assert.equal(sse.retry, 1000);
    const epochA = (await srv.hub.position('a')).epoch;
    const epochB = (await srv.hub.position('b')).epoch;
    await publishMany(srv.hub, 'a', 200);
    await sse.waitForOffset('a', 203);
    assert.deepEqual(offsets(sse.frames, 'a'), range(4, 203));
    const lastIndex = sse.frames.findLastIndex(isMessage('a'));
    const id = sse.ids[lastIndex]!;
    assert.deepEqual(id.split(',').sort(), [`a=${epochA}:203`, `b=${epochB}:1`]);
  });

  test('from a cursor, or from the snapshot', async (t) => {
    const srv = await server(t);
    await publishMany(srv.hub, 'c', 10);
    const { epoch } = await srv.hub.position('c');
    const fromCursor = await stream(t, `${srv.url}/sse?channel=c&cursor=c=${epoch}:7`, 'sse');
    await fromCursor.waitForOffset('c', 10);
    assert.deepEqual(offsets(fromCursor.frames, 'c'), [8, 9, 10]);
    assert.equal(fromCursor.lastEventId, `c=${epoch}:10`);

    await srv.hub.setState('c', { v: 10 });
    await srv.hub.publish('c', 'after');
    const fromSnapshot = await stream(t, `${srv.url}/sse?channel=c&since=snapshot`, 'sse');
    await fromSnapshot.waitForOffset('c', 11);
    const types = fromSnapshot.frames.map((f) => `${f.type}@${f.offset}`);
    assert.deepEqual(types, ['welcome@undefined', 'subscribed@10', 'snapshot@10', 'message@11']);
  });

  test('an aborted stream resumes through Last-Event-ID, which wins over ?cursor', async (t) => {
    const srv = await server(t);
    const first = await stream(t, `${srv.url}/sse?channel=feed`, 'sse');
    await first.next((f) => f.type === 'subscribed');
    const publishing = publishMany(srv.hub, 'feed', 300);
    await first.waitForOffset('feed', 40);
    first.abort();
    await first.done;
    const { epoch } = await srv.hub.position('feed');
    const again = await stream(t, `${srv.url}/sse?channel=feed&cursor=feed=${epoch}:1`, 'sse', {
      'Last-Event-ID': first.lastEventId!,
    });
    await publishing;
    await again.waitForOffset('feed', 300);
    assert.deepEqual([...offsets(first.frames, 'feed'), ...offsets(again.frames, 'feed')], range(1, 300));
  });

  test('a stream cut by the server resumes through Last-Event-ID: nothing lost or repeated', async (t) => {
    const srv = await server(t);
    const sockets: Socket[] = [];
    srv.server.on('connection', (socket) => sockets.push(socket));
    const first = await stream(t, `${srv.url}/sse?channel=feed`, 'sse');
    await first.next((f) => f.type === 'subscribed');
    const publishing = publishMany(srv.hub, 'feed', 300);
    await first.waitForOffset('feed', 40);
    for (const socket of sockets) socket.destroy();
    await first.done;
    const again = await stream(t, `${srv.url}/sse?channel=feed`, 'sse', {
      'Last-Event-ID': first.lastEventId!,
    });
    await publishing;
    await again.waitForOffset('feed', 300);
    assert.deepEqual([...offsets(first.frames, 'feed'), ...offsets(again.frames, 'feed')], range(1, 300));
  });

  test('pattern channels stream live, without moving the event id', async (t) => {
    const srv = await server(t);
    const sse = await stream(t, `${srv.url}/sse?channel=room.*`, 'sse');
    await sse.next((f) => f.type === 'subscribed');
    await srv.hub.publish('room.a', 1);
    await sse.next(isMessage('room.a'));
    assert.equal(sse.lastEventId, undefined);
  });
});

describe('stream (NDJSON)', () => {
  test('every message once and in order; a cut stream resumes from a cursor built from its frames', async (t) => {
    const srv = await server(t);
    const sockets: Socket[] = [];
    srv.server.on('connection', (socket) => sockets.push(socket));
    const first = await stream(t, `${srv.url}/stream?channel=feed`, 'stream');
    assert.match(first.headers!.get('content-type')!, /^application\/x-ndjson/);
    assert.equal(first.headers!.get('cache-control'), 'no-store');
    await first.next((f) => f.type === 'subscribed');
    const publishing = publishMany(srv.hub, 'feed', 300);
    await first.waitForOffset('feed', 30);
    for (const socket of sockets) socket.destroy();
    await first.done;
    const again = await stream(
      t,
      `${srv.url}/stream?channel=feed&cursor=${cursorOf(first.frames)}`,
      'stream',
    );
    await publishing;
    await again.waitForOffset('feed', 300);
    assert.deepEqual([...offsets(first.frames, 'feed'), ...offsets(again.frames, 'feed')], range(1, 300));
  });

  test('from the snapshot', async (t) => {
    const srv = await server(t);
    await publishMany(srv.hub, 'doc', 2);
    await srv.hub.setState('doc', 'state');
    await srv.hub.publish('doc', 'three');
    const client = await stream(t, `${srv.url}/stream?channel=doc&since=snapshot`, 'stream');
    await client.waitForOffset('doc', 3);
    assert.deepEqual(
      client.frames.map((f) => [f.type, f.offset, f.data]),
      [
        ['welcome', undefined, undefined],
        ['subscribed', 2, undefined],
        ['snapshot', 2, 'state'],
        ['message', 3, 'three'],
      ],
    );
  });
});

describe('longpoll and poll', () => {
  test('long-polling with the returned cursor receives every message once, in order', async (t) => {
    const srv = await server(t);
    await publishMany(srv.hub, 'feed', 5);
    const pending = getJson(`${srv.url}/longpoll?channel=feed&wait=5000`);
    const publishing = (async () => {
      await new Promise((resolve) => setTimeout(resolve, 30));
      await publishMany(srv.hub, 'feed', 200);
    })();
    const first = await pending;
    assert.equal(first.status, 200);
    assert.equal(first.headers.get('cache-control'), 'no-store');
    assert.ok(first.body.frames.length >= 1, 'answered on the first message');
    assert.equal(first.body.frames[0].offset, 6, 'a first request starts from now');
    const rest = await longPollUntil(srv.url, 'feed', first.body.cursor, 205);
    await publishing;
    assert.deepEqual(offsets([...first.body.frames, ...rest.frames], 'feed'), range(6, 205));
    const { epoch } = await srv.hub.position('feed');
    assert.equal(rest.cursor, `feed=${epoch}:205`);
  });

  test('a long-poll that waits in vain answers no frames and the current position', async (t) => {
    const srv = await server(t);
    await publishMany(srv.hub, 'quiet', 2);
    const { epoch } = await srv.hub.position('quiet');
    const answer = await getJson(`${srv.url}/longpoll?channel=quiet&wait=50`);
    assert.deepEqual(answer.body, { frames: [], cursor: `quiet=${epoch}:2` });
    await srv.hub.publish('quiet', 'missed?');
    const next = await getJson(`${srv.url}/longpoll?channel=quiet&wait=50&cursor=${answer.body.cursor}`);
    assert.deepEqual(
      offsets(next.body.frames, 'quiet'),
      [3],
      'nothing published between two polls is missed',
    );
  });

  test('at most 1000 frames per answer; the cursor stops at the last one', async (t) => {
    const hub = createHub({ defaultHistory: { size: 5_000 }, onError: () => {} });
    const srv = await server(t, { hub });
    await publishMany(hub, 'big', 1_500);
    const { epoch } = await hub.position('big');
    const first = await getJson(`${srv.url}/poll?channel=big&cursor=big=${epoch}:0`);
    assert.equal(first.body.frames.length, 1_000);
    assert.equal(first.body.cursor, `big=${epoch}:1000`);
    const second = await getJson(`${srv.url}/longpoll?channel=big&cursor=${first.body.cursor}`);
    assert.deepEqual(offsets([...first.body.frames, ...second.body.frames], 'big'), range(1, 1_500));
    assert.equal(second.body.cursor, `big=${epoch}:1500`);
  });

  test('poll answers at once: the catch-up, a snapshot, a reset; every channel in the cursor', async (t) => {
    const srv = await server(t);
    await publishMany(srv.hub, 'x', 3);
    await srv.hub.setState('x', 'three');
    await srv.hub.publish('x', 'four');
    const ex = (await srv.hub.position('x')).epoch;
    const ey = (await srv.hub.position('y')).epoch;
    const now = await getJson(`${srv.url}/poll?channel=x&channel=y`);
    assert.deepEqual(now.body.frames, []);
    assert.deepEqual(now.body.cursor.split(',').sort(), [`x=${ex}:4`, `y=${ey}:0`]);

    const snap = await getJson(`${srv.url}/poll?channel=x&since=snapshot`);
    assert.deepEqual(
      snap.body.frames.map((f) => `${f.type}@${f.offset}`),
      ['snapshot@3', 'message@4'],
    );
    assert.equal(snap.body.cursor, `x=${ex}:4`);

    const stale = await getJson(`${srv.url}/poll?channel=x&cursor=x=Stale:2`);
    assert.deepEqual(
      stale.body.frames.map((f) => `${f.type}@${f.offset}`),
      ['reset@3', 'snapshot@3', 'message@4'],
    );
    assert.equal(stale.body.cursor, `x=${ex}:4`);
  });
});

describe('POST publish', () => {
  test('ack with the position; idempotency key in the header; ifOffset conflicts', async (t) => {
    const srv = await server(t);
    const ws = await WsClient.open(`${srv.wsUrl}/ws`);
    t.after(() => ws.close());
    await ws.subscribe('chat', 1);
    const ack = await publishHttp(
      srv.url,
      { channel: 'chat', data: { text: 'hi' } },
      { 'Idempotency-Key': 'k1' },
    );
    assert.equal(ack.status, 200);
    assert.equal(ack.headers.get('cache-control'), 'no-store');
    const { epoch } = await srv.hub.position('chat');
    assert.deepEqual(ack.body, { type: 'ack', channel: 'chat', epoch, offset: 1, ts: ack.body.ts });
    const message = await ws.next(isMessage('chat'));
    assert.deepEqual([message.offset, message.data], [1, { text: 'hi' }]);

    const again = await publishHttp(srv.url, { channel: 'chat', data: 'again', key: 'k1' });
    assert.deepEqual([again.status, again.body.offset, again.body.duplicate], [200, 1, true]);
    const conflict = await publishHttp(srv.url, { channel: 'chat', data: 'x', ifOffset: 0 });
    assert.equal(conflict.status, 409);
    assert.equal(conflict.body.code, ErrorCode.conflict);
    assert.deepEqual(conflict.body.details, { epoch, offset: 1 });
    const mismatch = await publishHttp(
      srv.url,
      { channel: 'chat', data: 'x', key: 'a' },
      { 'Idempotency-Key': 'b' },
    );
    assert.deepEqual([mismatch.status, mismatch.body.code], [400, ErrorCode.invalidField]);
    assert.deepEqual((await srv.hub.position('chat')).offset, 1, 'nothing else was published');
  });
});

describe('switching transports mid-stream', () => {
  test('WebSocket, then long-poll, then SSE, then NDJSON, with the cursor: no gap, no duplicate', async (t) => {
    const hub = createHub({ defaultHistory: { size: 10_000 }, onError: () => {} });
    const srv = await server(t, { hub });
    const total = 800;
    const publishing = publishMany(hub, 'feed', total);
    const received: Frames = [];

    const ws = await WsClient.open(`${srv.wsUrl}/ws`);
    await ws.subscribe('feed', 1, { epoch: (await hub.position('feed')).epoch, offset: 0 });
    await ws.waitForOffset('feed', 100);
    ws.close();
    await ws.closed;
    received.push(...ws.frames);

    const target = offsets(received, 'feed').at(-1)! + 100;
    const polled = await longPollUntil(srv.url, 'feed', cursorOf(received), target);
    received.push(...polled.frames);

    const sse = await stream(t, `${srv.url}/sse?channel=feed&cursor=${polled.cursor}`, 'sse');
    await sse.waitForOffset('feed', target + 100);
    sse.abort();
    await sse.done;
    received.push(...sse.frames);

    const ndjson = await stream(t, `${srv.url}/stream?channel=feed&cursor=${sse.lastEventId}`, 'stream');
    await publishing;
    await ndjson.waitForOffset('feed', total);
    received.push(...ndjson.frames);
    assert.deepEqual(offsets(received, 'feed'), range(1, total));
  });
});
