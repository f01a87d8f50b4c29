// A token function renews the token before it expires without a reconnect: in band (`refresh`) on
// the WebSocket, by reopening the stream from its positions on SSE and stream, and on long-poll and
// poll by the next request (the answers' `Tidings-Limits` say when the token expires); nothing lost.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { type ClientState, connect, TransportName } from '@tidings/client';
import { waitFor } from '@tidings/testing';
import WebSocket from 'ws';
import { NodeEventSource } from './support/event-source.js';
import { startServer } from './support/server.js';

// Renewed a fifth of its life early: 600 ms, room enough on a loaded machine.
const LIFE_MS = 3_000;

for (const transport of [
  TransportName.websocket,
  TransportName.sse,
  TransportName.stream,
  TransportName.longpoll,
  TransportName.poll,
]) {
  test(`${transport}: tokens that live ${LIFE_MS} ms are renewed with no reconnect and no loss`, async (t) => {
    const server = await startServer({
      // The token is its expiry: `exp:<ms>`.
      authenticate: ({ token }) => ({ id: 'user', expiresAt: Number(token?.slice(4)) }),
    });
    t.after(() => server.close());
    let tokens = 0;
    const client = connect(server.origin, {
      WebSocket,
      EventSource: NodeEventSource,
      transports: [transport],
      token: () => {
        tokens++;
        return `exp:${Date.now() + LIFE_MS}`;
      },
    });
    t.after(() => client.close());
    const states: ClientState[] = [];
    client.on('state', ({ newState }) => states.push(newState));
    const got: number[] = [];
    const chat = client.subscribe('chat', (message) => got.push(message.data as number));
    await waitFor(() => chat.state === 'subscribed', 5000, 'subscribed');
    const count = 600;
    for (let i = 0; i < count; i++) {
      await server.hub.publish('chat', i);
      await sleep(10);
    }
    await waitFor(() => got.length >= count, 5000, 'all delivered').catch(() => {});
    console.log(
      `${transport}: ${tokens} tokens, states ${states.join(' ')}, ${got.length}/${count} messages`,
    );
    assert.ok(tokens >= 3, `${tokens} tokens`);
    assert.deepEqual(states, ['connected']);
    assert.deepEqual(
      got,
      Array.from({ length: count }, (_, i) => i),
    );
  });
}
