// The client's state machine, driven through an in-process WebSocket that the test plays the server
// on: connection states, resubscribing from positions, publish queueing and retries, the codes that
// stop or restart it, the heartbeat watchdog and transport fallback. No server is mocked here beyond
// single frames; the integration tests run against the real one.
import assert from 'node:assert/strict';
import { afterEach, mock, test } from 'node:test';
import { type Client, type ClientOptions, connect, type Message, TidingsError } from '@tidings/client';
import { ErrorCode, type ServerFrame } from '@tidings/protocol';
import { waitFor } from '@tidings/testing';

interface Sent {
  type: string;
  id?: number;
  channel?: string;
  since?: unknown;
  key?: string;
  data?: unknown;
  [field: string]: unknown;
}

/** A WebSocket the test controls: `accept` sends `welcome`, `deliver` a frame, `drop` closes it. */
function fakeWebSockets() {
  const sockets: FakeSocket[] = [];
  class FakeSocket {
    readyState = 1;
    readonly url: URL;
    readonly sent: Sent[] = [];
    closedByClient = false;
    onmessage: ((event: { data: unknown }) => void) | null = null;
    onclose: ((event: { code: number; reason: string }) => void) | null = null;
    onerror: (() => void) | null = null;

    constructor(url: string) {
      this.url = new URL(url);
      sockets.push(this);
    }
    send(text: string): void {
      this.sent.push(JSON.parse(text));
    }
    close(): void {
      this.closedByClient = true;
      this.readyState = 3;
    }
    accept(heartbeat = 25_000): void {
      this.deliver({ type: 'welcome', version: 1, client: 'c1', heartbeat });
    }
    deliver(frame: ServerFrame): void {
      this.onmessage?.({ data: JSON.stringify(frame) });
    }
    drop(code = 1006, reason = ''): void {
      this.readyState = 3;
      this.onclose?.({ code, reason });
    }
    sentOf(type: string): Sent[] {
      return this.sent.filter((frame) => frame.type === type);
    }
  }
  return { WebSocket: FakeSocket, sockets, last: () => sockets[sockets.length - 1] };
}

const clients: Client[] = [];
afterEach(() => {
  for (const client of clients.splice(0)) client.close();
});

function start(options: ClientOptions = {}) {
  const fake = fakeWebSockets();
  const client = connect('ws://example.test:8080', {
    WebSocket: fake.WebSocket,
    transports: ['websocket'],
    backoff: () => 5,
    ...options,
  });
  clients.push(client);
  const socket = async (n: number) => {
    await waitFor(() => fake.sockets.length >= n, 2_000, `socket ${n}`);
    return fake.sockets[n - 1];
  };
  return { client, fake, socket };
}

test('connecting → connected at welcome → connecting when lost → connected again', async () => {
  const { client, socket } = start();
  const states: string[] = [];
  client.on('state', ({ oldState, newState }) => states.push(`${oldState}>${newState}`));
  assert.equal(client.state, 'connecting');
  assert.equal(client.transport, 'websocket');
  const first = await socket(1);
  assert.equal(first.url.href, 'ws://example.test:8080/tidings/ws?v=1');
  first.accept();
  assert.equal(client.state, 'connected');
  first.drop();
  assert.equal(client.state, 'connecting');
  (await socket(2)).accept();
  client.close();
  assert.equal(client.state, 'disconnected');
  assert.deepEqual(states, [
    'connecting>connected',
    'connected>connecting',
    'connecting>connected',
    'connected>disconnected',
  ]);
});

