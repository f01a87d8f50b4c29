// Changing the subscription set loses and doubles nothing, for channel and pattern subscriptions, on
// every transport: a message every ~2 ms while other channels are subscribed and unsubscribed, counted.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { connect, TransportName } from '@tidings/client';
import { isPattern } from '@tidings/protocol';
import { waitFor } from '@tidings/testing';
import WebSocket from 'ws';
import { NodeEventSource } from './support/event-source.js';
import { startServer } from './support/server.js';

const platform = { WebSocket, EventSource: NodeEventSource } as const;
const MESSAGES = 400;

for (const transport of Object.values(TransportName)) {
  // Long-poll and poll serve no patterns (docs/PROTOCOL.md): their channels are counted.
  const subscriptions = ['feed', ...(transport.endsWith('poll') ? [] : ['feed.*', 'feed.>'])];
  test(`${transport}: ${MESSAGES} messages while the subscription set changes: each once`, async (t) => {
    const server = await startServer();
    t.after(() => server.close());
    const client = connect(server.origin, { ...platform, transports: [transport], backoff: () => 20 });
    t.after(() => client.close());
    const received = new Map<string, number[]>(subscriptions.map((name) => [name, []]));
    const handles = subscriptions.map((name) =>
      client.subscribe(name, (message) => received.get(name)!.push(message.data as number)),
    );
    await waitFor(() => handles.every((handle) => handle.state === 'subscribed'), 10_000, 'subscribed');
    let publishing = true;
    let changes = 0;
    const churn = (async () => {
      const others: ReturnType<typeof client.subscribe>[] = [];
      while (publishing) {
        await sleep(25);
        if (others.length < 3 || changes % 2 === 0)
          others.push(client.subscribe(`other.${changes}`, () => {}));
        else others.shift()!.unsubscribe();
        changes++;
      }
    })();
    // Channels both matched by the patterns: feed.a and feed.b.x take turns.
    for (let i = 0; i < MESSAGES; i++) {
      await server.hub.publish('feed', i);
      await server.hub.publish(i % 2 ? 'feed.a' : 'feed.b.x', i);
      await sleep(2);
    }
    publishing = false;
    await churn;
    const expected = (name: string) =>
      name === 'feed' ? MESSAGES : name === 'feed.*' ? MESSAGES / 2 : MESSAGES;
    await waitFor(
      () => subscriptions.every((name) => received.get(name)!.length >= expected(name)),
      5_000,
      'all delivered',
    ).catch(() => {});
    await sleep(100);
    for (const name of subscriptions) {
      const got = received.get(name)!;
      const want = expected(name);
      const distinct = new Set(got).size;
      console.log(
        `${transport} ${name}: published ${want}, received ${got.length} (${distinct} distinct, ${got.length - distinct} doubled, ${want - distinct} lost) during ${changes} changes`,
      );
      assert.equal(distinct, want, `${name}: ${want - distinct} lost`);
      assert.equal(got.length, distinct, `${name}: ${got.length - distinct} doubled`);
      if (!isPattern(name))
        assert.deepEqual(
          got,
          [...got].sort((a, b) => a - b),
          `${name}: in order`,
        );
    }
  });
}
