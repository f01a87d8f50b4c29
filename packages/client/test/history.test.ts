// client.history(): pages of a channel's history over GET /history, authorized like a subscription.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { connect } from '@tidings/client';
import { ErrorCode } from '@tidings/protocol';
import WebSocket from 'ws';
import { startServer } from './support/server.js';

test('history: the newest page, scroll-back with before, and what was missed with since', async (t) => {
  const server = await startServer();
  t.after(() => server.close());
  let calls = 0;
  const client = connect(server.origin, { WebSocket, token: () => `t${++calls}` });
  t.after(() => client.close());
  for (let i = 1; i <= 25; i++) await server.hub.publish('chat', i);
  const newest = await client.history('chat', { limit: 10 });
  assert.deepEqual(
    newest.messages.map((m) => m.data),
    [16, 17, 18, 19, 20, 21, 22, 23, 24, 25],
  );
  assert.equal(newest.offset, 25);
  assert.equal(newest.reset, false);
  const older = await client.history('chat', { before: newest.messages[0], limit: 10 });
  assert.deepEqual(
    older.messages.map((m) => m.data),
    [6, 7, 8, 9, 10, 11, 12, 13, 14, 15],
  );
  const oldest = await client.history('chat', { before: older.messages[0], limit: 10 });
  assert.deepEqual(
    oldest.messages.map((m) => m.data),
    [1, 2, 3, 4, 5],
  );
  const missed = await client.history('chat', { since: newest.messages[7] });
  assert.deepEqual(
    missed.messages.map((m) => m.data),
    [24, 25],
  );
  const gone = await client.history('chat', { since: { epoch: 'other', offset: 3 } });
  assert.equal(gone.reset, true);
  assert.equal(gone.messages.length, 25);
});

test('history is authorized like a subscription', async (t) => {
  const server = await startServer({ canSubscribe: (_identity, channel) => channel !== 'secret' });
  t.after(() => server.close());
  const client = connect(server.origin, { WebSocket });
  t.after(() => client.close());
  await assert.rejects(client.history('secret'), { code: ErrorCode.forbidden });
  await assert.rejects(client.history('chat', { limit: 0.5 }), { code: ErrorCode.invalidField });
});

test('history over WebSocket (in band) and over HTTP: the same pages and the same refusals', async (t) => {
  const server = await startServer({ canSubscribe: (_identity, channel) => channel !== 'secret' });
  t.after(() => server.close());
  for (let i = 1; i <= 25; i++) await server.hub.publish('chat', i);
  const gets: string[] = [];
  const fetch: typeof globalThis.fetch = (input, init) => {
    gets.push(new URL(String(input)).pathname);
    return globalThis.fetch(input, init);
  };
  const reads = async (transport: 'websocket' | 'longpoll') => {
    const client = connect(server.origin, { WebSocket, fetch, transports: [transport] });
    t.after(() => client.close());
    const newest = await client.history('chat', { limit: 10 });
    const older = await client.history('chat', { before: newest.messages[0], limit: 10 });
    const missed = await client.history('chat', { since: newest.messages[7] });
    const gone = await client.history('chat', { since: { epoch: 'other', offset: 3 } });
    await assert.rejects(client.history('secret'), { code: ErrorCode.forbidden });
    await assert.rejects(client.history('chat', { since: { epoch: 'no such', offset: 1 } }), {
      code: ErrorCode.invalidCursor,
    });
    await assert.rejects(client.history('chat', { before: { epoch: 'e', offset: -1 } }), {
      code: ErrorCode.invalidCursor,
    });
    await assert.rejects(client.history('chat', { limit: 1001 }), { code: ErrorCode.invalidField });
    // A refused read is no subscription failing and no lost connection: the client goes on.
    assert.equal(client.state, 'connected');
    return [newest, older, missed, gone];
  };
  const inBand = await reads('websocket');
  assert.equal(gets.length, 0, 'no HTTP request over WebSocket');
  const http = await reads('longpoll');
  assert.ok(gets.filter((path) => path.endsWith('/history')).length >= 8, 'GET /history on long-poll');
  assert.deepEqual(inBand, http);
  assert.deepEqual(
    inBand[1].messages.map((m) => m.data),
    [6, 7, 8, 9, 10, 11, 12, 13, 14, 15],
  );
  assert.equal(inBand[3].reset, true);
});
