import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ErrorCode } from '@tidings/protocol';
import type { TidingsServerOptions } from '@tidings/server';
import { type Listening, listen } from '@tidings/testing';
import { getJson, isMessage, publishHttp, StreamClient, until, WsClient } from './protocol-clients.js';

type T = { after(fn: () => unknown): void };

const LIMITS = {
  maxFrameBytes: 4 * 1024,
  maxMessageBytes: 1024,
  maxSubscriptions: 3,
  publishRate: { perSecond: 1, burst: 5 },
};

/** A server, a bystander subscribed to `watch`, and a client to misbehave with. */
async function setup(t: T, options: TidingsServerOptions = {}) {
  const srv = await listen({ limits: LIMITS, ...options });
  t.after(srv.close);
  const bystander = await WsClient.open(`${srv.wsUrl}/ws`);
  const client = await WsClient.open(`${srv.wsUrl}/ws`);
  t.after(() => {
    bystander.close();
    client.close();
  });
  await bystander.subscribe('watch', 1);
  return { srv, bystander, client };
}

let marker = 0;
/** The server is alive and the bystander still gets its messages. */
async function assertOthersUnaffected(srv: Listening, bystander: WsClient): Promise<void> {
  const data = { marker: ++marker };
  await srv.hub.publish('watch', data);
  const got = await bystander.next(
    (f) => isMessage('watch')(f) && (f.data as typeof data).marker === data.marker,
  );
  assert.ok(got);
  const health = await getJson(`${srv.url}/poll?channel=watch`);
  assert.equal(health.status, 200);
}

/** The misbehaving connection goes on too. */
async function assertStillServed(client: WsClient, id: number): Promise<void> {
  const reply = await client.request({ type: 'subscribe', id, channel: `alive-${id}` });
  assert.equal(reply.type, 'subscribed');
  await client.request({ type: 'unsubscribe', id, channel: `alive-${id}` });
}

describe('bad input over the WebSocket: an error frame with a stable code, and everything goes on', () => {
  const cases: [string, unknown, ErrorCode, number | undefined][] = [
    ['malformed JSON', '{"type":"subscribe",', ErrorCode.malformedFrame, undefined],
    ['not an object', '[1,2]', ErrorCode.malformedFrame, undefined],
    ['unknown frame type', { type: 'teleport', id: 1 }, ErrorCode.unknownFrame, 1],
    ['channel of the wrong type', { type: 'subscribe', id: 2, channel: 42 }, ErrorCode.invalidChannel, 2],
    ['invalid channel name', { type: 'subscribe', id: 3, channel: 'bad name!' }, ErrorCode.invalidChannel, 3],
    [
      'since of the wrong type',
      { type: 'subscribe', id: 4, channel: 'ok', since: 7 },
      ErrorCode.invalidField,
      4,
    ],
    [
      'pattern with a position',
      { type: 'subscribe', id: 5, channel: 'a.*', since: 'snapshot' },
      ErrorCode.invalidField,
      5,
    ],
    [
      'id of the wrong type',
      { type: 'subscribe', id: 'x', channel: 'ok' },
      ErrorCode.invalidField,
      undefined,
    ],
    ['publish without data', { type: 'publish', id: 6, channel: 'ok' }, ErrorCode.invalidField, 6],
    [
      'publish to a pattern',
      { type: 'publish', id: 7, channel: 'a.*', data: 1 },
      ErrorCode.invalidChannel,
      7,
    ],
    [
      'key too long',
      { type: 'publish', id: 8, channel: 'ok', data: 1, key: 'k'.repeat(129) },
      ErrorCode.invalidField,
      8,
    ],
    [
      'data too large',
      { type: 'publish', id: 9, channel: 'ok', data: 'x'.repeat(2000) },
      ErrorCode.messageTooLarge,
      9,
    ],
    [
      // The id is read from the frame's start, so the client can fail exactly that publish.
      'frame too large',
      { type: 'publish', id: 10, channel: 'ok', data: 'x'.repeat(6000) },
      ErrorCode.frameTooLarge,
      10,
    ],
    ['empty refresh token', { type: 'refresh', id: 11, token: '' }, ErrorCode.invalidField, 11],
  ];
  for (const [name, frame, code, id] of cases) {
    test(name, async (t) => {
      const { srv, bystander, client } = await setup(t);
      const from = client.frames.length;
      client.send(frame);
      const error = await client.next((f) => f.type === 'error', 'error', from);
      assert.equal(error.code, code, JSON.stringify(error));
      assert.equal(error.id, id);
      assert.equal(typeof error.message, 'string');
      await assertStillServed(client, 100);
      await assertOthersUnaffected(srv, bystander);
      assert.equal((await srv.hub.position('ok')).offset, 0, 'nothing was published');
    });
  }

  test('binary frames are MALFORMED_FRAME', async (t) => {
    const { srv, bystander, client } = await setup(t);
    client.socket.send(Buffer.from('{"type":"pong"}'), { binary: true });
    const error = await client.next((f) => f.type === 'error');
    assert.equal(error.code, ErrorCode.malformedFrame);
    await assertStillServed(client, 1);
    await assertOthersUnaffected(srv, bystander);
  });

  test('a frame far over the limit closes that connection with 1009, and only it', async (t) => {
    const { srv, bystander, client } = await setup(t);
    client.send({ type: 'publish', channel: 'ok', data: 'x'.repeat(LIMITS.maxFrameBytes * 5) });
    const closed = await client.closed;
    assert.equal(closed.code, 1009);
    await assertOthersUnaffected(srv, bystander);
  });

  test('too many subscriptions: TOO_MANY_SUBSCRIPTIONS for the extra ones', async (t) => {
    const { srv, bystander, client } = await setup(t);
    for (let i = 1; i <= 3; i++) await client.subscribe(`c${i}`, i);
    const extra = await client.request({ type: 'subscribe', id: 4, channel: 'c4' });
    assert.deepEqual(
      [extra.type, extra.code, extra.channel],
      ['error', ErrorCode.tooManySubscriptions, 'c4'],
    );
    await client.request({ type: 'unsubscribe', id: 5, channel: 'c1' });
    await client.subscribe('c4', 6);
    await srv.hub.publish('c2', 'still');
    await client.next(isMessage('c2'));
    await assertOthersUnaffected(srv, bystander);
  });

  test('publishing over the rate: RATE_LIMITED, nothing published beyond the burst', async (t) => {
    const { srv, bystander, client } = await setup(t);
    const replies = [];
    for (let id = 1; id <= 8; id++) {
      client.send({ type: 'publish', id, channel: 'rated', data: id });
    }
    for (let id = 1; id <= 8; id++) replies.push(await client.next((f) => f.id === id, `reply ${id}`));
    const codes = replies.map((r) => (r.type === 'ack' ? 'ack' : r.code));
    assert.deepEqual(codes.slice(0, 5), ['ack', 'ack', 'ack', 'ack', 'ack']);
    assert.deepEqual(codes.slice(5), [ErrorCode.rateLimited, ErrorCode.rateLimited, ErrorCode.rateLimited]);
    assert.equal((await srv.hub.position('rated')).offset, 5);
    await assertOthersUnaffected(srv, bystander);
  });

  test('a wrong protocol version: disconnect UNSUPPORTED_VERSION, close 4400', async (t) => {
    const { srv, bystander } = await setup(t);
    const client = new WsClient(`${srv.wsUrl}/ws?v=2`);
    const closed = await client.closed;
    assert.deepEqual(
      client.frames.map((f) => [f.type, f.code, f.reconnect]),
      [['disconnect', ErrorCode.unsupportedVersion, false]],
    );
    assert.deepEqual(closed, { code: 4400, reason: ErrorCode.unsupportedVersion });
    await assertOthersUnaffected(srv, bystander);
  });
});

