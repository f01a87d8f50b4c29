// Presence from the client: `client.presence(channel)` / `sub.presence()` and the `join` / `leave`
// events, against the real server over each transport, plus the request's life across lost
// connections with a WebSocket the test plays the server on.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  type Client,
  type ClientOptions,
  connect,
  ErrorCode,
  type PresenceMember,
  type Subscription,
  TidingsError,
  TransportName,
} from '@tidings/client';
import type { ServerFrame } from '@tidings/protocol';
import { waitFor } from '@tidings/testing';
import WebSocket from 'ws';
import { NodeEventSource } from './support/event-source.js';
import { startServer, type TestServer } from './support/server.js';

const platform = { WebSocket, EventSource: NodeEventSource } as const;
const TIMEOUT_MS = 10_000;

type Context = { after(fn: () => unknown): void };

async function serve(t: Context): Promise<TestServer> {
  const server = await startServer({
    authenticate: ({ token }) => (token ? { id: token, info: { name: token.toUpperCase() } } : null),
    canSubscribe: (identity, channel) => channel !== 'secret' || identity.id === 'boss',
    presence: ['room', 'secret'],
  });
  t.after(() => server.close());
  return server;
}

function open(t: Context, server: TestServer, token: string, options: ClientOptions = {}): Client {
  const client = connect(server.origin, { ...platform, backoff: () => 20, token, ...options });
  t.after(() => client.close());
  return client;
}

async function subscribed(client: Client, channel: string): Promise<Subscription> {
  const sub = client.subscribe(channel, () => {});
  await waitFor(() => sub.state === 'subscribed', TIMEOUT_MS, `${channel} subscribed`);
  return sub;
}

function users(members: PresenceMember[]): string[] {
  return members.map((m) => m.user).sort();
}

const MEMBER_TRANSPORTS: string[] = [TransportName.websocket, TransportName.sse, TransportName.stream];

for (const transport of Object.values(TransportName)) {
  const member = MEMBER_TRANSPORTS.includes(transport);
  describe(`presence over ${transport}`, () => {
    test(
      member
        ? 'a subscriber is listed, and hears the others join and leave'
        : 'the list is readable, but a poller is no member and hears no joins',
      async (t) => {
        const server = await serve(t);
        const alice = open(t, server, 'alice', { transports: [transport] });
        const sub = await subscribed(alice, 'room');
        const events: string[] = [];
        sub.on('join', (m) => events.push(`join ${m.user} ${(m.info as { name: string }).name}`));
        sub.on('leave', (m) => events.push(`leave ${m.user}`));
        assert.deepEqual(users(await sub.presence()), member ? ['alice'] : []);

        const bob = open(t, server, 'bob');
        await subscribed(bob, 'room');
        assert.deepEqual(users(await alice.presence('room')), member ? ['alice', 'bob'] : ['bob']);
        if (member) await waitFor(() => events.length === 1, TIMEOUT_MS, 'join');
        bob.close();
        if (member) await waitFor(() => events.length === 2, TIMEOUT_MS, 'leave');
        else await waitFor(async () => (await alice.presence('room')).length === 0, TIMEOUT_MS, 'bob gone');
        assert.deepEqual(events, member ? ['join bob BOB', 'leave bob'] : []);
        assert.deepEqual(users(await sub.presence()), member ? ['alice'] : []);
      },
    );

    test('a refusal rejects the request and leaves the subscription alone', async (t) => {
      const server = await serve(t);
      const alice = open(t, server, 'alice', { transports: [transport] });
      // Both at once: a long-poll would take its whole wait to start a channel added later.
      const [sub, news] = await Promise.all([subscribed(alice, 'room'), subscribed(alice, 'news')]);
      await assert.rejects(
        alice.presence('secret'),
        (e) => e instanceof TidingsError && e.code === ErrorCode.forbidden,
      );
      await assert.rejects(news.presence(), (e) => e instanceof TidingsError && e.code === 'UNSUPPORTED');
      await assert.rejects(
        alice.presence('room.*'),
        (e) => e instanceof TidingsError && e.code === ErrorCode.invalidChannel,
      );
      assert.equal(sub.state, 'subscribed');
      assert.equal(news.state, 'subscribed');
    });
  });
}

