// The client against the real server, over each transport in turn: exactly-once in-order delivery
// across cut connections and restarts, publishing with acks and idempotent retries, refused channels.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { type Client, type ClientOptions, connect, type Message, TransportName } from '@tidings/client';
import { ErrorCode, TidingsError } from '@tidings/protocol';
import { createHub, type Hub, type Identity } from '@tidings/server';
import { waitFor } from '@tidings/server/testing';
import WebSocket from 'ws';
import { NodeEventSource } from './support/event-source.js';
import { startServer, type TestServer } from './support/server.js';

const platform = { WebSocket, EventSource: NodeEventSource } as const;
const TIMEOUT_MS = 10_000;

type Context = { after(fn: () => unknown): void };

async function serve(t: Context, options: Parameters<typeof startServer>[0] = {}): Promise<TestServer> {
  const server = await startServer(options);
  t.after(() => server.close());
  return server;
}

function open(t: Context, server: TestServer, options: ClientOptions = {}): Client {
  const client = connect(server.origin, { ...platform, backoff: () => 20, ...options });
  t.after(() => client.close());
  return client;
}

/**
 * Subscribes and collects what arrives; resolves once the subscription is on. A reset shows up in the
 * list as `{ data: { reset } }`, so that comparing the data finds it.
 */
async function collect(client: Client, channel: string): Promise<Message[]> {
  const messages: Message[] = [];
  const subscription = client.subscribe(channel, (message) => messages.push(message));
  subscription.on('reset', (position) => messages.push({ data: { reset: position } } as Message));
  await waitFor(() => subscription.state === 'subscribed', TIMEOUT_MS, `${channel} subscribed`);
  return messages;
}

function memoryStorage() {
  const items = new Map<string, string>();
  return {
    getItem: (key: string) => items.get(key) ?? null,
    setItem: (key: string, value: string) => void items.set(key, value),
    removeItem: (key: string) => void items.delete(key),
  };
}

function datas(messages: Message[]): unknown[] {
  return messages.map((message) => message.data);
}

function range(from: number, to: number): number[] {
  return Array.from({ length: to - from }, (_, i) => from + i);
}

async function publishRange(hub: Hub, channel: string, from: number, to: number): Promise<void> {
  for (let i = from; i < to; i++) await hub.publish(channel, i);
}