describe('bad input over HTTP: the status of the code, an error body, and everything goes on', () => {
  const reads: [string, string, number, ErrorCode][] = [
    ['no channel', '/sse', 400, ErrorCode.invalidField],
    ['an invalid channel', '/stream?channel=no%20spaces', 400, ErrorCode.invalidChannel],
    ['a bad cursor', '/poll?channel=a&cursor=a=nope', 400, ErrorCode.invalidCursor],
    ['a cursor with a bad offset', '/longpoll?channel=a&cursor=a=Ep:-1', 400, ErrorCode.invalidCursor],
    ['a bad since', '/sse?channel=a&since=yesterday', 400, ErrorCode.invalidField],
    ['a bad wait', '/longpoll?channel=a&wait=soon', 400, ErrorCode.invalidField],
    ['a pattern on a poll', '/poll?channel=a.*', 400, ErrorCode.invalidChannel],
    [
      'too many channels',
      '/sse?channel=a&channel=b&channel=c&channel=d',
      400,
      ErrorCode.tooManySubscriptions,
    ],
    ['a wrong version', '/stream?channel=a&v=9', 400, ErrorCode.unsupportedVersion],
    ['an unknown endpoint', '/teleport', 404, ErrorCode.invalidField],
  ];
  for (const [name, path, status, code] of reads) {
    test(name, async (t) => {
      const { srv, bystander } = await setup(t);
      const answer = await getJson(`${srv.url}${path}`);
      assert.deepEqual([answer.status, answer.body.type, answer.body.code], [status, 'error', code]);
      assert.equal(answer.headers.get('cache-control'), 'no-store');
      await assertOthersUnaffected(srv, bystander);
    });
  }

  const publishes: [string, unknown, Record<string, string>, number, ErrorCode][] = [
    ['malformed JSON', '{"channel":', {}, 400, ErrorCode.malformedFrame],
    ['not an object', '"hello"', {}, 400, ErrorCode.malformedFrame],
    ['no data', { channel: 'ok' }, {}, 400, ErrorCode.invalidField],
    ['an invalid channel', { channel: '', data: 1 }, {}, 400, ErrorCode.invalidChannel],
    [
      'ifOffset of the wrong type',
      { channel: 'ok', data: 1, ifOffset: 'x' },
      {},
      400,
      ErrorCode.invalidField,
    ],
    ['data too large', { channel: 'ok', data: 'x'.repeat(2000) }, {}, 413, ErrorCode.messageTooLarge],
    ['a body too large', { channel: 'ok', data: 'x'.repeat(10_000) }, {}, 413, ErrorCode.frameTooLarge],
    [
      'an empty Idempotency-Key',
      { channel: 'ok', data: 1 },
      { 'idempotency-key': '' },
      400,
      ErrorCode.invalidField,
    ],
  ];
  for (const [name, body, headers, status, code] of publishes) {
    test(`publish: ${name}`, async (t) => {
      const { srv, bystander } = await setup(t);
      const answer = await publishHttp(srv.url, body, headers);
      assert.deepEqual([answer.status, answer.body.code], [status, code]);
      assert.equal((await srv.hub.position('ok')).offset, 0, 'nothing was published');
      await assertOthersUnaffected(srv, bystander);
    });
  }

  test('the limits are told: in the welcome of WebSocket, SSE and stream, on publish and poll answers', async (t) => {
    const { srv, client } = await setup(t);
    const welcome = client.frames.find((f) => f.type === 'welcome')!;
    assert.deepEqual([welcome.maxMessageBytes, welcome.maxFrameBytes], [1024, 4096]);
    for (const kind of ['sse', 'stream'] as const) {
      const stream = await StreamClient.open(`${srv.url}/${kind}?channel=ok`, kind);
      const first = await stream.next(() => true);
      stream.abort();
      assert.deepEqual([first.type, first.maxMessageBytes, first.maxFrameBytes], ['welcome', 1024, 4096]);
    }
    for (const endpoint of ['poll', 'longpoll']) {
      const answer = await fetch(`${srv.url}/${endpoint}?channel=ok&wait=0`);
      await answer.body?.cancel();
      assert.equal(answer.headers.get('tidings-limits'), 'maxMessageBytes=1024, maxFrameBytes=4096');
    }
    for (const body of [
      { channel: 'ok', data: 1 },
      { channel: 'ok', data: 'x'.repeat(2000) },
    ]) {
      const answer = await fetch(`${srv.url}/publish`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
      await answer.body?.cancel();
      assert.equal(answer.headers.get('tidings-limits'), 'maxMessageBytes=1024, maxFrameBytes=4096');
    }
  });

  test('poll answers tell when the token expires (in Tidings-Limits), as a welcome would', async (t) => {
    const expiresAt = Date.now() + 60_000;
    const srv = await listen({ authenticate: () => ({ id: 'u', expiresAt }) });
    t.after(srv.close);
    for (const endpoint of ['poll', 'longpoll']) {
      const answer = await fetch(`${srv.url}/${endpoint}?channel=ok&wait=0`);
      await answer.body?.cancel();
      assert.match(answer.headers.get('tidings-limits')!, new RegExp(`, expiresAt=${expiresAt}$`));
    }
  });

  test('publish: the wrong method is 405', async (t) => {
    const { srv } = await setup(t);
    const answer = await getJson(`${srv.url}/publish`);
    assert.deepEqual([answer.status, answer.body.code], [405, ErrorCode.invalidField]);
    assert.equal(answer.headers.get('allow'), 'POST, OPTIONS');
  });

  test('publish: over the rate is 429 RATE_LIMITED', async (t) => {
    const { srv, bystander } = await setup(t);
    const statuses = [];
    for (let i = 0; i < 7; i++)
      statuses.push((await publishHttp(srv.url, { channel: 'rated', data: i })).status);
    assert.deepEqual(statuses, [200, 200, 200, 200, 200, 429, 429]);
    assert.equal((await srv.hub.position('rated')).offset, 5);
    await assertOthersUnaffected(srv, bystander);
  });

  test('connections per identity: TOO_MANY_CONNECTIONS (429 / close 4429)', async (t) => {
    const { srv, bystander, client } = await setup(t, {
      limits: { ...LIMITS, maxConnectionsPerIdentity: 2 },
    });
    const third = new WsClient(`${srv.wsUrl}/ws`);
    const closed = await third.closed;
    assert.deepEqual(
      third.frames.map((f) => [f.code, f.reconnect]),
      [[ErrorCode.tooManyConnections, true]],
    );
    assert.equal(closed.code, 4429);
    const answer = await getJson(`${srv.url}/poll?channel=a`);
    assert.deepEqual([answer.status, answer.body.code], [429, ErrorCode.tooManyConnections]);
    client.close();
    await until(() => srv.tidings.stats().connections.websocket === 1, 'the client left');
    await assertOthersUnaffected(srv, bystander);
  });
});
