// `GET /history` (docs/PROTOCOL.md): pages of a channel's retained history, authorized like a
// subscribe; the newest page, `before` for scroll-back, `since` for what was missed (or a reset).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { listen } from '@tidings/testing';
import { getJson, WsClient } from './protocol-clients.js';

const page = async (url: string) => (await getJson(url)).body as unknown as Page;

type Page = {
  epoch: string;
  offset: number;
  reset: boolean;
  frames: { type: string; offset: number; data: unknown }[];
};

test('GET /history: newest, before, since, and a since that cannot be served', async (t) => {
  const srv = await listen({ canSubscribe: (_identity, channel) => channel !== 'secret' });
  t.after(srv.close);
  for (let i = 1; i <= 12; i++) await srv.hub.publish('chat', i);
  const newest = await page(`${srv.url}/history?channel=chat&limit=5`);
  assert.equal(newest.offset, 12);
  assert.equal(newest.reset, false);
  assert.deepEqual(
    newest.frames.map((f) => [f.type, f.data]),
    [8, 9, 10, 11, 12].map((i) => ['message', i]),
  );
  const { epoch } = newest;
  const older = await page(`${srv.url}/history?channel=chat&limit=5&before=${epoch}:8`);
  assert.deepEqual(
    older.frames.map((f) => f.offset),
    [3, 4, 5, 6, 7],
  );
  const first = await page(`${srv.url}/history?channel=chat&limit=5&before=${epoch}:3`);
  assert.deepEqual(
    first.frames.map((f) => f.offset),
    [1, 2],
  );
  const missed = await page(`${srv.url}/history?channel=chat&since=${epoch}:10`);
  assert.deepEqual(
    missed.frames.map((f) => f.offset),
    [11, 12],
  );
  await srv.hub.setState('chat', 'state');
  const reset = await page(`${srv.url}/history?channel=chat&since=other:3`);
  assert.equal(reset.reset, true);
  assert.equal(reset.frames[0].type, 'snapshot');

  const refused = await getJson(`${srv.url}/history?channel=secret`);
  assert.equal(refused.status, 403);
  for (const query of [
    'channel=chat&limit=0',
    'channel=chat&before=nope',
    'channel=chat&since=chat:',
    'channel=chat&channel=x',
    'channel=a.*',
  ]) {
    const bad = await getJson(`${srv.url}/history?${query}`);
    assert.equal(bad.status, 400, query);
  }
});

test('WebSocket `history` request: the page GET /history reads, and its errors by id', async (t) => {
  const srv = await listen({ canSubscribe: (_identity, channel) => channel !== 'secret' });
  t.after(srv.close);
  for (let i = 1; i <= 12; i++) await srv.hub.publish('chat', i);
  const ws = await WsClient.open(`${srv.wsUrl}/ws`);
  t.after(() => ws.close());
  const http = await page(
    `${srv.url}/history?channel=chat&limit=5&before=${(await page(`${srv.url}/history?channel=chat`)).epoch}:8`,
  );
  const { epoch } = http;
  const reply = await ws.request({
    type: 'history',
    id: 7,
    channel: 'chat',
    before: { epoch, offset: 8 },
    limit: 5,
  });
  assert.deepEqual(reply, { type: 'history', id: 7, channel: 'chat', ...http });
  assert.deepEqual(
    http.frames.map((f) => f.offset),
    [3, 4, 5, 6, 7],
  );
  const cases: [Record<string, unknown>, string][] = [
    [{ channel: 'secret' }, 'FORBIDDEN'],
    [{ channel: 'chat', since: { epoch: 'no such', offset: 1 } }, 'INVALID_CURSOR'],
    [{ channel: 'chat', before: 'chat:3' }, 'INVALID_CURSOR'],
    [{ channel: 'chat', limit: 0 }, 'INVALID_FIELD'],
    [{ channel: 'a.*' }, 'INVALID_CHANNEL'],
  ];
  let id = 10;
  for (const [fields, code] of cases) {
    const error = await ws.request({ type: 'history', id: ++id, ...fields });
    assert.equal(error.type, 'error', JSON.stringify(fields));
    assert.equal(error.code, code, JSON.stringify(fields));
    // About the request, not a subscription failing.
    assert.equal(error.channel, undefined);
  }
  // The connection goes on.
  assert.equal((await ws.request({ type: 'history', id: 99, channel: 'chat', limit: 1 })).type, 'history');
});