test('every subscription is sent again on reconnect, from its position', async () => {
  const { client, socket } = start();
  const messages: Message[] = [];
  const chat = client.subscribe('chat', (m) => messages.push(m));
  const news = client.subscribe('news', () => {}, { since: 'snapshot' });
  const first = await socket(1);
  assert.deepEqual(first.sent, [], 'nothing before welcome');
  first.accept();
  const subscribes = first.sentOf('subscribe');
  assert.deepEqual(
    subscribes.map(({ channel, since }) => [channel, since]),
    [
      ['chat', 'now'],
      ['news', 'snapshot'],
    ],
  );
  first.deliver({ type: 'subscribed', id: subscribes[0].id, channel: 'chat', epoch: 'E', offset: 3 });
  first.deliver({ type: 'message', channel: 'chat', epoch: 'E', offset: 4, ts: 1, data: 'a' });
  assert.equal(chat.state, 'subscribed');
  assert.equal(news.state, 'subscribing');
  first.drop();
  assert.equal(chat.state, 'subscribing');
  const second = await socket(2);
  second.accept();
  assert.deepEqual(
    second.sentOf('subscribe').map(({ channel, since }) => [channel, since]),
    [
      ['chat', { epoch: 'E', offset: 4 }],
      ['news', 'snapshot'],
    ],
  );
  // The server replays what it cannot know was received: dropped.
  second.deliver({ type: 'subscribed', channel: 'chat', epoch: 'E', offset: 3 });
  second.deliver({ type: 'message', channel: 'chat', epoch: 'E', offset: 4, ts: 1, data: 'a' });
  second.deliver({ type: 'message', channel: 'chat', epoch: 'E', offset: 5, ts: 1, data: 'b' });
  assert.deepEqual(
    messages.map((m) => m.data),
    ['a', 'b'],
  );
  // Frames from the old socket are ignored.
  first.deliver({ type: 'message', channel: 'chat', epoch: 'E', offset: 6, ts: 1, data: 'stale' });
  assert.equal(messages.length, 2);
});

test('subscribe and unsubscribe while connected send frames; subscribe checks its arguments', async () => {
  const { client, socket } = start();
  const first = await socket(1);
  first.accept();
  const chat = client.subscribe('chat', () => {});
  assert.deepEqual(first.sentOf('subscribe').at(-1)?.channel, 'chat');
  // A second handler shares the wire subscription: no second frame.
  const shared = client.subscribe('chat', () => {});
  assert.equal(first.sentOf('subscribe').length, 1);
  shared.unsubscribe();
  assert.equal(first.sentOf('unsubscribe').length, 0);
  assert.throws(() => client.subscribe('bad name', () => {}), { code: ErrorCode.invalidChannel });
  assert.throws(() => client.subscribe('room.*', () => {}, { since: 'snapshot' }), {
    code: ErrorCode.invalidField,
  });
  client.unsubscribe(chat);
  assert.equal(chat.state, 'unsubscribed');
  assert.deepEqual(first.sentOf('unsubscribe'), [{ type: 'unsubscribe', channel: 'chat' }]);
  const again = client.subscribe('chat', () => {});
  again.unsubscribe();
  client.unsubscribe(chat); // already gone: nothing
  assert.equal(first.sentOf('unsubscribe').length, 2);
});

test('a refused subscription fails alone', async () => {
  const { client, socket } = start();
  const secret = client.subscribe('secret', () => {});
  const chat = client.subscribe('chat', () => {});
  const errors: TidingsError[] = [];
  secret.on('error', (error) => errors.push(error));
  const first = await socket(1);
  first.accept();
  const [secretId, chatId] = first.sentOf('subscribe').map((frame) => frame.id);
  first.deliver({ type: 'error', id: secretId, code: 'FORBIDDEN', message: 'no' });
  first.deliver({ type: 'subscribed', id: chatId, channel: 'chat', epoch: 'E', offset: 0 });
  assert.equal(secret.state, 'failed');
  assert.equal(errors[0].code, ErrorCode.forbidden);
  assert.equal(chat.state, 'subscribed');
  assert.equal(client.state, 'connected');
  // Not resubscribed on reconnect, and the name is free again.
  first.drop();
  const second = await socket(2);
  second.accept();
  assert.deepEqual(
    second.sentOf('subscribe').map((frame) => frame.channel),
    ['chat'],
  );
  client.subscribe('secret', () => {});
  // A subscription the server ends with a code that asks to come back is retried.
  second.deliver({ type: 'unsubscribed', channel: 'chat', code: 'ENGINE_UNAVAILABLE', reason: 'later' });
  await waitFor(() => second.sentOf('subscribe').filter((frame) => frame.channel === 'chat').length === 2);
});