for (const transport of Object.values(TransportName)) {
  describe(`over ${transport}`, () => {
    const transports = [transport];

    if (transport === 'websocket' || transport === 'sse' || transport === 'stream') {
      test('a channel subscribed exactly and through a pattern: each subscription gets each message once', async (t) => {
        const server = await serve(t);
        const client = open(t, server, { transports });
        const exact = await collect(client, 'room.a');
        const pattern = await collect(client, 'room.*');
        await publishRange(server.hub, 'room.a', 0, 50);
        await server.hub.publish('room.b', 'b');
        await waitFor(() => exact.length >= 50 && pattern.length >= 51, TIMEOUT_MS, 'both subscriptions');
        assert.deepEqual(datas(exact), range(0, 50));
        assert.deepEqual(datas(pattern), [...range(0, 50), 'b']);
      });
    }

    test('delivers 200 messages published from the hub exactly once, in order', async (t) => {
      const server = await serve(t);
      const client = open(t, server, { transports });
      const messages = await collect(client, 'feed');
      assert.equal(client.state, 'connected');
      assert.equal(client.transport, transport);
      await publishRange(server.hub, 'feed', 0, 200);
      await waitFor(() => messages.length >= 200, TIMEOUT_MS, '200 messages');
      assert.deepEqual(datas(messages), range(0, 200));
      assert.deepEqual(
        messages.map((m) => m.offset),
        range(1, 201),
      );
      assert.ok(messages.every((m) => m.channel === 'feed' && !m.snapshot && typeof m.ts === 'number'));
    });

    test('publishes and resolves with the ack; the subscription sees it once', async (t) => {
      const server = await serve(t);
      const client = open(t, server, { transports });
      const messages = await collect(client, 'room');
      const ack = await client.publish('room', { text: 'hi' });
      assert.equal(ack.channel, 'room');
      assert.equal(ack.offset, 1);
      assert.equal(ack.duplicate, false);
      await waitFor(() => messages.length === 1, TIMEOUT_MS, 'own message');
      assert.deepEqual(messages[0].data, { text: 'hi' });
      assert.equal(messages[0].epoch, ack.epoch);
    });

    test('starts from the snapshot, then the messages after it', async (t) => {
      const server = await serve(t);
      await server.hub.publish('doc', 'old');
      await server.hub.setState('doc', { text: 'v1' });
      await server.hub.publish('doc', 'new');
      const client = open(t, server, { transports });
      const messages: Message[] = [];
      client.subscribe('doc', (m) => messages.push(m), { since: 'snapshot' });
      await waitFor(() => messages.length === 2, TIMEOUT_MS, 'snapshot and message');
      assert.deepEqual(
        messages.map((m) => [m.data, m.snapshot]),
        [
          [{ text: 'v1' }, true],
          ['new', false],
        ],
      );
    });

    test('resumes with no loss or duplicate when connections are cut mid-stream', async (t) => {
      const server = await serve(t);
      const client = open(t, server, { transports });
      const messages = await collect(client, 'feed');
      client.subscribe('other', () => {});
      const states: string[] = [];
      client.on('state', ({ newState }) => states.push(newState));
      for (let i = 0; i < 200; i++) {
        await server.hub.publish('feed', i);
        if (i === 60 || i === 140) server.cut();
        if (i % 20 === 0) await new Promise((resolve) => setTimeout(resolve, 5));
      }
      await waitFor(() => messages.length >= 200, TIMEOUT_MS, '200 messages');
      await new Promise((resolve) => setTimeout(resolve, 50));
      assert.deepEqual(datas(messages), range(0, 200));
      // A poll may fall between two requests: nothing to cut then.
      if (transport !== TransportName.poll) {
        assert.ok(states.includes('connecting'), `reconnected (${states.join(', ')})`);
      }
      assert.equal(client.transport, transport);
    });

    test('resumes with no loss or duplicate across a server restart on the same hub and port', async (t) => {
      const server = await serve(t);
      const client = open(t, server, { transports });
      const messages = await collect(client, 'feed');
      client.subscribe('other', () => {});
      await publishRange(server.hub, 'feed', 0, 50);
      await waitFor(() => messages.length >= 20, TIMEOUT_MS, 'first messages');
      const restarted = server.restart();
      await publishRange(server.hub, 'feed', 50, 100);
      await restarted;
      await publishRange(server.hub, 'feed', 100, 150);
      await waitFor(() => messages.length >= 150, TIMEOUT_MS, '150 messages');
      await new Promise((resolve) => setTimeout(resolve, 50));
      assert.deepEqual(datas(messages), range(0, 150));
    });

    test('a saved position no longer retained: reset, then the snapshot, then what is left', async (t) => {
      const hub = createHub({ onError: () => {}, history: { 'short.*': { size: 5 } } });
      const server = await serve(t, { hub });
      t.after(() => hub.close());
      const persist = memoryStorage();
      const first = open(t, server, { transports, persist });
      const seen = await collect(first, 'short.doc');
      await publishRange(hub, 'short.doc', 0, 3);
      await waitFor(() => seen.length === 3, TIMEOUT_MS, 'first messages');
      first.close();
      await publishRange(hub, 'short.doc', 3, 20);
      await hub.setState('short.doc', 'state at 20');
      await publishRange(hub, 'short.doc', 20, 22);
      // The reloaded page resumes from offset 3; the history now starts at 18.
      const second = open(t, server, { transports, persist });
      const events: unknown[] = [];
      const subscription = second.subscribe('short.doc', (m) => events.push([m.data, m.offset, m.snapshot]));
      subscription.on('reset', ({ offset }) => events.push(['reset', offset]));
      await waitFor(() => events.length === 4, TIMEOUT_MS, 'reset, snapshot and messages');
      assert.deepEqual(events, [
        ['reset', 20],
        ['state at 20', 20, true],
        [20, 21, false],
        [21, 22, false],
      ]);
    });

    test('a reconnect that ends in a reset: subscribed (where it resumed from), then reset, then the snapshot', async (t) => {
      const hub = createHub({ onError: () => {}, history: { 'short.*': { size: 5 } } });
      const server = await serve(t, { hub });
      t.after(() => hub.close());
      const client = open(t, server, { transports });
      const events: unknown[] = [];
      const subscription = client.subscribe('short.doc', (m) => events.push([m.data, m.offset, m.snapshot]));
      subscription.on('subscribed', (position) => events.push(['subscribed', position?.offset]));
      subscription.on('reset', ({ offset }) => events.push(['reset', offset]));
      await waitFor(() => subscription.state === 'subscribed', TIMEOUT_MS, 'subscribed');
      await publishRange(hub, 'short.doc', 0, 3);
      await waitFor(() => events.length === 4, TIMEOUT_MS, 'first messages');
      events.length = 0;
      // While no server listens, the client notices and the history moves past its position.
      await server.restart(async () => {
        await waitFor(() => client.state === 'connecting', TIMEOUT_MS, 'connection lost');
        await publishRange(hub, 'short.doc', 3, 20);
        await hub.setState('short.doc', 'state at 20');
      });
      await waitFor(() => events.length === 3, TIMEOUT_MS, 'subscribed, reset and snapshot');
      assert.deepEqual(events, [
        ['subscribed', 3],
        ['reset', 20],
        ['state at 20', 20, true],
      ]);
    });

    test('a publish whose ack was lost is sent again after the reconnect and stored once', async (t) => {
      const server = await serve(t);
      const client = open(t, server, { transports });
      const messages = await collect(client, 'room');
      // The first publish is stored, then every connection is cut before the ack can go out.
      const engine = server.hub.engine;
      const publish = engine.publish.bind(engine);
      let cut = false;
      engine.publish = async (request) => {
        const result = await publish(request);
        if (!cut) {
          cut = true;
          server.cut();
        }
        return result;
      };
      const ack = await client.publish('room', 'once');
      assert.ok(cut);
      assert.equal(ack.offset, 1);
      assert.equal(ack.duplicate, true);
      await client.publish('room', 'twice');
      await waitFor(() => messages.length === 2, TIMEOUT_MS, 'both messages');
      await new Promise((resolve) => setTimeout(resolve, 50));
      assert.deepEqual(datas(messages), ['once', 'twice']);
      const history = await server.hub.history('room');
      assert.deepEqual(
        history.messages.map((m) => m.data),
        ['once', 'twice'],
      );
    });

    test('a refused channel fails alone; the other subscriptions go on', async (t) => {
      const server = await serve(t, {
        canSubscribe: (_identity, channel) => !channel.startsWith('secret'),
        canPublish: (_identity, channel) => !channel.startsWith('secret'),
      });
      const client = open(t, server, { transports });
      // Alone, so the whole request is refused (403 on HTTP).
      const secret = client.subscribe('secret', () => assert.fail('no message on a refused channel'));
      const secretError = await new Promise<TidingsError>((resolve) => secret.on('error', resolve));
      assert.equal(secretError.code, ErrorCode.forbidden);
      assert.equal(secret.state, 'failed');
      const messages = await collect(client, 'open');
      // Beside an allowed one, so only that channel is refused.
      const other = client.subscribe('secret.two', () => assert.fail('no message on a refused channel'));
      const otherError = await new Promise<TidingsError>((resolve) => other.on('error', resolve));
      assert.equal(otherError.code, ErrorCode.forbidden);
      await server.hub.publish('secret', 'hidden');
      await publishRange(server.hub, 'open', 0, 3);
      await waitFor(() => messages.length === 3, TIMEOUT_MS, 'messages on the allowed channel');
      assert.deepEqual(datas(messages), [0, 1, 2]);
      assert.equal(client.state, 'connected');
      await assert.rejects(client.publish('secret', 1), { code: ErrorCode.forbidden });
    });

    test('a publish refused for good rejects with its code (CONFLICT with details)', async (t) => {
      const server = await serve(t);
      const client = open(t, server, { transports });
      await client.publish('counter', 1);
      await assert.rejects(client.publish('counter', 2, { ifOffset: 0 }), (error: TidingsError) => {
        assert.ok(error instanceof TidingsError);
        assert.equal(error.code, ErrorCode.conflict);
        assert.equal(error.details?.offset, 1);
        return true;
      });
      const ack = await client.publish('counter', 2, { ifOffset: 1 });
      assert.equal(ack.offset, 2);
    });

    test('an expired token is replaced from the token function and delivery resumes', async (t) => {
      let issued = 0;
      const expiries = new Map<string, number>();
      const server = await serve(t, {
        authenticate: ({ token }): Identity | null => {
          const expiresAt = token === undefined ? undefined : expiries.get(token);
          return expiresAt === undefined ? null : { id: 'user', expiresAt };
        },
      });
      const token = () => {
        const value = `t${++issued}`;
        expiries.set(value, Date.now() + 400);
        return value;
      };
      const client = open(t, server, { transports, token });
      const errors: TidingsError[] = [];
      client.on('error', (error) => errors.push(error));
      const messages = await collect(client, 'feed');
      for (let i = 0; i < 40; i++) {
        await server.hub.publish('feed', i);
        await new Promise((resolve) => setTimeout(resolve, 25));
      }
      await waitFor(() => messages.length >= 40, TIMEOUT_MS, '40 messages');
      assert.deepEqual(datas(messages), range(0, 40));
      assert.ok(issued >= 2, `token function called again (${issued})`);
      assert.deepEqual(errors, []);
    });
  });
}

