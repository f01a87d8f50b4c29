// Shared subscriptions against the real server: any number of handlers per channel or pattern on one
// client, one subscription on the wire, each handle stopping only its own handler, and a late handler
// with a start of its own getting its replay without disturbing the others.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { connect, type Message, TransportName } from '@tidings/client';
import { waitFor } from '@tidings/testing';
import WebSocket from 'ws';
import { NodeEventSource } from './support/event-source.js';
import { startServer } from './support/server.js';

const platform = { WebSocket, EventSource: NodeEventSource } as const;

for (const transport of [TransportName.websocket, TransportName.sse, TransportName.poll]) {
  describe(`shared subscriptions over ${transport}`, () => {
    test('two handlers on one channel, one wire subscription; each handle stops only its own', async (t) => {
      const server = await startServer();
      t.after(() => server.close());
      const client = connect(server.origin, { ...platform, transports: [transport], backoff: () => 20 });
      t.after(() => client.close());
      const a: unknown[] = [];
      const b: unknown[] = [];
      const first = client.subscribe('chat', (m) => a.push(m.data));
      const second = client.subscribe('chat', (m) => b.push(m.data));
      await waitFor(() => first.state === 'subscribed' && second.state === 'subscribed', 5000, 'subscribed');
      await server.hub.publish('chat', 1);
      await waitFor(() => a.length === 1 && b.length === 1, 5000, 'both got 1');
      second.unsubscribe();
      assert.equal(second.state, 'unsubscribed');
      await server.hub.publish('chat', 2);
      await waitFor(() => a.length === 2, 5000, 'first got 2');
      assert.deepEqual(a, [1, 2]);
      assert.deepEqual(b, [1]);
      // StrictMode's mount, unmount, mount: harmless.
      const again = client.subscribe('chat', (m) => b.push(m.data as number));
      again.unsubscribe();
      const third = client.subscribe('chat', (m) => b.push(m.data as number));
      await waitFor(() => third.state === 'subscribed', 5000, 'third subscribed');
      await server.hub.publish('chat', 3);
      await waitFor(() => a.length === 3 && b.length === 2, 5000, 'both got 3');
      assert.deepEqual(b, [1, 3]);
      // A handle that joins a subscribed channel says `subscribed` too, after its caller could listen.
      const late = client.subscribe('chat', () => {});
      let heard = false;
      late.on('subscribed', () => {
        heard = true;
      });
      await waitFor(() => heard, 5000, 'late subscribed');
      assert.deepEqual(late.position, first.position);
    });

    test('a late handler asking for a position or the snapshot gets its replay, the others nothing twice', async (t) => {
      const server = await startServer();
      t.after(() => server.close());
      const client = connect(server.origin, { ...platform, transports: [transport], backoff: () => 20 });
      t.after(() => client.close());
      await server.hub.setState('room', 'state');
      const early: Message[] = [];
      const lead = client.subscribe('room', (m) => early.push(m), { since: 'snapshot' });
      await waitFor(() => lead.state === 'subscribed', 5000, 'lead subscribed');
      for (let i = 1; i <= 5; i++) await server.hub.publish('room', i);
      await waitFor(() => early.length === 6, 5000, 'lead got 5');
      const fromSnapshot: Message[] = [];
      const fromTwo: Message[] = [];
      const late = client.subscribe('room', (m) => fromSnapshot.push(m), { since: 'snapshot' });
      const position = { epoch: early[1].epoch, offset: early[2].offset };
      const mid = client.subscribe('room', (m) => fromTwo.push(m), { since: position });
      // Publishing goes on while the replays are read.
      for (let i = 6; i <= 8; i++) await server.hub.publish('room', i);
      await waitFor(
        () => fromSnapshot.length === 9 && fromTwo.length === 6 && early.length === 9,
        5000,
        'replays done',
      );
      assert.deepEqual(
        fromSnapshot.map((m) => m.data),
        ['state', 1, 2, 3, 4, 5, 6, 7, 8],
      );
      assert.equal(fromSnapshot[0].snapshot, true);
      assert.deepEqual(
        fromTwo.map((m) => m.data),
        [3, 4, 5, 6, 7, 8],
      );
      assert.deepEqual(
        early.map((m) => m.data),
        ['state', 1, 2, 3, 4, 5, 6, 7, 8],
      );
      assert.equal(late.state, 'subscribed');
      assert.equal(mid.state, 'subscribed');
    });
  });
}