test('publish: queued while connecting, sent at welcome, resent with the same key after a lost ack', async () => {
  const { client, socket } = start();
  const result = client.publish('chat', { text: 'hi' }, { ifOffset: 3, echo: false });
  const first = await socket(1);
  first.accept();
  const [sent] = first.sentOf('publish');
  assert.equal(sent.channel, 'chat');
  assert.deepEqual(sent.data, { text: 'hi' });
  assert.equal(sent.ifOffset, 3);
  assert.equal(sent.echo, false);
  assert.match(sent.key!, /^[0-9a-f]{32}$/);
  first.drop();
  const second = await socket(2);
  second.accept();
  const [resent] = second.sentOf('publish');
  assert.equal(resent.key, sent.key);
  second.deliver({
    type: 'ack',
    id: resent.id,
    channel: 'chat',
    epoch: 'E',
    offset: 4,
    ts: 9,
    duplicate: true,
  });
  assert.deepEqual(await result, { channel: 'chat', epoch: 'E', offset: 4, ts: 9, duplicate: true });
  // Each publish has its own key.
  const next = client.publish('chat', 2);
  const [other] = second.sentOf('publish').slice(1);
  assert.notEqual(other.key, sent.key);
  second.deliver({ type: 'ack', id: other.id, channel: 'chat', epoch: 'E', offset: 5, ts: 10 });
  assert.equal((await next).duplicate, false);
});

test('publish: retried on a transient error, rejected on a fatal one', async () => {
  const { client, socket } = start();
  const first = await socket(1);
  first.accept();
  const limited = client.publish('chat', 1);
  const [sent] = first.sentOf('publish');
  first.deliver({ type: 'error', id: sent.id, channel: 'chat', code: 'RATE_LIMITED', message: 'slow down' });
  await waitFor(() => first.sentOf('publish').length === 2);
  const [, retry] = first.sentOf('publish');
  assert.equal(retry.key, sent.key);
  first.deliver({ type: 'ack', id: retry.id, channel: 'chat', epoch: 'E', offset: 1, ts: 1 });
  assert.equal((await limited).offset, 1);

  const conflicting = client.publish('chat', 2, { ifOffset: 0 });
  const conflict = first.sentOf('publish')[2];
  first.deliver({
    type: 'error',
    id: conflict.id,
    channel: 'chat',
    code: 'CONFLICT',
    message: 'stale',
    details: { epoch: 'E', offset: 1 },
  });
  await assert.rejects(conflicting, (error: TidingsError) => {
    assert.ok(error instanceof TidingsError);
    assert.equal(error.code, ErrorCode.conflict);
    assert.deepEqual(error.details, { epoch: 'E', offset: 1 });
    return true;
  });
  await assert.rejects(client.publish('bad name', 1), { code: ErrorCode.invalidChannel });
  assert.equal(client.state, 'connected');
});

test('disconnect with reconnect: false stops the client and fails what is pending', async () => {
  const { client, fake, socket } = start();
  const errors: TidingsError[] = [];
  client.on('error', (error) => errors.push(error));
  const sub = client.subscribe('chat', () => {});
  const first = await socket(1);
  first.accept();
  const pending = client.publish('chat', 1);
  first.deliver({ type: 'disconnect', code: 'UNAUTHORIZED', reason: 'who are you', reconnect: false });
  first.drop(4401, 'UNAUTHORIZED');
  assert.equal(client.state, 'disconnected');
  assert.equal(errors[0].code, ErrorCode.unauthorized);
  assert.equal(sub.state, 'failed');
  await assert.rejects(pending, { code: ErrorCode.unauthorized });
  await assert.rejects(client.publish('chat', 2), { code: ErrorCode.closed });
  assert.throws(() => client.subscribe('x', () => {}), { code: ErrorCode.closed });
  await new Promise((resolve) => setTimeout(resolve, 30));
  assert.equal(fake.sockets.length, 1, 'no reconnect');
});

test('a fatal close code stops it even without a disconnect frame; a retry code does not', async () => {
  const { client, socket } = start();
  (await socket(1)).drop(4429, 'TOO_MANY_CONNECTIONS');
  (await socket(2)).drop(4403, 'FORBIDDEN');
  assert.equal(client.state, 'disconnected');
});

test('TOKEN_EXPIRED: a new token from the token function, then resume', async () => {
  let issued = 0;
  const { client, socket } = start({ token: async () => `token-${++issued}` });
  client.subscribe('chat', () => {});
  const first = await socket(1);
  assert.equal(first.url.searchParams.get('token'), 'token-1');
  first.accept();
  first.deliver({ type: 'subscribed', channel: 'chat', epoch: 'E', offset: 8 });
  first.deliver({ type: 'disconnect', code: 'TOKEN_EXPIRED', reason: 'expired', reconnect: true });
  const second = await socket(2);
  assert.equal(second.url.searchParams.get('token'), 'token-2');
  second.accept();
  assert.deepEqual(second.sentOf('subscribe')[0].since, { epoch: 'E', offset: 8 });
  assert.equal(client.state, 'connected');
});

