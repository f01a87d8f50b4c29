import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { signToken } from '@tidings/server';
import { API_KEY, api, openSse, openWs, startInProcess } from './support.js';

const SECRET = 'a-shared-secret-of-at-least-32-bytes!';

const ENDPOINTS: ['GET' | 'POST', string, unknown][] = [
  ['POST', '/publish', { channel: 'a', data: 1 }],
  ['POST', '/broadcast', { channels: ['a'], data: 1 }],
  ['POST', '/state', { channel: 'a', data: 1 }],
  ['GET', '/history?channel=a', undefined],
  ['POST', '/disconnect', { user: 'u' }],
  ['GET', '/channels', undefined],
];

describe('HTTP API', () => {
  test("the API's idempotency keys are its own: a browser that uses the documented key first takes nothing", async () => {
    const { url } = await startInProcess({ publish: true });
    const browser = await openWs(url);
    browser.send({ type: 'publish', id: 1, channel: 'orders.42', data: 'forged', key: 'order-42-shipped' });
    const forged = await browser.next((frame) => frame.id === 1);
    assert.deepEqual([forged.type, forged.offset, forged.duplicate], ['ack', 1, undefined]);
    const body = { channel: 'orders.42', data: { status: 'shipped' }, key: 'order-42-shipped' };
    const real = await api(url, 'POST', '/publish', body);
    assert.deepEqual([real.status, real.body.offset, real.body.duplicate], [200, 2, undefined]);
    const retried = await api(url, 'POST', '/publish', body);
    assert.deepEqual([retried.body.offset, retried.body.duplicate], [2, true]);
    const history = await api(url, 'GET', '/history?channel=orders.42');
    assert.deepEqual(
      (history.body.messages as { data: unknown }[]).map((m) => m.data),
      ['forged', { status: 'shipped' }],
    );
    browser.ws.close();
  });

  test('client publishing is closed by default; the API always publishes', async () => {
    const { url } = await startInProcess();
    const client = await openWs(url);
    client.send({ type: 'publish', id: 1, channel: 'news', data: 1 });
    assert.equal((await client.next((frame) => frame.id === 1)).code, 'FORBIDDEN');
    assert.equal((await api(url, 'POST', '/publish', { channel: 'news', data: 1 })).status, 200);
    client.ws.close();
  });

  test('every endpoint refuses a missing or wrong key with 401 UNAUTHORIZED, and takes both header forms', async () => {
    const { url } = await startInProcess();
    for (const [method, path, body] of ENDPOINTS) {
      const missing = await api(url, method, path, body, {});
      assert.equal(missing.status, 401, path);
      assert.deepEqual(missing.body, {
        type: 'error',
        code: 'UNAUTHORIZED',
        message: 'missing API key: send "Authorization: apikey <key>" or "X-API-Key: <key>"',
      });
      const wrong = await api(url, method, path, body, { 'x-api-key': `${API_KEY}x` });
      assert.equal(wrong.status, 401, path);
      assert.equal(wrong.body.message, 'invalid API key');
      const bearer = await api(url, method, path, body, { authorization: `Bearer ${API_KEY}` });
      assert.equal(bearer.status, 401, `${path}: a bearer token is a client's, not the API key`);
      assert.equal((await api(url, method, path, body)).status, 200, path);
      assert.equal((await api(url, method, path, body, { 'x-api-key': API_KEY })).status, 200, path);
    }
    // Without the key not even the list of endpoints is told.
    assert.equal((await api(url, 'GET', '/nope', undefined, {})).status, 401);
    const unknown = await api(url, 'GET', '/subscribers?channel=a');
    assert.equal(unknown.status, 404);
    assert.deepEqual(unknown.body, {
      type: 'error',
      code: 'INVALID_FIELD',
      message: 'no such API endpoint: /subscribers',
    });
    const method = await fetch(`${url}/api/publish`, { headers: { 'x-api-key': API_KEY } });
    assert.equal(method.status, 405);
    assert.equal(method.headers.get('allow'), 'POST');
  });

  test('publish: delivered to subscribers; idempotent with a key (body or Idempotency-Key); ifOffset; ttl', async () => {
    const { url } = await startInProcess();
    const sse = await openSse(`${url}/tidings/sse?channel=orders.1`);
    await sse.next((frame) => frame.type === 'subscribed');

    const first = await api(url, 'POST', '/publish', {
      channel: 'orders.1',
      data: { status: 'paid' },
      key: 'order-1-paid',
    });
    assert.equal(first.status, 200);
    assert.deepEqual(Object.keys(first.body).sort(), ['channel', 'epoch', 'offset', 'ts', 'type']);
    assert.equal(first.body.offset, 1);
    const again = await api(url, 'POST', '/publish', {
      channel: 'orders.1',
      data: { status: 'paid' },
      key: 'order-1-paid',
    });
    assert.deepEqual(again.body, { ...first.body, duplicate: true });
    const header = await api(
      url,
      'POST',
      '/publish',
      { channel: 'orders.1', data: 2 },
      {
        'x-api-key': API_KEY,
        'idempotency-key': 'order-1-paid',
      },
    );
    assert.equal(header.body.duplicate, true);

    const conflict = await api(url, 'POST', '/publish', { channel: 'orders.1', data: 3, ifOffset: 0 });
    assert.equal(conflict.status, 409);
    assert.equal(conflict.body.code, 'CONFLICT');
    assert.deepEqual(conflict.body.details, { epoch: first.body.epoch, offset: 1 });
    const ok = await api(url, 'POST', '/publish', {
      channel: 'orders.1',
      data: { status: 'shipped' },
      ifOffset: 1,
      ttl: 60_000,
    });
    assert.equal(ok.body.offset, 2);

    await sse.next((frame) => frame.type === 'message' && frame.offset === 2);
    const messages = sse.frames.filter((frame) => frame.type === 'message');
    assert.deepEqual(
      messages.map((frame) => frame.data),
      [{ status: 'paid' }, { status: 'shipped' }],
      'the duplicate was not delivered again',
    );
  });

  test('publish: bodies are validated and bounded', async () => {
    const { url } = await startInProcess({ limits: { maxFrameBytes: 1_024, maxMessageBytes: 512 } });
    const cases: [unknown, number, string, string][] = [
      [{ channel: 'a b', data: 1 }, 400, 'INVALID_CHANNEL', 'invalid channel name "a b"'],
      [{ channel: 'a' }, 400, 'INVALID_FIELD', 'body.data: expected "data": any JSON value'],
      [{ channel: 'a', data: 1, extra: true }, 400, 'INVALID_FIELD', 'body.extra: unknown field'],
      [
        { channel: 'a', data: 1, key: '' },
        400,
        'INVALID_FIELD',
        'body.key: expected a string of 1-128 characters',
      ],
      [
        { channel: 'a', data: 1, ttl: -5 },
        400,
        'INVALID_FIELD',
        'body.ttl: expected a positive integer (ms)',
      ],
      [{ channel: 7, data: 1 }, 400, 'INVALID_FIELD', 'body.channel: expected a channel name'],
      [[1, 2], 400, 'MALFORMED_FRAME', 'the body must be a JSON object'],
      ['{"channel":', 400, 'MALFORMED_FRAME', 'the body is not valid JSON'],
      [
        { channel: '_tidings.control', data: 1 },
        400,
        'INVALID_CHANNEL',
        "_tidings.control is reserved for the server's own use",
      ],
      [{ channel: 'a', data: 'x'.repeat(600) }, 413, 'MESSAGE_TOO_LARGE', ''],
      [
        { channel: 'a', data: 'x'.repeat(2_000) },
        413,
        'FRAME_TOO_LARGE',
        'request body larger than 1024 bytes',
      ],
    ];
    for (const [body, status, code, message] of cases) {
      const answer = await api(url, 'POST', '/publish', body);
      assert.equal(answer.status, status, JSON.stringify(body).slice(0, 80));
      assert.equal(answer.body.type, 'error');
      assert.equal(answer.body.code, code);
      if (message) assert.ok(String(answer.body.message).startsWith(message), String(answer.body.message));
    }
  });

  test('broadcast: a list of channels, or every known channel matching a pattern', async () => {
    const { url, hub } = await startInProcess();
    const list = await api(url, 'POST', '/broadcast', {
      channels: ['room.1', 'room.2'],
      data: { notice: 'hi' },
    });
    assert.equal(list.status, 200);
    const results = list.body.results as Record<string, unknown>[];
    assert.deepEqual(
      results.map((r) => [r.channel, r.offset]),
      [
        ['room.1', 1],
        ['room.2', 1],
      ],
    );
    await hub.publish('lobby', 'x');
    const pattern = await api(url, 'POST', '/broadcast', {
      pattern: 'room.*',
      data: { notice: 'all rooms' },
      key: 'b1',
    });
    const channels = (pattern.body.results as Record<string, unknown>[]).map((r) => r.channel).sort();
    assert.deepEqual(channels, ['room.1', 'room.2']);
    const retried = await api(url, 'POST', '/broadcast', {
      pattern: 'room.*',
      data: { notice: 'all rooms' },
      key: 'b1',
    });
    assert.ok((retried.body.results as Record<string, unknown>[]).every((r) => r.duplicate === true));
    const everything = await api(url, 'POST', '/broadcast', { pattern: '>', data: 1 });
    const names = (everything.body.results as Record<string, unknown>[]).map((r) => r.channel);
    assert.ok(!names.some((name) => String(name).startsWith('_tidings')), 'reserved channels are left out');

    const both = await api(url, 'POST', '/broadcast', { channels: ['a'], pattern: 'a.*', data: 1 });
    assert.equal(both.status, 400);
    assert.equal(both.body.message, 'body: expected exactly one of "channels" or "pattern"');
  });

  test('state: a snapshot that late subscribers get first', async () => {
    const { url } = await startInProcess();
    await api(url, 'POST', '/publish', { channel: 'scores', data: { goal: 1 } });
    const state = await api(url, 'POST', '/state', { channel: 'scores', data: { home: 1, away: 0 } });
    assert.equal(state.status, 200);
    assert.deepEqual(Object.keys(state.body).sort(), ['channel', 'epoch', 'offset']);
    assert.equal(state.body.offset, 1);
    const sse = await openSse(`${url}/tidings/sse?channel=scores&since=snapshot`);
    const snapshot = await sse.next((frame) => frame.type === 'snapshot');
    assert.deepEqual(snapshot.data, { home: 1, away: 0 });
    assert.equal((await api(url, 'POST', '/state', { channel: 'scores' })).status, 400);
  });

  test('history: the newest messages, or exactly those after a position; a lost position is a reset', async () => {
    const { url } = await startInProcess({ history: { 'log.*': { size: 3 } } });
    const acks = [];
    for (let i = 1; i <= 5; i++)
      acks.push((await api(url, 'POST', '/publish', { channel: 'log.a', data: { i } })).body);
    const epoch = acks[0]!.epoch as string;

    const newest = await api(url, 'GET', '/history?channel=log.a&limit=2');
    assert.equal(newest.status, 200);
    assert.equal(newest.body.reset, false);
    assert.deepEqual(
      (newest.body.messages as Record<string, unknown>[]).map((m) => m.data),
      [{ i: 4 }, { i: 5 }],
    );
    const after = await api(url, 'GET', `/history?channel=log.a&since=${epoch}:3`);
    assert.deepEqual(
      (after.body.messages as Record<string, unknown>[]).map((m) => m.offset),
      [4, 5],
    );
    assert.equal(after.body.offset, 5);
    const trimmed = await api(url, 'GET', `/history?channel=log.a&since=${epoch}:1`);
    assert.equal(trimmed.body.reset, true, 'offset 2 is no longer retained');

    for (const [query, message] of [
      ['', 'channel: required, e.g. ?channel=…'],
      ['channel=log.a&since=nocolon', 'since: expected a position "epoch:offset", e.g. "Ab12Cd34Ef56:17"'],
      ['channel=log.a&limit=0', 'limit: expected an integer from 1 to 1000'],
    ]) {
      const bad = await api(url, 'GET', `/history?${query}`);
      assert.equal(bad.status, 400);
      assert.equal(bad.body.message, message);
    }
  });

  test('channels: known channels with their local subscriber counts, by pattern', async () => {
    const { url } = await startInProcess();
    await api(url, 'POST', '/publish', { channel: 'chat.a', data: 1 });
    await api(url, 'POST', '/publish', { channel: 'chat.b', data: 1 });
    await api(url, 'POST', '/publish', { channel: 'news', data: 1 });
    const one = await openSse(`${url}/tidings/sse?channel=chat.a`);
    const two = await openSse(`${url}/tidings/sse?channel=chat.a&channel=news`);
    await one.next((frame) => frame.type === 'subscribed');
    await two.next((frame) => frame.type === 'subscribed' && frame.channel === 'news');

    const all = await api(url, 'GET', '/channels');
    assert.deepEqual(all.body, {
      channels: [
        { channel: 'chat.a', subscribers: 2 },
        { channel: 'chat.b', subscribers: 0 },
        { channel: 'news', subscribers: 1 },
      ],
    });
    const chat = await api(url, 'GET', '/channels?pattern=chat.*&limit=1');
    assert.deepEqual(chat.body, { channels: [{ channel: 'chat.a', subscribers: 2 }], truncated: true });
    one.close();
    two.close();
  });

  test('disconnect: every connection of one identity gets `disconnect` and is closed; others stay', async () => {
    const { url } = await startInProcess({ jwt: { secret: SECRET } });
    const alice = await signToken({ sub: 'alice' }, SECRET, { expiresIn: 600 });
    const bob = await signToken({ sub: 'bob' }, SECRET, { expiresIn: 600 });
    const aliceWs = await openWs(url, `?token=${alice}`);
    const aliceSse = await openSse(`${url}/tidings/sse?channel=news&token=${alice}`);
    const bobWs = await openWs(url, `?token=${bob}`);
    await aliceSse.next((frame) => frame.type === 'subscribed');

    const answer = await api(url, 'POST', '/disconnect', { user: 'alice', reason: 'logged out' });
    assert.deepEqual(answer.body, { user: 'alice', disconnected: 2 });
    for (const client of [aliceWs, aliceSse]) {
      const frame = await client.next((f) => f.type === 'disconnect');
      assert.deepEqual(frame, {
        type: 'disconnect',
        code: 'FORBIDDEN',
        reason: 'logged out',
        reconnect: false,
      });
    }
    assert.deepEqual(await aliceWs.closed, { code: 4403, reason: 'FORBIDDEN' });
    bobWs.send({ type: 'subscribe', id: 1, channel: 'news' });
    await bobWs.next((frame) => frame.type === 'subscribed');

    const reconnect = await api(url, 'POST', '/disconnect', { user: 'bob', code: 'SHUTTING_DOWN' });
    assert.equal(reconnect.body.disconnected, 1);
    const frame = await bobWs.next((f) => f.type === 'disconnect');
    assert.equal(frame.reconnect, true, 'a reconnect code keeps its action unless told otherwise');
    assert.equal((await api(url, 'POST', '/disconnect', { user: 'nobody' })).body.disconnected, 0);
    assert.equal((await api(url, 'POST', '/disconnect', { user: 'x', code: 'NOPE' })).status, 400);
  });

  test('presence: who is in a channel of the "presence" setting, across transports', async () => {
    const { url } = await startInProcess({ presence: ['room.*'], jwt: { secret: SECRET, required: false } });
    const dora = await signToken({ sub: 'dora', info: { name: 'Dora' } }, SECRET, { expiresIn: 600 });
    const ws = await openWs(url, `?token=${dora}`);
    ws.send({ type: 'subscribe', id: 1, channel: 'room.1' });
    await ws.next((frame) => frame.type === 'subscribed');
    const sse = await openSse(`${url}/tidings/sse?channel=room.1`);
    await sse.next((frame) => frame.type === 'subscribed');

    const answer = await api(url, 'GET', '/presence?channel=room.1');
    assert.equal(answer.status, 200);
    assert.equal(answer.body.channel, 'room.1');
    const members = answer.body.members as { client: string; user: string; info?: unknown }[];
    assert.deepEqual(members.map((m) => [m.user, m.info]).sort(), [
      ['anonymous', undefined],
      ['dora', { name: 'Dora' }],
    ]);
    assert.ok(members.every((m) => typeof m.client === 'string' && m.client !== ''));
    assert.deepEqual((await api(url, 'GET', '/presence?channel=room.2')).body, {
      channel: 'room.2',
      members: [],
    });

    const none = await api(url, 'GET', '/presence?channel=lobby');
    assert.equal(none.status, 400);
    assert.deepEqual(none.body, {
      type: 'error',
      code: 'UNSUPPORTED',
      message: 'lobby has no presence: list it in the "presence" setting',
    });
    assert.equal((await api(url, 'GET', '/presence', undefined, {})).status, 401);
    assert.equal((await api(url, 'GET', '/presence')).status, 400);
  });

  test('clients cannot use the reserved channels, even through a pattern', async () => {
    const { url } = await startInProcess();
    for (const channel of ['_tidings.control', '>', '*.control', '_tidings.*']) {
      const sse = await openSse(`${url}/tidings/sse?channel=${encodeURIComponent(channel)}`);
      assert.equal(sse.status, 403, channel);
      assert.equal(sse.frames[0]!.code, 'FORBIDDEN');
    }
    const publish = await fetch(`${url}/tidings/publish`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ channel: '_tidings.control', data: { type: 'disconnect', user: 'anonymous' } }),
    });
    assert.equal(publish.status, 403);
  });
});

describe('the "publish" setting: which channels clients may publish to', () => {
  const clientPublish = (url: string, channel: string) =>
    fetch(`${url}/tidings/publish`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ channel, data: 1 }),
    }).then((response) => response.status);

  test('a list opens only those channels; false closes all; the API may publish anywhere', async () => {
    const listed = await startInProcess({ publish: ['chat.*'] });
    assert.equal(await clientPublish(listed.url, 'chat.lobby'), 200);
    assert.equal(await clientPublish(listed.url, 'orders.42'), 403);
    assert.equal((await api(listed.url, 'POST', '/publish', { channel: 'orders.42', data: 1 })).status, 200);
    const closed = await startInProcess({ publish: false });
    assert.equal(await clientPublish(closed.url, 'chat.lobby'), 403);
    const open = await startInProcess({ publish: true });
    assert.equal(await clientPublish(open.url, 'orders.42'), 200);
  });
});