test('presence: the list follows a cut and a reconnect (WebSocket)', async (t) => {
  const server = await serve(t);
  const alice = open(t, server, 'alice');
  const sub = await subscribed(alice, 'room');
  server.cut();
  await waitFor(() => sub.state === 'subscribing', TIMEOUT_MS, 'interrupted');
  const asked = sub.presence();
  await waitFor(() => sub.state === 'subscribed', TIMEOUT_MS, 'back');
  // The old connection's member left; the new one is in.
  assert.deepEqual(users(await asked), ['alice']);
  await waitFor(async () => (await server.hub.presence('room')).length === 1, TIMEOUT_MS, 'one member');
});

/** A WebSocket the test answers for: `welcome` on accept, frames by hand. */
function fakeWebSockets() {
  const sockets: FakeSocket[] = [];
  class FakeSocket {
    readyState = 1;
    readonly sent: { type: string; id?: number; channel?: string }[] = [];
    onmessage: ((event: { data: unknown }) => void) | null = null;
    onclose: ((event: { code: number; reason: string }) => void) | null = null;
    onerror: (() => void) | null = null;
    constructor(_url: string) {
      sockets.push(this);
    }
    send(text: string): void {
      this.sent.push(JSON.parse(text));
    }
    close(): void {
      this.readyState = 3;
    }
    deliver(frame: ServerFrame): void {
      this.onmessage?.({ data: JSON.stringify(frame) });
    }
    accept(): void {
      this.deliver({ type: 'welcome', version: 1, client: `c${sockets.length}`, heartbeat: 25_000 });
    }
    drop(): void {
      this.readyState = 3;
      this.onclose?.({ code: 1006, reason: '' });
    }
    asks() {
      return this.sent.filter((f) => f.type === 'presence');
    }
  }
  return { WebSocket: FakeSocket, sockets, last: () => sockets[sockets.length - 1] as FakeSocket };
}

describe('presence requests across connections', () => {
  function start(t: Context) {
    const fake = fakeWebSockets();
    const client = connect('http://example.test', {
      WebSocket: fake.WebSocket,
      transports: ['websocket'],
      backoff: () => 10,
    });
    t.after(() => client.close());
    return { fake, client };
  }

  test('waits while connecting, and is asked again after a lost connection', async (t) => {
    const { fake, client } = start(t);
    const answer = client.presence('room');
    await waitFor(() => fake.sockets.length === 1);
    assert.deepEqual(fake.last().asks(), [], 'not asked before welcome');
    fake.last().accept();
    const first = fake.last().asks()[0];
    assert.equal(first?.channel, 'room');
    fake.last().drop();
    await waitFor(() => fake.sockets.length === 2);
    fake.last().accept();
    const again = fake.last().asks()[0];
    assert.ok(again?.id !== undefined);
    const member = { client: 'c9', user: 'zoe' };
    fake.last().deliver({ type: 'presence', id: again.id, channel: 'room', members: [member] });
    assert.deepEqual(await answer, [member]);
  });

  test('an error reply rejects the request only; join and leave reach the subscription', async (t) => {
    const { fake, client } = start(t);
    const heard: string[] = [];
    const sub = client.subscribe('room', () => {});
    sub.on('join', (m) => heard.push(`join ${m.user}`));
    sub.on('leave', (m) => heard.push(`leave ${m.user}`));
    await waitFor(() => fake.sockets.length === 1);
    fake.last().accept();
    const answer = sub.presence();
    const ask = fake.last().asks()[0];
    fake.last().deliver({ type: 'error', id: ask?.id, code: ErrorCode.engineUnavailable, message: 'down' });
    await assert.rejects(answer, (e) => e instanceof TidingsError && e.code === ErrorCode.engineUnavailable);
    assert.notEqual(sub.state, 'failed');
    fake.last().deliver({ type: 'join', channel: 'room', member: { client: 'c2', user: 'bob' } });
    fake.last().deliver({ type: 'join', channel: 'other', member: { client: 'c3', user: 'carol' } });
    fake.last().deliver({ type: 'leave', channel: 'room', member: { client: 'c2', user: 'bob' } });
    assert.deepEqual(heard, ['join bob', 'leave bob']);
  });

  test('close rejects what is still waiting with CLOSED', async (t) => {
    const { client } = start(t);
    const answer = client.presence('room');
    client.close();
    await assert.rejects(answer, (e) => e instanceof TidingsError && e.code === ErrorCode.closed);
    await assert.rejects(
      client.presence('room'),
      (e) => e instanceof TidingsError && e.code === ErrorCode.closed,
    );
  });
});