test('a token function that fails is tried again; one that throws a fatal TidingsError stops', async () => {
  let calls = 0;
  const { client, socket } = start({
    token: () => {
      if (++calls === 1) throw new Error('app server down');
      return 'ok';
    },
  });
  const errors: TidingsError[] = [];
  client.on('error', (error) => errors.push(error));
  assert.equal((await socket(1)).url.searchParams.get('token'), 'ok');
  assert.equal(errors.length, 1);
  const stopped = start({
    token: () => {
      throw new TidingsError(ErrorCode.unauthorized, 'logged out');
    },
  });
  await waitFor(() => stopped.client.state === 'disconnected');
});

test('ping frames are answered with pong; the server can send errors that are not about a request', async () => {
  const { client, socket } = start();
  const errors: TidingsError[] = [];
  client.on('error', (error) => errors.push(error));
  const first = await socket(1);
  first.accept();
  first.deliver({ type: 'ping' });
  assert.deepEqual(first.sentOf('pong'), [{ type: 'pong' }]);
  first.deliver({ type: 'error', code: 'MALFORMED_FRAME', message: 'eh' });
  assert.equal(errors[0].code, ErrorCode.malformedFrame);
  assert.equal(client.state, 'connected');
});

test('close() ends the subscriptions and rejects pending publishes with CLOSED', async () => {
  const { client, socket } = start();
  const sub = client.subscribe('chat', () => {});
  const first = await socket(1);
  const pending = client.publish('chat', 1);
  client.close();
  client.close();
  assert.equal(first.closedByClient, true);
  assert.equal(sub.state, 'unsubscribed');
  await assert.rejects(pending, { code: ErrorCode.closed });
});

test('falls back to the next transport after two failures to open, and wraps around', async () => {
  const { client, fake } = start({ transports: ['websocket', 'stream'], fetch: () => new Promise(() => {}) });
  await waitFor(() => fake.sockets.length === 1);
  fake.last().drop(); // never welcomed
  await waitFor(() => fake.sockets.length === 2);
  assert.equal(client.transport, 'websocket');
  fake.last().deliver({ type: 'message', channel: 'x', epoch: 'E', offset: 1, ts: 1, data: 1 });
  fake.last().drop(); // opened at the socket level, but no welcome: still a failure
  await waitFor(() => client.transport === 'stream');
  assert.equal(fake.sockets.length, 2);
});

test('the heartbeat watchdog replaces a connection silent for heartbeat + 10 s', async (t) => {
  mock.timers.enable({ apis: ['setTimeout'] });
  t.after(() => mock.timers.reset());
  const fake = fakeWebSockets();
  const client = connect('http://example.test', { WebSocket: fake.WebSocket, backoff: () => 100 });
  clients.push(client);
  const flush = () => new Promise((resolve) => setImmediate(resolve));
  await flush();
  fake.last().accept(1_000);
  mock.timers.tick(10_900);
  fake.last().deliver({ type: 'ping' }); // anything counts as life
  mock.timers.tick(10_900);
  assert.equal(client.state, 'connected');
  mock.timers.tick(200);
  assert.equal(client.state, 'connecting');
  assert.equal(fake.sockets[0].closedByClient, true);
  mock.timers.tick(100);
  await flush();
  assert.equal(fake.sockets.length, 2);
  // A socket that never opens is given up after the connect timeout.
  mock.timers.tick(10_000);
  assert.equal(fake.sockets[1].closedByClient, true);
});

test('options: the mount path, an http URL or the full mount URL, and no usable transport', () => {
  const fake = fakeWebSockets();
  for (const [url, path] of [
    ['http://h.test', undefined],
    ['https://h.test/', '/rt'],
    ['ws://h.test/tidings', undefined],
  ] as const) {
    const client = connect(url, { WebSocket: fake.WebSocket, transports: ['websocket'], path });
    clients.push(client);
  }
  return waitFor(() => fake.sockets.length === 3).then(() => {
    assert.deepEqual(
      fake.sockets.map((socket) => socket.url.href),
      ['ws://h.test/tidings/ws?v=1', 'wss://h.test/rt/ws?v=1', 'ws://h.test/tidings/ws?v=1'],
    );
    assert.throws(() => connect('http://h.test', { transports: ['sse'], EventSource: undefined }), {
      code: ErrorCode.invalidField,
    });
  });
});