describe('transport fallback', () => {
  test('ends up on SSE when WebSocket upgrades are destroyed, and delivers', async (t) => {
    const server = await serve(t, { refuseWebSocket: true });
    const client = open(t, server);
    const messages = await collect(client, 'feed');
    assert.equal(client.transport, TransportName.sse);
    await publishRange(server.hub, 'feed', 0, 20);
    const ack = await client.publish('feed', 'mine');
    assert.equal(ack.offset, 21);
    await waitFor(() => messages.length === 21, TIMEOUT_MS, '21 messages');
    assert.deepEqual(datas(messages), [...range(0, 20), 'mine']);
  });

  test('moves on when the WebSocket opens but dies before welcome, and remembers what worked', async (t) => {
    const { WebSocketServer } = await import('ws');
    const killer = new WebSocketServer({ noServer: true });
    const server = await serve(t, { refuseWebSocket: true });
    // Replace the plain refusal by a proxy that completes the upgrade, then cuts the connection.
    const { createServer } = await import('node:http');
    const proxy = createServer((req, res) => {
      fetch(`${server.origin}${req.url}`)
        .then(async (answer) => {
          res.writeHead(answer.status, Object.fromEntries(answer.headers));
          const reader = answer.body!.getReader();
          for (let read = await reader.read(); !read.done; read = await reader.read()) res.write(read.value);
          res.end();
        })
        .catch(() => res.destroy());
    });
    proxy.on('upgrade', (req, socket, head) => {
      killer.handleUpgrade(req, socket, head, (ws) => ws.terminate());
    });
    await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
    t.after(() => {
      proxy.closeAllConnections();
      proxy.close();
    });
    const address = proxy.address() as { port: number };
    const persist = memoryStorage();
    const origin = `http://127.0.0.1:${address.port}`;
    const client = connect(origin, {
      ...platform,
      backoff: () => 20,
      persist,
      transports: ['websocket', 'stream'],
    });
    t.after(() => client.close());
    const messages = await collect(client, 'feed');
    assert.equal(client.transport, TransportName.stream);
    await publishRange(server.hub, 'feed', 0, 5);
    await waitFor(() => messages.length === 5, TIMEOUT_MS, '5 messages');
    client.close();
    await publishRange(server.hub, 'feed', 5, 8);
    // A reloaded page starts with the transport that worked, from the saved position.
    const again = connect(origin, {
      ...platform,
      backoff: () => 20,
      persist,
      transports: ['websocket', 'stream'],
    });
    t.after(() => again.close());
    const resumed: Message[] = [];
    again.subscribe('feed', (m) => resumed.push(m));
    assert.equal(again.transport, TransportName.stream);
    await waitFor(() => resumed.length === 3, TIMEOUT_MS, 'resumed messages');
    assert.deepEqual(datas(resumed), [5, 6, 7]);
  });
});

describe('several clients', () => {
  test('each transport delivers the same messages in the same order', async (t) => {
    const hub = createHub({ onError: () => {} });
    t.after(() => hub.close());
    const server = await serve(t, { hub });
    const clients = Object.values(TransportName).map((transport) =>
      open(t, server, { transports: [transport] }),
    );
    const inboxes = await Promise.all(clients.map((client) => collect(client, 'all')));
    await Promise.all(clients.map((client, i) => client.publish('all', `from ${i}`)));
    await waitFor(() => inboxes.every((inbox) => inbox.length === clients.length), TIMEOUT_MS, 'every inbox');
    for (const inbox of inboxes) assert.deepEqual(datas(inbox), datas(inboxes[0]));
    assert.deepEqual(new Set(datas(inboxes[0])), new Set(clients.map((_, i) => `from ${i}`)));
  });
});
