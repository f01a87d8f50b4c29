// A publish the server's schema refuses: the client rejects it with INVALID_DATA (not retried), on
// every transport; the connection, its other publishes and other clients go on untouched.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { connect, type Message, TidingsError, TransportName } from '@tidings/client';
import { createHub, type StandardSchemaV1 } from '@tidings/server';
import { waitFor } from '@tidings/server/testing';
import WebSocket from 'ws';
import { NodeEventSource } from './support/event-source.js';
import { startServer } from './support/server.js';

interface ChatLine {
  text: string;
}
type Channels = { 'chat.*': ChatLine };

const chatLine: StandardSchemaV1<unknown, ChatLine> = {
  '~standard': {
    version: 1,
    vendor: 'test',
    validate: (value) =>
      typeof (value as ChatLine)?.text === 'string'
        ? { value: { text: (value as ChatLine).text } }
        : { issues: [{ message: 'text must be a string', path: ['text'] }] },
  },
};

describe('client: INVALID_DATA', () => {
  for (const transport of Object.values(TransportName)) {
    test(`${transport}: the publish rejects with the code and issues; nothing else is disturbed`, async (t) => {
      let posts = 0;
      const hub = createHub<Channels>({ onError: () => {}, schemas: { 'chat.*': chatLine } });
      const server = await startServer({ hub, canPublish: () => ++posts > 0 });
      t.after(() => server.close());
      const options = { WebSocket, EventSource: NodeEventSource, backoff: () => 20 };
      const watcher = connect<Channels>(server.origin, options);
      const publisher = connect<Channels>(server.origin, { ...options, transports: [transport] });
      t.after(() => watcher.close());
      t.after(() => publisher.close());
      const got: Message<ChatLine>[] = [];
      const subscription = watcher.subscribe('chat.*', (message) => got.push(message));
      await waitFor(() => subscription.state === 'subscribed', 10_000, 'subscribed');

      await publisher.publish('chat.1', { text: 'one' });
      const error = await publisher.publish('chat.1', { words: 'two' } as never).then(
        () => assert.fail('expected INVALID_DATA'),
        (error: unknown) => error,
      );
      assert.ok(error instanceof TidingsError);
      assert.equal(error.code, 'INVALID_DATA');
      assert.equal(error.action, 'fatal');
      assert.deepEqual(error.details, { issues: [{ message: 'text must be a string', path: ['text'] }] });
      assert.equal(posts, 2, 'not sent again');
      assert.equal((await hub.position('chat.1')).offset, 1);
      await publisher.publish('chat.1', { text: 'three' });
      await waitFor(() => got.length === 2, 10_000, 'two messages');
      await sleep(30);
      assert.deepEqual(
        got.map((message) => message.data.text),
        ['one', 'three'],
      );
      assert.equal(publisher.state, 'connected');
    });
  }
});
