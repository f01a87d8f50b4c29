// Back to WebSocket after a fallback: a server whose upgrades fail sends the client to SSE (or
// another HTTP transport); once upgrades work again the client's background probe moves it back,
// every subscription at its position, patterns included: counted, nothing lost or doubled.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { connect, type TransportName } from '@tidings/client';
import { waitFor } from '@tidings/testing';
import WebSocket from 'ws';
import { NodeEventSource } from './support/event-source.js';
import { startServer, type TestServerOptions } from './support/server.js';

for (const fallback of ['sse', 'stream', 'longpoll'] as TransportName[]) {
  test(`falls back to ${fallback} while upgrades fail, and moves back to the WebSocket without loss`, async (t) => {
    const options: TestServerOptions = { refuseWebSocket: true };
    const server = await startServer(options);
    t.after(() => server.close());
    const client = connect(server.origin, {
      WebSocket,
      EventSource: NodeEventSource,
      transports: ['websocket', fallback],
      backoff: () => 20,
    });
    t.after(() => client.close());
    const names = ['feed', ...(fallback === 'longpoll' ? [] : ['feed.*'])];
    const got = new Map<string, number[]>(names.map((name) => [name, []]));
    for (const name of names) client.subscribe(name, (m) => got.get(name)!.push(m.data as number));
    await waitFor(() => client.state === 'connected', 10_000, 'connected');
    assert.equal(client.transport, fallback);
    const count = 400;
    const transports = new Set<string>();
    for (let i = 0; i < count; i++) {
      if (i === 100) options.refuseWebSocket = false;
      await server.hub.publish('feed', i);
      await server.hub.publish('feed.a', i);
      transports.add(client.transport);
      await sleep(2);
    }
    await waitFor(() => names.every((name) => got.get(name)!.length >= count), 5000, 'delivered').catch(
      () => {},
    );
    await sleep(100);
    for (const name of names) {
      const list = got.get(name)!;
      console.log(
        `${fallback} → websocket ${name}: published ${count}, received ${list.length}, ${new Set(list).size} distinct`,
      );
      assert.deepEqual(
        list,
        Array.from({ length: count }, (_, i) => i),
        name,
      );
    }
    assert.equal(client.transport, 'websocket');
    assert.deepEqual([...transports], [fallback, 'websocket']);
  });
}
